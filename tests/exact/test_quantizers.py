"""The exact reference's FloatQuant rule (qonnx's minifloat float_quant, `lbir.floatquant.Minifloat`).

- equal to qonnx's own float_quant where its float32 steps are exact (power-of-two scales,
  inputs with few significant bits): random E2M1/E3M2/E4M3/E5M2 formats, biases and max_val,
  every rounding mode, grid points and ties, subnormals and saturation;
- equal to a brute-force Fraction evaluation of qonnx's formula where float32 is not exact
  (float scales with exact minifloat ties, per-channel scales), where qonnx float32 is noisy
  and verify's LBIR is on the exact code;
- host side as the Quant input quantizer: the input FloatQuant's codes are qonnx's float32
  ones and its output is exact data, weight FloatQuants are constants with qonnx's codes;
- LBIR on the exact reference's code for float-scale minifloat MLPs, and the three Brevitas
  fixtures through verify with the exact reference (one through RTL).
"""
import math
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.general.floatquant import float_quant
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_builder import QONNX_DOMAIN, LayerSpec, MLPSpec, _Graph, build_mlp
from qonnx_c4ml.exact import exact_reference
from qonnx_c4ml.reference import execute_context
from qonnx_c4ml.verify import random_inputs, verify

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "zero_point_float"
MODES = ["ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN"]
FORMATS = {"E2M1": (2, 1), "E3M2": (3, 2), "E4M3": (4, 3), "E5M2": (5, 2)}
F32 = np.float32
Q_BITS = 24  # input Quant codes: integers below 2**23 are exact in float32


def brute_float_quant(u, e_bits, m_bits, bias, max_val, mode):
    """qonnx 1.0.0's float_quant of an exact Fraction u at scale 1, term by term in Fractions."""
    if u == 0:
        return Fraction(0)
    e = 0
    while Fraction(2) ** e > abs(u):
        e -= 1
    while Fraction(2) ** (e + 1) <= abs(u):
        e += 1
    step = Fraction(2) ** (max(e, 1 - bias) - m_bits)
    r = u / step
    sign = 1 if r >= 0 else -1
    rounded = {"ROUND": round(r), "HALF_EVEN": round(r), "CEIL": math.ceil(r), "FLOOR": math.floor(r),
               "UP": sign * math.ceil(abs(r)), "DOWN": sign * math.floor(abs(r)),
               "HALF_UP": sign * math.floor(abs(r) + Fraction(1, 2)),
               "HALF_DOWN": sign * math.ceil(abs(r) - Fraction(1, 2))}[mode]
    top = min((2 - Fraction(2) ** -m_bits) * Fraction(2) ** (2 ** e_bits - 1 - bias), Fraction(max_val))
    return min(max(step * rounded, -top), top)


def _model(g, x, n_in, n_out):
    graph = helper.make_graph(g.nodes, "fq", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, n_in])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, n_out])], initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX_DOMAIN, 1)])
    return ModelWrapper(model).transform(InferShapes())


def quant_then_floatquant(s_in, s_fq, fmt, mode, n=8):
    """inp -> Quant(s_in, 24 bit: exact data) -> FloatQuant(s_fq, fmt, mode)."""
    g = _Graph()
    x = g.quant("inp", F32(s_in), Q_BITS, "input_quant")
    return _model(g, g.floatquant(x, s_fq, fmt, "fq", rounding=mode), n, n)


def _exact(model, x):
    batch_model, context = execute_context(model, x)
    return exact_reference(batch_model, context), context[batch_model.graph.output[0].name]


def _random_format(rng, name):
    e_bits, m_bits = FORMATS[name]
    bias = 2 ** (e_bits - 1) - 1 + int(rng.integers(-1, 2))
    top = (2 - 2.0 ** -m_bits) * 2.0 ** (2 ** e_bits - 1 - bias)
    max_val = float(rng.choice([top, top * 2, float(F32(top * rng.uniform(0.3, 0.95)))]))  # on, above, off the grid
    return e_bits, m_bits, bias, max_val


