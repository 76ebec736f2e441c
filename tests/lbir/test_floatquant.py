"""Property tests: the minifloat staircase and zero-point thresholds against qonnx's own ops.

qonnx computes FloatQuant in float32 (`floor(log2 |x|)`, `|x| + 0.5`), which departs from
exact arithmetic within one float32 ulp below a binade boundary (directed modes) or below
half the subnormal step (HALF_UP).  Accumulator-derived inputs carry far fewer significant
bits, so the comparisons draw inputs with at most 16 significant bits -- grid points,
midpoints (the ties) and their neighbours included; the round-to-nearest-even mode is
also checked on arbitrary float32 inputs.
"""
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qonnx.custom_op.general.floatquant import float_quant
from qonnx.custom_op.general.intquant import int_quant

from qonnx_c4ml.lbir.dense import requantize_codes
from qonnx_c4ml.lbir.floatquant import Minifloat
from qonnx_c4ml.lbir.requant import ROUNDING_MODES, integer_thresholds, relu_levels, rounding_levels, scale_levels
from qonnx_c4ml.lbir.staircase import threshold_columns
from qonnx_c4ml.transformations.zero_point import align_rows, shifted_levels

MODES = [m for m in ROUNDING_MODES if m != "HALF_EVEN"]


@st.composite
def formats(draw):
    e, m = draw(st.integers(1, 5)), draw(st.integers(0, 4))
    bias = draw(st.integers(-2, 2 ** (e - 1) + 2))
    top = float(Minifloat.from_parameters(e, m, bias, None).max_value)
    max_val = draw(st.one_of(st.none(), st.floats(top / 8, top * 2, width=32)))
    return e, m, bias, max_val


def reached(levels, u):
    return [(u > level.value) if level.strict else (u >= level.value) for level in levels]


def code_of(fmt, u):
    """base + the weights of the levels u reaches (a prefix of the sorted levels: bisection)."""
    unit, base, weights, levels = fmt.code_table()
    u, lo, hi = Fraction(float(u)), 0, len(levels)
    while lo < hi:
        mid = (lo + hi) // 2
        level = levels[mid]
        if (u > level.value) if level.strict else (u >= level.value):
            lo = mid + 1
        else:
            hi = mid
    return base + sum(weights[:lo]), unit


def reference(e, m, bias, max_val, mode, u):
    return float_quant(np.asarray(u, np.float32), np.float32(1.0), np.float32(e), np.float32(m),
                       np.float32(bias), True, None if max_val is None else np.float32(max_val),
                       rounding_mode=mode)


def probe_points(fmt, rng, n=300):
    """Grid points, midpoints and neighbours at 16 significant bits, plus random values."""
    grid = fmt.grid()
    special = [float(g) for g in grid] + [float((a + b) / 2) for a, b in zip(grid, grid[1:])]
    special = np.array(special)
    nudged = special * (1 + rng.choice([-1, 1], special.size) * 2.0 ** -15)
    spread = float(fmt.max_value) * 1.5
    return np.concatenate([special, nudged, rng.uniform(-spread, spread, n), rng.normal(0, 2.0 ** (1 - fmt.bias), n)])


def sixteen_bits(x):
    mantissa, exponent = np.frexp(x)
    return np.ldexp(np.round(mantissa * 2 ** 16) / 2 ** 16, exponent).astype(np.float32)


@settings(max_examples=60, deadline=None)
@given(formats(), st.sampled_from(MODES), st.integers(0, 2 ** 31))
def test_staircase_equals_qonnx_floatquant(fmt_parameters, mode, seed):
    e, m, bias, max_val = fmt_parameters
    fmt = Minifloat.from_parameters(e, m, bias, None if max_val is None else Fraction(max_val), mode)
    u = sixteen_bits(probe_points(fmt, np.random.default_rng(seed)))
    expected = reference(e, m, bias, max_val, mode, u)
    for x, want in zip(u, expected):
        code, unit = code_of(fmt, x)
        assert code * unit == Fraction(float(want)), (x, want, code * unit)


@settings(max_examples=20, deadline=None)
@given(formats(), st.integers(0, 2 ** 31))
def test_round_half_even_on_any_float32(fmt_parameters, seed):
    e, m, bias, max_val = fmt_parameters
    fmt = Minifloat.from_parameters(e, m, bias, None if max_val is None else Fraction(max_val), "ROUND")
    u = probe_points(fmt, np.random.default_rng(seed)).astype(np.float32)
    u = np.concatenate([u, np.nextafter(u, np.float32(np.inf)), np.nextafter(u, np.float32(-np.inf))])
    for x, want in zip(u, reference(e, m, bias, max_val, "ROUND", u)):
        code, unit = code_of(fmt, x)
        assert code * unit == Fraction(float(want)), (x, want)


