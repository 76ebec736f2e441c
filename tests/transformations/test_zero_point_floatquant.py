"""Asymmetric Quant (zero-points) and FloatQuant (minifloat) through InferLBIR, against qonnx.

Hand-built graphs with power-of-two scales, so qonnx's float32 execution is exact and the
LBIR graph must match it bit for bit.  Minifloat inputs are drawn from a limited dynamic
range (|x / scale| <= 16): beyond it the reference's float32 MatMul itself rounds (an E4M3
tensor spans 2**-9 .. 448), which is the float-scale class of the exactness rule.
"""
import numpy as np
import pytest
from qonnx_builder import LayerSpec, MLPSpec, build_mlp

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.lbir.requant import ROUNDING_MODES
from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.reference import execute

L = LayerSpec
E4M3 = (4, 3, 7, 448.0)
E3M2 = (3, 2, 3, 28.0)
E2M1 = (2, 1, 1, 6.0)
E4M3_SMALL = (4, 3, 7, 16.0)

ZERO_POINT = {
    "zp_unsigned_act": MLPSpec(16, [L(24, zero_point=5.0), L(6, quantizer="none", relu=False)]),
    "zp_unsigned_act_no_relu": MLPSpec(16, [L(24, relu=False, zero_point=9.0), L(6, relu=False, zero_point=2.0)]),
    "zp_signed_act": MLPSpec(16, [L(24, relu=False, signed=True, zero_point=-3.0), L(5, relu=False, signed=True)]),
    "zp_per_channel": MLPSpec(12, [L(8, relu=False, zero_point=[float(z) for z in range(8)]),
                                   L(4, relu=False, zero_point=[1.0, 7.0, 0.0, 3.0])]),
    "zp_input": MLPSpec(10, [L(16), L(4, relu=False, signed=True)], in_signed=False, in_bits=8,
                        in_zero_point=128.0),
    "zp_weights": MLPSpec(16, [L(24, w_zero_point=2.0), L(5, quantizer="none", relu=False, w_zero_point=-1.0)]),
    "zp_weights_per_channel": MLPSpec(16, [L(6, per_channel=True, w_zero_point=[[1.0, -2.0, 0.0, 3.0, 1.0, -1.0]]),
                                           L(3, quantizer="none", relu=False)]),
    "zp_8bit_everything": MLPSpec(16, [L(32, a_bits=8, w_bits=8, zero_point=100.0, w_zero_point=3.0),
                                       L(6, a_bits=8, relu=False, zero_point=128.0)],
                                  in_bits=8, in_signed=False, in_zero_point=77.0),
}
ZERO_POINT.update({
    f"zp_rounding_{mode}": MLPSpec(16, [L(20, rounding=mode, zero_point=4.0, relu=False),
                                        L(6, rounding=mode, signed=True, zero_point=-2.0, relu=False)],
                                   in_rounding=mode, in_signed=False, in_zero_point=6.0)
    for mode in ROUNDING_MODES
})
FLOAT = {
    "fq_act_e4m3_out": MLPSpec(16, [L(24), L(6, quantizer="floatquant", float_format=E4M3, relu=False)]),
    "fq_act_e4m3_hidden": MLPSpec(16, [L(24, quantizer="floatquant", float_format=E4M3_SMALL, relu=False),
                                       L(6, quantizer="none", relu=False)]),
    "fq_act_relu_e3m2": MLPSpec(16, [L(24, quantizer="floatquant", float_format=E3M2),
                                     L(8, quantizer="floatquant", float_format=E3M2, relu=False)]),
    "fq_input_e4m3": MLPSpec(12, [L(16), L(4, relu=False, signed=True)], in_float=E4M3),
    "fq_weights_e4m3": MLPSpec(16, [L(24, float_weights=True, float_format=E4M3),
                                    L(5, quantizer="none", relu=False, float_weights=True, float_format=E4M3)]),
    "fq_everything_e2m1": MLPSpec(8, [L(12, quantizer="floatquant", float_format=E2M1, float_weights=True),
                                      L(4, quantizer="floatquant", float_format=E2M1, float_weights=True,
                                        relu=False)], in_float=E2M1),
    "fq_per_channel_scale": MLPSpec(16, [L(10, quantizer="floatquant", float_format=E3M2, per_channel=True,
                                           float_weights=True), L(4, quantizer="none", relu=False)]),
}
FLOAT.update({
    f"fq_rounding_{mode}": MLPSpec(16, [L(10, quantizer="floatquant", float_format=E3M2, rounding=mode, relu=False),
                                        L(6, quantizer="floatquant", float_format=E3M2, rounding=mode, relu=False)],
                                   in_float=E3M2, in_rounding=mode)
    for mode in ROUNDING_MODES
})


def input_scale(model):
    quant = next(n for n in model.graph.node if n.name == "input_quant")
    return float(np.asarray(model.get_initializer(quant.input[1])).ravel()[0])


def inputs(model, spec, samples=600, seed=0):
    """Codes over the input quantizer's range, its clipping, and exact ties (halves, quarters)."""
    rng = np.random.default_rng(seed)
    n = spec.n_in
    if spec.in_float:
        u = rng.uniform(-16, 16, (samples, n))
        ties = rng.random((samples, n)) < 0.3
        u[ties] = np.round(u[ties] * 16) / 16  # grid points and midpoints of the minifloat
        u[rng.random((samples, n)) < 0.1] = 0.0
    else:
        top = 2 ** spec.in_bits
        u = rng.uniform(-top - 2, top + 2, (samples, n)) - spec.in_zero_point
        ties = rng.random((samples, n)) < 0.3
        u[ties] = np.floor(u[ties]) + 0.5
    return (u * input_scale(model)).astype(np.float32)


def check_exact(spec):
    model = build_mlp(spec)
    lowered = model.transform(InferLBIR())
    assert any(n.domain == DOMAIN for n in lowered.graph.node)
    x = inputs(model, spec)
    expected, got = execute(model, x), execute(lowered, x)
    np.testing.assert_array_equal(got, expected)
    return lowered


@pytest.mark.parametrize("name", sorted(ZERO_POINT))
def test_zero_point_models_are_bit_exact(name):
    check_exact(ZERO_POINT[name])


@pytest.mark.parametrize("name", sorted(FLOAT))
def test_floatquant_models_are_bit_exact(name):
    check_exact(FLOAT[name])


def test_floatquant_layer_carries_weighted_thresholds():
    lowered = check_exact(FLOAT["fq_act_e4m3_out"])
    layer = [n for n in lowered.graph.node if n.domain == DOMAIN][-1]
    weights = next(a for a in layer.attribute if a.name == "threshold_weights").ints
    assert len(weights) > 0 and all(w > 0 and w & (w - 1) == 0 for w in weights)  # gaps: powers of two


def test_per_channel_zero_points_share_one_base():
    lowered = check_exact(ZERO_POINT["zp_per_channel"])
    first = next(n for n in lowered.graph.node if n.domain == DOMAIN)
    out_base = next(a for a in first.attribute if a.name == "out_base").i
    assert out_base == -7  # unsigned 4 bit: codes q - z from 0 - 7 upward
