"""transformations/quantizer_levels.py: each kind of output quantizer as levels on y, checked
against qonnx's own quantizer evaluated at and just below every level."""
from fractions import Fraction

import numpy as np
import pytest
from lowering_graphs import Q, Graph

from qonnx.custom_op.general.quant import quant

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations.lowering.context import LoweringContext
from qonnx_c4ml.transformations.lowering.layer import Layer
from qonnx_c4ml.transformations.quantizer_levels import QuantizerLevels, quantizer_levels

N_OUT = 3


def after_dense(make_quantizer):
    """inp -> Q -> MatMul (3 outputs) -> quantizer; returns (context, layer, quantizer node)."""
    g = Graph()
    y = g.node("MatMul", [g.quant("inp", 0.5, 4), g.weights(g.random_codes((4, N_OUT)))])
    out = make_quantizer(g, y)
    model = g.model([4], out)
    node = next(n for n in model.graph.node if n.output[0] == out)
    layer = Layer("l", None, None, np.zeros((N_OUT, 4), np.int64), [Fraction(1)] * N_OUT, [Fraction(0)] * N_OUT,
                  [], [], out_shape=(N_OUT,))
    return LoweringContext(model), layer, node


def code_at(levels, lo, y):
    return lo + sum(y > level.value if level.strict else y >= level.value for level in levels)


@pytest.mark.parametrize("mode", ["ROUND", "FLOOR", "CEIL", "HALF_UP"])
@pytest.mark.parametrize("zero_point", [0.0, 2.0])
def test_quant_levels_step_where_qonnx_steps(mode, zero_point):
    def make(g, y):
        return g.node("Quant", [y, g.const(0.25), g.const(zero_point), g.const(3.0)], Q, signed=1, narrow=0,
                      rounding_mode=mode)
    ctx, layer, node = after_dense(make)
    result = quantizer_levels(ctx, layer, node)
    assert isinstance(result, QuantizerLevels) and len(result.levels) == N_OUT and result.lo == -4
    assert result.zeros.tolist() == [int(zero_point)] * N_OUT and result.column_weights is None
    assert result.value_scale.tolist() == [0.25] * N_OUT and result.value_offset.tolist() == [0.0] * N_OUT
    # code c (= q - z) is worth c * scale: qonnx's value (q - z) * s
    for y in np.arange(-2.0, 2.0, 1 / 64):
        expected = quant(np.float32(y), np.float32(0.25), np.float32(zero_point), np.float32(3), 1, 0, mode)
        code = code_at(result.levels[0], result.lo - int(zero_point), Fraction(float(y)))
        assert code * 0.25 == expected, (y, mode)


def test_bipolar_and_one_bit_signed_quant_have_one_level_at_zero():
    ctx, layer, node = after_dense(lambda g, y: g.node("BipolarQuant", [y, g.const(0.5)], Q))
    result = quantizer_levels(ctx, layer, node)
    assert [len(levels) for levels in result.levels] == [1] * N_OUT and result.levels[0][0].value == 0
    assert result.value_scale.tolist() == [1.0] * N_OUT and result.value_offset.tolist() == [-0.5] * N_OUT
    ctx, layer, node = after_dense(lambda g, y: g.quant(y, 0.5, 1, signed=True))
    assert quantizer_levels(ctx, layer, node).value_offset.tolist() == [-0.5] * N_OUT


def test_multithreshold_levels_are_its_sorted_thresholds():
    thresholds = np.array([[0.5, -1.0, 2.0]] * N_OUT, np.float32)
    ctx, layer, node = after_dense(lambda g, y: g.node("MultiThreshold", [y, g.const(thresholds)], Q,
                                                       out_scale=2.0, out_bias=-1.0))
    result = quantizer_levels(ctx, layer, node)
    assert [level.value for level in result.levels[1]] == [Fraction(-1), Fraction(1, 2), Fraction(2)]
    assert result.lo == 0 and result.value_scale.tolist() == [2.0] * N_OUT
    assert result.value_offset.tolist() == [-1.0] * N_OUT


def test_old_trunc_is_refused():
    ctx, layer, node = after_dense(lambda g, y: g.node("Trunc", [y, g.const(0.25), g.const(0.0), g.const(4.0)],
                                                       Q, rounding_mode="FLOOR"))
    with pytest.raises(UnsupportedModelError, match="Trunc v2"):
        quantizer_levels(ctx, layer, node)
