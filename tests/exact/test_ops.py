"""exact/ops.py: the exact rules of the non-quantizer ops on small Exact tensors, compared with
Fraction arithmetic done by hand."""
from fractions import Fraction

import numpy as np
import pytest
from onnx import helper

from qonnx_c4ml.exact.engine import ExactEngine
from qonnx_c4ml.exact.ops import OPS
from qonnx_c4ml.exact.quantizers import ExactUnsupported
from qonnx_c4ml.exact.tensor import Exact

F = Fraction
ENGINE = ExactEngine(None, {})  # the rules use its attribute and host helpers only


def apply(op_type, inputs, **attrs):
    node = helper.make_node(op_type, [f"i{k}" for k in range(len(inputs))], ["y"], name="n", **attrs)
    (out,) = OPS[op_type](node, inputs, ENGINE)
    return out


def data(ints, scale=F(1, 4), offset=None):
    return Exact(np.asarray(ints), scale, offset)


def test_matmul_with_a_float_weight_is_exact():
    x = data([[1, -2, 3]], F(1, 8))
    w = np.array([[0.5, 1.0], [0.25, -1.0], [1.5, 0.0]], dtype=np.float32)
    out = apply("MatMul", [x, w])
    expected = [[sum(F(v, 8) * F(float(w[k, m])) for k, v in enumerate([1, -2, 3])) for m in range(2)]]
    assert out.fractions().tolist() == expected


def test_relu_and_affine_constants_change_only_scale_and_offset():
    x = data([[-3, 0, 5]], F(1, 2), [F(1, 4), F(0), F(-1)])
    assert apply("Relu", [x]).fractions().tolist() == [[F(0), F(0), F(3, 2)]]
    shifted = apply("Add", [x, np.float32(0.5)])
    assert shifted.ints is x.ints and shifted.fractions().tolist() == [[F(-3, 4), F(1, 2), F(2)]]
    scaled = apply("Mul", [x, np.array([2.0, 1.0, 0.5], np.float32)])
    assert scaled.fractions().tolist() == [[F(-5, 2), F(0), F(3, 4)]]
    assert apply("Div", [x, np.float32(4.0)]).fractions().tolist() == [[F(-5, 16), F(0), F(3, 8)]]
    assert apply("Sub", [np.float32(1.0), x]).fractions().tolist() == [[F(9, 4), F(1), F(-1, 2)]]
    with pytest.raises(ExactUnsupported, match="divisor"):
        apply("Div", [np.float32(1.0), x])


def test_add_of_two_data_tensors_uses_a_common_unit():
    a, b = data([[1, 2]], F(1, 2)), data([[3, -1]], F(1, 3))
    assert apply("Add", [a, b]).fractions().tolist() == [[F(3, 2), F(2, 3)]]
    assert apply("Sub", [a, b]).fractions().tolist() == [[F(-1, 2), F(4, 3)]]
    with pytest.raises(ExactUnsupported, match="two data tensors"):
        apply("Mul", [a, b])


def test_layout_ops_move_values_and_refuse_the_batch_axis():
    x = data(np.arange(12).reshape(1, 2, 2, 3), F(1, 2))
    moved = apply("Transpose", [x], perm=[0, 2, 3, 1])
    assert np.array_equal(moved.ints, np.transpose(x.ints, (0, 2, 3, 1)))
    assert apply("Flatten", [x], axis=1).ints.shape == (1, 12)
    assert apply("Reshape", [x, np.array([0, 4, 3])]).ints.shape == (1, 4, 3)
    with pytest.raises(ExactUnsupported, match="batch axis"):
        apply("Transpose", [x], perm=[1, 0, 2, 3])


def test_pools_on_integers_over_a_positive_unit():
    x = data(np.array([[[[1, -4], [3, 2]]]]), F(1, 4))
    assert apply("MaxPool", [x], kernel_shape=[2, 2]).fractions().ravel().tolist() == [F(3, 4)]
    mean = apply("GlobalAveragePool", [x]).fractions().ravel().tolist()
    assert mean == [F(1 - 4 + 3 + 2, 16)]


def test_every_rule_refuses_a_constant_as_its_data():
    with pytest.raises(ExactUnsupported, match="data tensor"):
        apply("Relu", [Exact(np.array([1]), F(1), batched=False)])
