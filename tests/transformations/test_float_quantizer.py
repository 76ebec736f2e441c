"""transformations/float_quantizer.py: FloatQuant nodes read and checked, minifloat weights
as integer codes equal to qonnx's float_quant, levels and column weights after a layer."""
from fractions import Fraction

import numpy as np
import pytest
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.general.floatquant import float_quant

from qonnx_builder import _Graph
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations.constants import ConstantEvaluator
from qonnx_c4ml.transformations.float_quantizer import (FLOAT_CODE_LIMIT, check_code_range, float_levels,
                                                        float_weight, minifloat_parameters)

E4M3 = (4, 3, 7, 448.0)


def float_weight_model(weight, scale, fmt=E4M3, **attrs):
    g = _Graph()
    w = g.floatquant(g.const(weight), scale, fmt, "w_fq")
    for name, value in attrs.items():
        for attribute in g.nodes[-1].attribute:
            if attribute.name == name:
                attribute.i = value
    y = g.node("MatMul", ["inp", w], "fc")
    graph = helper.make_graph(g.nodes, "fq", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, 2])], initializer=g.inits)
    model = ModelWrapper(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    return ConstantEvaluator(model), g.nodes[0]


def test_parameters_of_an_e4m3_quantizer():
    evaluator, node = float_weight_model(np.ones((3, 2), np.float32), np.float32(0.5))
    scale, fmt = minifloat_parameters(node, evaluator)
    assert scale.tolist() == 0.5
    unit, base, weights, levels = fmt.code_table()
    assert unit == Fraction(1, 2 ** 9)  # E4M3 bias 7: the subnormal step 2^-9
    assert base + sum(weights) == 448 * 2 ** 9 and len(levels) == len(weights)


def test_minifloat_weights_are_qonnx_values_as_integer_codes():
    weight = np.random.default_rng(6).standard_normal((3, 2)).astype(np.float32) * 4
    evaluator, node = float_weight_model(weight, np.float32(0.25))
    codes, scale = float_weight(node, evaluator)
    assert codes.dtype == np.int64 and codes.shape == (3, 2)
    expected = float_quant(weight, np.float32(0.25), np.float32(4), np.float32(3), np.float32(7), True,
                           np.float32(448.0), rounding_mode="ROUND")
    assert np.array_equal(codes * np.float32(scale), expected)
    assert any(c % 2 for c in codes.ravel())  # the common power of two is divided out


def test_non_saturating_floatquant_is_refused():
    evaluator, node = float_weight_model(np.ones((3, 2), np.float32), np.float32(0.5), saturation=0)
    with pytest.raises(UnsupportedModelError, match="saturation=0"):
        minifloat_parameters(node, evaluator)


def test_levels_after_a_layer_and_the_code_limit():
    evaluator, node = float_weight_model(np.ones((3, 2), np.float32), np.float32(0.5), fmt=(2, 1, 1, 6.0))
    levels, weights, base, unit = float_levels(node, evaluator, [Fraction(1, 2), Fraction(1, 4)])
    assert len(levels) == 2 and len(levels[0]) == len(weights)
    assert [l.value for l in levels[0]] == [2 * l.value for l in levels[1]]  # scale 1/2 vs 1/4
    assert all(w > 0 for w in weights) and unit == np.float32(0.5)
    check_code_range(node, -(FLOAT_CODE_LIMIT - 1), FLOAT_CODE_LIMIT - 1)
    with pytest.raises(UnsupportedModelError, match="2\\*\\*24"):
        check_code_range(node, 0, FLOAT_CODE_LIMIT)