def _dyadic_codes(rng, shape, m_bits, shift_range):
    """Integers m * 2**j with few significant bits (grid points, midpoints, ties), some with
    16 (never within a float32 ulp of a binade boundary, where qonnx's log2 rounds), zeros
    and large ones, all below 2**23 in magnitude."""
    j = rng.integers(0, shift_range, shape)
    q = rng.integers(-(2 ** (m_bits + 3)), 2 ** (m_bits + 3) + 1, shape) << j
    uniform = rng.random(shape) < 0.2
    q[uniform] = rng.integers(-(2 ** 15), 2 ** 15, int(uniform.sum())) << rng.integers(0, 8, int(uniform.sum()))
    q[rng.random(shape) < 0.05] = 0
    extreme = rng.random(shape) < 0.03
    q[extreme] = rng.choice([-3, -2, 2, 3], int(extreme.sum())) << 21
    return q


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_rule_equals_qonnx_where_float32_is_exact(name, mode):
    rng = np.random.default_rng(zlib.crc32(f"{name} {mode}".encode()))
    for _ in range(3):
        e_bits, m_bits, bias, max_val = fmt = _random_format(rng, name)
        top_binade = 2 ** e_bits - bias
        for u_step in (1 - bias - m_bits - 2, top_binade - m_bits - 4):  # subnormal ties; saturation
            s_fq = F32(2.0 ** int(rng.integers(-6, 3)))
            s_in = F32(s_fq * F32(2.0 ** u_step))  # u = q * 2**u_step exactly
            q = _dyadic_codes(rng, (300, 8), m_bits, 23 - (m_bits + 4))
            model = quant_then_floatquant(s_in, s_fq, fmt, mode)
            exact, reference = _exact(model, (q * np.float64(s_in)).astype(F32))
            got = exact.fractions()
            assert all(Fraction(float(r)) == v for r, v in zip(reference.ravel(), got.ravel())), (fmt, u_step)
            u = q.ravel()[:400]  # and the brute force agrees here too
            expected = [brute_float_quant(Fraction(int(k)) * Fraction(2) ** u_step, *fmt, mode) * Fraction(float(s_fq))
                        for k in u]
            assert list(got.ravel()[:400]) == expected


@pytest.mark.parametrize("mode", MODES)
def test_rule_equals_brute_force_fractions_where_float32_is_not_exact(mode):
    """Float scales: u = acc * s_in * s_w / s_fq[c] with exact minifloat ties (s_fq = 0.1 * 2**-k)
    on some channels and a non-dyadic ratio on others; FloatQuant weights of a float scale."""
    rng = np.random.default_rng(7)
    fmt = (4, 3, 7, 448.0)
    s_in, s_w = F32(0.1), F32(0.0625)
    s_fq = np.array([[F32(0.1) * F32(2.0 ** -k) for k in (4, 5, 6, 7)] + [F32(0.3), F32(0.07)]], F32)
    g = _Graph()
    x = g.quant("inp", s_in, 8, "input_quant")
    w_raw = rng.standard_normal((10, 6)).astype(F32) * F32(0.5)
    w = g.floatquant(g.const(w_raw), s_w, fmt, "w_quant")
    y = g.floatquant(g.node("MatMul", [x, w], "fc"), s_fq, fmt, "fq", rounding=mode)
    model = _model(g, y, 10, 6)
    xin = random_inputs(model, 300, seed=3)
    exact, reference = _exact(model, xin)
    codes = np.clip(np.round(xin / s_in), -128, 127).astype(np.int64)  # the host's float32 input codes
    # the weights' values are qonnx's float32 float_quant (the convention for constant quantizers)
    w_values = float_quant(w_raw / s_w, F32(1), F32(4), F32(3), F32(7), True, F32(448), rounding_mode="ROUND")
    w_exact = np.array([[Fraction(float(v)) * Fraction(float(s_w)) for v in row] for row in w_values], dtype=object)
    acc = (codes.astype(object) * Fraction(float(s_in))) @ w_exact
    expected = np.array([[brute_float_quant(a / Fraction(float(s)), *fmt, mode) * Fraction(float(s))
                          for a, s in zip(row, s_fq[0])] for row in acc], dtype=object)
    assert np.array_equal(exact.fractions(), expected)
    # where the ties are exact, qonnx's float32 lands on another value now and then: reference noise
    noisy = reference.astype(np.float64) != exact.approx()
    assert noisy[:, :4].mean() > 0.005
    # verify: LBIR on the exact code in every channel (each channel's own LSB: minifloat codes
    # reach 2**19, float32's code * scale is not within half of the smallest channel's LSB)
    report = verify(model, inputs=xin, rtl=False)
    lbir = next(c for c in report.comparisons if c.stage == "lbir")
    assert report.exact_skipped == "" and lbir.exact_same_code_fraction == 1.0 and report.passed


