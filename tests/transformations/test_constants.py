"""transformations/constants.py: constant folding of weight tensors into integer codes and
scales (qonnx's own float32 steps), quantizer parameter checks, code ranges."""
import numpy as np
import pytest

from qonnx.custom_op.general.quant import quant

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations.constants import (HOST_PREFIX_OPS, QUANTIZER_OPS, ConstantEvaluator,
                                                  QuantizedConstant, quant_code_range, quant_parameters)

from .quant_graphs import weight_model

RNG = np.random.default_rng(4)


def test_values_of_constants_and_not_of_data():
    weight = RNG.standard_normal((3, 2)).astype(np.float32)
    model, w, quant_node = weight_model(weight, np.float32(0.25))
    evaluator = ConstantEvaluator(model)
    assert np.array_equal(evaluator.value(quant_node.input[0]), weight)
    folded = evaluator.value(w)  # the Quant of a constant is a constant, run by qonnx
    assert np.array_equal(folded, quant(weight, np.float32(0.25), np.float32(0), np.float32(4), 1, 0, "ROUND"))
    assert evaluator.value("inp") is None and evaluator.value(model.graph.output[0].name) is None
    assert evaluator.producer(w).name == "w_quant" and evaluator.producer("inp") is None


@pytest.mark.parametrize("zero_point", [0.0, 2.0])
def test_quantized_weight_codes_are_qonnx_codes_minus_the_zero_point(zero_point):
    weight = RNG.standard_normal((4, 3)).astype(np.float32)
    model, w, _ = weight_model(weight, np.float32(0.125), bits=3, zero_point=zero_point, signed=True)
    const = ConstantEvaluator(model).quantized(w)
    assert isinstance(const, QuantizedConstant)
    expected = quant(weight, np.float32(0.125), np.float32(zero_point), np.float32(3), 1, 0, "ROUND")
    assert np.array_equal(const.codes * const.scale + const.offset, expected)
    assert const.codes.min() >= -4 - zero_point and const.codes.max() <= 3 - zero_point


def test_layout_ops_move_codes_and_scales_together():
    weight = RNG.standard_normal((3, 5)).astype(np.float32)
    model, w, _ = weight_model(weight, np.float32(0.5), transpose=True)
    const = ConstantEvaluator(model).quantized(w)
    assert const.codes.shape == (5, 3)
    expected = quant(weight, np.float32(0.5), np.float32(0), np.float32(4), 1, 0, "ROUND").T
    assert np.array_equal(const.codes * const.scale, expected)


def test_quant_parameters_and_refusals():
    model, _, node = weight_model(np.ones((2, 2), np.float32), np.float32(0.5), bits=5, signed=False, narrow=True,
                                  rounding="floor")
    scale, bits, signed, narrow, mode = quant_parameters(node, ConstantEvaluator(model))
    assert (float(scale), bits, signed, narrow, mode) == (0.5, 5, False, True, "FLOOR")
    model, _, node = weight_model(np.ones((2, 2), np.float32), np.float32(-0.5))
    with pytest.raises(UnsupportedModelError, match="scale must be finite and > 0"):
        quant_parameters(node, ConstantEvaluator(model))
    model, _, node = weight_model(np.ones((2, 2), np.float32), np.float32(0.5), bits=17)
    with pytest.raises(UnsupportedModelError, match="1..16"):
        quant_parameters(node, ConstantEvaluator(model))


def test_code_ranges_and_op_lists():
    assert quant_code_range(1, True, False) == (-1, 1)  # qonnx: 1-bit signed is bipolar
    assert quant_code_range(4, True, False) == (-8, 7) and quant_code_range(4, True, True) == (-7, 7)
    assert quant_code_range(3, False, False) == (0, 7)
    assert "Quant" in QUANTIZER_OPS and "FloatQuant" in QUANTIZER_OPS
    assert {"Mul", "Reshape", "BatchNormalization"} <= set(HOST_PREFIX_OPS)