@settings(max_examples=40, deadline=None)
@given(formats(), st.sampled_from(MODES), st.integers(-6, 0), st.integers(-40, 40), st.booleans(),
       st.integers(0, 2 ** 31))
def test_minifloat_thresholds_over_an_accumulator(fmt_parameters, mode, alpha_exp, beta_num, relu, seed):
    """Weighted integer thresholds of y = alpha*acc + beta (+relu) -> FloatQuant, as in a layer."""
    e, m, bias, max_val = fmt_parameters
    fmt = Minifloat.from_parameters(e, m, bias, None if max_val is None else Fraction(max_val), mode)
    unit, base, weights, levels = fmt.code_table()
    scale, alpha, beta = Fraction(1, 4), Fraction(2) ** alpha_exp, Fraction(beta_num, 16)
    acc_min, acc_max = -600, 600
    levels = scale_levels(levels, scale)
    levels = relu_levels(levels) if relu else levels
    rows = [integer_thresholds(levels, alpha, beta, acc_min, acc_max)]
    lo_hi = np.array([acc_min]), np.array([acc_max])
    thresholds, out_base, w, code_min, code_max = threshold_columns(rows, *lo_hi, base, weights)
    acc = np.arange(acc_min, acc_max + 1).reshape(-1, 1)
    codes = requantize_codes(acc, "thresholds", thresholds, [0], out_base, w)[:, 0]
    y = (acc[:, 0] * float(alpha) + float(beta)).astype(np.float32)  # exact: dyadic, few bits
    y = np.maximum(y, 0) if relu else y
    expected = reference(e, m, bias, max_val, mode, y / np.float32(scale))
    np.testing.assert_array_equal(codes * float(unit), expected)
    assert codes.min() >= code_min and codes.max() <= code_max


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(MODES), st.integers(1, 8), st.booleans(), st.booleans(), st.integers(-20, 300),
       st.integers(-5, 0))
def test_zero_point_levels_equal_qonnx_quant(mode, bits, signed, narrow, zero, scale_exp):
    """code = q - z from shifted levels == qonnx's (q - z) for every quarter-step input, ties included."""
    if bits == 1 and signed:
        return  # bipolar: zero-points refused
    lo, hi = (-(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1 - int(narrow))
    scale = Fraction(2) ** scale_exp
    levels = shifted_levels(rounding_levels(mode, lo, hi), zero, scale)
    u = np.arange(4 * (lo - zero - 3), 4 * (hi - zero + 3) + 1) / 4.0
    y = (u * float(scale)).astype(np.float32)
    expected = int_quant(y, np.float32(scale), np.float32(zero), np.float32(bits), signed, narrow, mode)
    for value, want in zip(y, expected):
        code = lo - zero + sum(reached(levels, Fraction(float(value))))
        assert code * scale == Fraction(float(want)), (value, want)


@pytest.mark.parametrize("zeros", [[0, 3, 1], [5, 5, 2], [0, 0, 0]])
def test_aligned_rows_give_each_channel_its_base(zeros):
    lo, hi, acc_min, acc_max = 0, 7, np.full(3, -50), np.full(3, 50)
    rows = [integer_thresholds(shifted_levels(rounding_levels("ROUND", lo, hi), z, Fraction(1)), Fraction(1, 2),
                               Fraction(0), -50, 50) for z in zeros]
    aligned, base = align_rows(rows, lo, zeros, acc_min, acc_max)
    thresholds, base, _, _, _ = threshold_columns(aligned, acc_min, acc_max, base)
    acc = np.arange(-50, 51).reshape(-1, 1).repeat(3, axis=1)
    got = requantize_codes(acc, "thresholds", thresholds, [0, 1, 2], base)
    for c, z in enumerate(zeros):
        want = np.clip(np.round(acc[:, c] / 2 + z), lo, hi) - z
        np.testing.assert_array_equal(got[:, c], want)


@pytest.mark.parametrize("e,m,bias,max_val,bits", [(4, 3, 7, 448, 19), (4, 3, 7, None, 19), (5, 2, 15, 57344, 33),
                                                    (3, 2, 3, None, 10), (2, 1, 1, None, 5)])
def test_code_widths(e, m, bias, max_val, bits):
    """The widths the module docstring states (E4M3: 19 bits, E5M2: 33 bits)."""
    assert Minifloat.from_parameters(e, m, bias, max_val).code_bits() == bits