def test_input_floatquant_is_host_side_and_its_output_exact_data():
    """As the Quant input quantizer: codes from qonnx's float32 steps (x / scale, float_quant),
    value codes * unit * scale exactly, and the graph output depends on exact data."""
    g = _Graph()
    y = g.floatquant("inp", F32(0.1), (4, 3, 7, 448.0), "input_quant", rounding="HALF_UP")
    model = _model(g, y, 5, 5)
    xin = (np.random.default_rng(0).standard_normal((200, 5)) * 20).astype(F32)
    exact, _ = _exact(model, xin)
    assert exact.batched
    v = float_quant(xin / F32(0.1), F32(1), F32(4), F32(3), F32(7), True, F32(448), rounding_mode="HALF_UP")
    expected = np.array([Fraction(float(a)) * Fraction(float(F32(0.1))) for a in v.ravel()], dtype=object)
    assert np.array_equal(exact.fractions().ravel(), expected)


E4M3, E3M2, E2M1 = (4, 3, 7, 448.0), (3, 2, 3, 28.0), (2, 1, 1, 6.0)
FLOAT_SCALE_MLPS = [
    MLPSpec(16, [LayerSpec(24, quantizer="floatquant", float_format=E4M3, relu=False),
                 LayerSpec(6, quantizer="floatquant", float_format=E4M3, relu=False)], po2=False, seed=1),
    MLPSpec(8, [LayerSpec(10, quantizer="floatquant", float_format=E2M1, per_channel=True, float_weights=True),
                LayerSpec(4, quantizer="floatquant", float_format=E2M1, relu=False)], po2=False, seed=3,
            in_float=E2M1),
] + [MLPSpec(12, [LayerSpec(16, quantizer="floatquant", float_format=E3M2, float_weights=True, rounding=mode),
                  LayerSpec(4, quantizer="floatquant", float_format=E3M2, relu=False, rounding=mode)],
             po2=False, seed=2, in_float=E3M2, in_rounding=mode) for mode in ("ROUND", "FLOOR", "HALF_UP")]


@pytest.mark.parametrize("index", range(len(FLOAT_SCALE_MLPS)))
def test_float_scale_minifloat_mlps_lbir_on_exact_code(index):
    from qonnx_c4ml.transformations import InferLBIR
    from qonnx_c4ml.comparison import compare, compare_exact, output_lsb
    from qonnx_c4ml.reference import execute

    model = build_mlp(FLOAT_SCALE_MLPS[index])
    x = random_inputs(model, 300, seed=index)
    exact, reference = _exact(model, x)
    lbir_model = model.transform(InferLBIR())
    got = execute(lbir_model, x)
    check = compare_exact(compare("lbir", reference, got, output_lsb(lbir_model), 0), exact.approx(), got,
                          output_lsb(lbir_model))
    assert check.exact_same_code_fraction == 1.0


def _verify_fixture(name, rtl):
    report = verify(str(FIXTURES / name), samples=500, seed=0, rtl=rtl)
    assert report.exact_skipped == ""
    assert report.reference_noise is not None
    stages = ("lbir", "rtl") if rtl else ("lbir",)
    for stage in stages:
        c = next(c for c in report.comparisons if c.stage == stage)
        assert not c.skipped and c.exact_same_code_fraction == 1.0 and c.exact_max_diff_lsb < 0.5, stage
    assert report.passed
    return report


@pytest.mark.parametrize("name", ["shifted_uint8_mlp.onnx", "fp8_e4m3_mlp.onnx", "zero_point_fp8_cnn.onnx"])
def test_brevitas_fixtures_verify_against_the_exact_reference(name):
    _verify_fixture(name, rtl=False)


@pytest.mark.slow  # a cold Verilator build of the FP8 MLP takes ~2 min (cached: seconds)
def test_brevitas_fp8_mlp_rtl_on_the_exact_code():
    _verify_fixture("fp8_e4m3_mlp.onnx", rtl=True)
