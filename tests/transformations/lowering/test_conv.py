"""lowering/conv.py: Conv (and a zero Pad before it) -> QConv2D, exact against qonnx."""
import numpy as np
import pytest
from lowering_graphs import Graph, assert_exact, attr, lbir_nodes, lower

from qonnx_c4ml.errors import UnsupportedModelError


def conv_net(group=1, pad_node=False, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), bias=True,
             final_quant=True, seed=0):
    g = Graph(seed)
    x = g.quant("inp", 0.5, 4)
    if pad_node:
        x = g.node("Pad", [x, g.const([0, 0, 1, 0, 0, 0, 0, 1], np.int64)], mode="constant")
    codes = g.random_codes((4, 4 // group, 3, 3))
    inputs = [x, g.weights(codes, 0.125)] + ([g.const(np.arange(4) * 0.5)] if bias else [])
    y = g.node("Conv", inputs, kernel_shape=[3, 3], strides=list(strides), pads=list(pads),
               dilations=list(dilations), group=group)
    out = g.node("Relu", [y])
    if final_quant:
        out = g.quant(out, 0.25, 4, signed=False)
    return g.model([4, 6, 6], out), codes


@pytest.mark.parametrize("group", [1, 2, 4])
def test_conv_becomes_qconv2d_with_its_geometry(group):
    model, codes = conv_net(group=group, strides=(2, 1), pads=(1, 0, 0, 1))
    lbir, _ = lower(model)
    (conv,) = lbir_nodes(lbir)
    assert conv.op_type == "QConv2D"
    np.testing.assert_array_equal(attr(conv, "weights"), codes)
    assert attr(conv, "in_shape") == [4, 6, 6] and attr(conv, "strides") == [2, 1]
    assert attr(conv, "pads") == [1, 0, 0, 1] and attr(conv, "group") == group
    assert attr(conv, "requant") == "thresholds" and attr(conv, "out_dtype") == "UINT4"
    assert_exact(model, lbir)


def test_zero_pad_folds_into_the_convolution_pads():
    model, _ = conv_net(pad_node=True, pads=(1, 1, 1, 1))
    lbir, acts = lower(model)
    (conv,) = lbir_nodes(lbir)
    assert attr(conv, "pads") == [2, 1, 1, 2]  # (top, left, bottom, right): Conv's + Pad's
    assert not any(n.op_type == "Pad" for n in lbir.graph.node)
    pad_out = next(t for t in acts if t.startswith("Pad_"))
    assert acts[pad_out].pads == (1, 0, 0, 1)
    assert_exact(model, lbir)


def test_dilation_is_refused():
    model, _ = conv_net(dilations=(2, 2))
    with pytest.raises(UnsupportedModelError, match=r"\(Conv\): dilations \[2, 2\] are not supported"):
        lower(model)


def test_a_pad_before_anything_but_a_conv_is_refused():
    g = Graph()
    x = g.node("Pad", [g.quant("inp", 0.5, 4), g.const([0, 0, 1, 1, 0, 0, 1, 1], np.int64)], mode="constant")
    out = g.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    with pytest.raises(UnsupportedModelError, match="only a Conv may follow a Pad node"):
        lower(g.model([2, 4, 4], out))


def test_a_convolution_without_quantizer_is_refused():
    model, _ = conv_net(final_quant=False)
    with pytest.raises(UnsupportedModelError, match="reaches no quantizer"):
        lower(model)
