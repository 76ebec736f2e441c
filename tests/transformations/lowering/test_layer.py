"""lowering/layer.py: the LBIR node a Layer becomes, and its accumulator bounds."""
from fractions import Fraction

import numpy as np
from onnx import helper

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.transformations.lowering.activation import make_activation
from qonnx_c4ml.transformations.lowering.layer import Layer, layer_node


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def dense_layer():
    act = make_activation("x_codes", (3,), 0.5, 0.0, -4, 3)
    weights = np.array([[1, -2, 0], [3, 0, 1]], np.int64)
    return Layer("fc", None, act, weights, [Fraction(1, 2)] * 2, [Fraction(0)] * 2, [], [],
                 out_shape=(2,), out_index=np.arange(2))


def test_dense_layer_node_with_thresholds():
    layer = dense_layer()
    thresholds = np.array([[-1, 2], [0, 3]], np.int64)
    node = layer_node(layer, layer.weights, "y_codes", "UINT2", "thresholds", thresholds, 0)
    a = attrs(node)
    assert (node.op_type, node.domain, node.name) == ("QDense", DOMAIN, "fc")
    assert list(node.input) == ["x_codes"] and list(node.output) == ["y_codes"]
    assert a["in_dtype"] == b"INT3" and a["out_dtype"] == b"UINT2" and a["requant"] == b"thresholds"
    assert list(a["weights"].int64_data) == [1, -2, 0, 3, 0, 1] and list(a["thresholds"].dims) == [2, 2]
    assert a["in_shape"] == [3] and "threshold_weights" not in a


def test_accumulator_node_and_bounds():
    layer = dense_layer()
    node = layer_node(layer, layer.weights, "acc", "INT5", "none", None, 0, threshold_weights=[1, 2])
    assert "thresholds" not in attrs(node) and attrs(node)["threshold_weights"] == [1, 2]
    lo, hi = layer.accumulator_bounds(layer.weights)  # codes in [-4, 3]
    np.testing.assert_array_equal(lo, [-4 - 6, -12 - 4])
    np.testing.assert_array_equal(hi, [3 + 8, 9 + 3])


def test_conv_and_add_layers_become_qconv2d_and_qadd():
    act = make_activation("img", (1, 3, 3), 0.5, 0.0, 0, 15)
    conv = Layer("c", None, act, np.ones((1, 1, 2, 2), np.int64), [Fraction(1)], [Fraction(0)], [], [], kind="conv",
                 attrs={"in_shape": [1, 3, 3], "strides": [1, 1], "pads": [0, 0, 0, 0], "group": 1})
    node = layer_node(conv, conv.weights, "o", "UINT6", "none", None, 0)
    assert node.op_type == "QConv2D" and attrs(node)["in_shape"] == [1, 3, 3]
    b = make_activation("b", (2,), 0.5, 0.0, -2, 1)
    a = make_activation("a", (2,), 0.5, 0.0, 0, 3)
    add = Layer("s", None, a, np.array([[1, 1], [1, 1]]), [Fraction(1, 2)] * 2, [Fraction(0)] * 2, [], [],
                kind="add", act_b=b)
    node = layer_node(add, add.weights, "o", "INT4", "none", None, 0)
    assert node.op_type == "QAdd" and list(node.input) == ["a", "b"] and attrs(node)["in_dtype_b"] == b"INT2"
    lo, hi = add.accumulator_bounds(add.weights)
    np.testing.assert_array_equal(lo, [-2, -2])
    np.testing.assert_array_equal(hi, [4, 4])
