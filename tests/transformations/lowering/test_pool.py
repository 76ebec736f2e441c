"""lowering/pool.py: MaxPool -> QMaxPool2D; AveragePool/GlobalAveragePool -> depthwise QConv2D."""
import numpy as np
import pytest
from lowering_graphs import Graph, assert_exact, attr, lbir_nodes, lower

from qonnx_c4ml.errors import UnsupportedModelError


def pooled(op, **attrs):
    g = Graph()
    x = g.quant("inp", 0.25, 4)
    y = g.node(op, [x], **attrs)
    if op != "MaxPool":
        y = g.quant(y, 0.125, 6)
    w = g.weights(g.random_codes((3, 2, 1, 1)), 0.5)
    y = g.quant(g.node("Conv", [y, w], kernel_shape=[1, 1]), 0.5, 6)
    return g.model([2, 4, 4], y)


def test_max_pool_becomes_qmaxpool2d_on_the_codes():
    model = pooled("MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    lbir, _ = lower(model)
    pool, conv = lbir_nodes(lbir)
    assert pool.op_type == "QMaxPool2D" and conv.op_type == "QConv2D"
    assert attr(pool, "kernel") == [2, 2] and attr(pool, "strides") == [2, 2] and attr(pool, "in_shape") == [2, 4, 4]
    assert attr(pool, "in_dtype") == attr(pool, "out_dtype") == "INT4"
    assert conv.input[0] == pool.output[0]
    assert_exact(model, lbir)


def test_global_average_pool_is_a_depthwise_convolution_of_ones():
    model = pooled("GlobalAveragePool")
    lbir, _ = lower(model)
    pool = lbir_nodes(lbir)[0]
    assert pool.op_type == "QConv2D" and attr(pool, "group") == 2
    np.testing.assert_array_equal(attr(pool, "weights"), np.ones((2, 1, 4, 4), np.int64))
    assert_exact(model, lbir)


def test_average_pool_with_stride():
    model = pooled("AveragePool", kernel_shape=[2, 2], strides=[2, 2])
    lbir, _ = lower(model)
    pool = lbir_nodes(lbir)[0]
    assert attr(pool, "strides") == [2, 2] and attr(pool, "weights").shape == (2, 1, 2, 2)
    assert_exact(model, lbir)


def test_average_pool_ceil_mode_is_refused():
    with pytest.raises(UnsupportedModelError, match="ceil_mode=1 is not supported"):
        lower(pooled("AveragePool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1))
