"""lowering/host.py: host nodes giving the input codes, and recomputing the output floats."""
import numpy as np
import pytest
from lowering_graphs import Q, Graph, assert_exact, attr, lbir_nodes, lower

from qonnx_c4ml.errors import UnsupportedModelError


def net(input_quantizer):
    g = Graph()
    x = g.node("Mul", ["inp", g.const(2.0)])  # host preprocessing before the input quantizer
    if input_quantizer == "quant":
        x = g.quant(x, 0.25, 5)
    elif input_quantizer == "bipolar":
        x = g.node("BipolarQuant", [x, g.const(0.5)], Q)
    elif input_quantizer == "multithreshold":
        x = g.node("MultiThreshold", [x, g.const(np.tile([-1.0, 0.0, 1.5], (4, 1)))], Q,
                   out_scale=0.5, out_bias=-0.5, out_dtype="UINT2")
    out = g.quant(g.node("MatMul", [x, g.weights(g.random_codes((4, 3)))]), 0.5, 6)
    return g.model([4], out)


def test_quant_input_becomes_div_and_unit_scale_quant_on_the_host():
    model = net("quant")
    lbir, acts = lower(model)
    dense = lbir_nodes(lbir)[0]
    producer = next(n for n in lbir.graph.node if dense.input[0] in n.output)
    assert producer.op_type == "Quant" and producer.name.endswith("_codes_quant")
    div = next(n for n in lbir.graph.node if n.name.endswith("_codes_div"))
    assert div.op_type == "Div" and div.input[0].startswith("Mul_")  # the preprocessing stays on the host
    first = acts[next(t for t in acts if t.startswith("Quant_"))]
    assert (first.lo, first.hi) == (-16, 15) and first.codes == dense.input[0]
    assert attr(dense, "in_dtype") == "INT5"
    assert_exact(model, lbir)


@pytest.mark.parametrize("kind, dtype", [("bipolar", "BINARY"), ("multithreshold", "UINT2")])
def test_bipolar_and_multithreshold_inputs(kind, dtype):
    model = net(kind)
    lbir, _ = lower(model)
    assert attr(lbir_nodes(lbir)[0], "in_dtype") == dtype
    assert_exact(model, lbir)


def test_output_is_rescaled_by_a_host_mul():
    lbir, _ = lower(net("quant"))
    mul = next(n for n in lbir.graph.node if n.name.endswith("_dequant_mul"))
    assert mul.input[0] == lbir_nodes(lbir)[-1].output[0] and mul.output[0] == lbir.graph.output[0].name


def test_no_input_quantizer_is_refused_with_the_option_hint():
    g = Graph()
    x = g.quant(g.node("Tanh", ["inp"]), 0.25, 5)
    out = g.quant(g.node("MatMul", [x, g.weights(g.random_codes((4, 3)))]), 0.5, 6)
    with pytest.raises(UnsupportedModelError, match=r"'Tanh_1' \(Tanh\): reached before any input quantizer") as error:
        lower(g.model([4], out))
    assert error.value.hint.startswith("quantize the model input before any layer, or pass the input type")


def test_per_channel_input_scale_is_refused():
    g = Graph()
    x = g.quant("inp", [0.25, 0.5, 0.5, 0.5], 5)
    out = g.quant(g.node("MatMul", [x, g.weights(g.random_codes((4, 3)))]), 0.5, 6)
    with pytest.raises(UnsupportedModelError, match="per-channel input quantizer scales are not supported"):
        lower(g.model([4], out))
