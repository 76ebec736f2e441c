"""Quantizers on exact tensors, with qonnx's semantics and exact rounding decisions.

- Quant(x, s, zp, b): q = clip(mode(x/s + zp)), value (q - zp)*s; 1-bit signed is bipolar
  (x/s + zp >= 0 -> +1, else -1), exactly as qonnx's int_quant.
- BipolarQuant(x, s): (x >= 0 ? 1 : -1) * s.
- MultiThreshold(x, T): #{k : x >= T[c, k]} * out_scale + out_bias (channel axis as qonnx).
- Trunc v2: r = round(x/s + zp) (half even), c = clip(mode(r / 2**t)), value
  (c - zp/2**t) * out_scale, t = round(log2(out_scale/s)) computed in float32 as qonnx does.
- FloatQuant(x, s, E, M, bias, max_val): qonnx's minifloat float_quant of u = x/s, restated
  exactly by `lbir.floatquant.Minifloat` (binade, subnormals, rounding, max_val clipping);
  the codes v / unit are counted off its staircase, value code * unit * s.

Each rounding is of a rational u = num/den with integers num, den > 0 (`rational_round`):
floor division and its remainder decide every mode, ties included, without any float.

When the quantizer's input is not an exact tensor but float32 (a constant weight, or the
graph input on the host side), the codes are computed with qonnx's own float32 steps: those
codes are definitions the circuit receives (weights) or the host computes the same way
(the input quantizer), not results of the network's arithmetic. A new quantizer is one
function here taking (node, inputs, engine) and one `QUANTIZERS` entry.
"""
from fractions import Fraction
from math import lcm

import numpy as np

from qonnx.custom_op.general.intquant import max_int, min_int, resolve_rounding_mode
from qonnx.custom_op.general.multithreshold import multithreshold

from qonnx_c4ml.exact.tensor import (INT64_SAFE, Exact, as_int_array, compact, elementwise, fractions, max_abs,
                                     multiply_add)

_denominator = elementwise(lambda v: Fraction(v).denominator, 1)
_lcm = elementwise(lcm, 2)
_ceil = elementwise(lambda v: -((-v.numerator) // v.denominator), 1)


class ExactUnsupported(ValueError):
    """The exact reference has no exact rule for this node."""


def rational_round(num, den, mode):
    """mode(num / den) elementwise, exactly; den > 0. Modes as qonnx's resolve_rounding_mode."""
    big = max_abs(num) >= INT64_SAFE // 4 or max_abs(den) >= INT64_SAFE // 4 or num.dtype == object
    if big:
        num, den = num.astype(object), np.asarray(den).astype(object)
    floor = num // den
    rem = num - floor * den  # 0 <= rem < den
    inexact, positive = rem != 0, num > 0
    mode = mode.upper()
    if mode == "FLOOR":
        up = np.zeros(np.shape(floor), bool)
    elif mode == "CEIL":
        up = inexact
    elif mode == "DOWN":  # toward zero
        up = inexact & (num < 0)
    elif mode == "UP":  # away from zero
        up = inexact & positive
    else:
        twice = 2 * rem
        above, tie = twice > den, twice == den
        if mode in ("ROUND", "HALF_EVEN"):
            tie_up = (floor % 2) != 0
        elif mode == "HALF_UP":  # ties away from zero
            tie_up = positive
        elif mode == "HALF_DOWN":  # ties toward zero
            tie_up = ~positive
        else:
            raise ExactUnsupported(f"unknown rounding mode {mode!r}")
        up = above | (tie & tie_up)
    return compact(np.asarray(floor + up.astype(np.int64 if not big else object)))


def affine_numerators(x, scale, offset):
    """(num, den) with (x / scale + offset) == num / den per element, for an Exact x and
    per-sample rational scale/offset arrays."""
    a = np.asarray(x.scale / scale, dtype=object)
    b = np.asarray(x.offset / scale + offset, dtype=object)
    a, b = np.broadcast_arrays(a, b)
    den = _lcm(_denominator(a), _denominator(b)).reshape(a.shape)
    return multiply_add(x.ints, as_int_array(a * den), as_int_array(b * den)), compact(den)


def per_sample_constant(value, x):
    """A constant operand (Fraction array) aligned with the per-sample shape of `x`
    (a leading batch axis of size 1 dropped, as ONNX broadcasting against (N, ...) means)."""
    value = np.asarray(value, dtype=object)
    rank = len(x.shape) if x.batched else None
    if x.batched and value.ndim == rank + 1:
        if value.shape[0] != 1:
            raise ExactUnsupported(f"constant of shape {value.shape} varies along the batch axis")
        value = value[0]
    return value


def code_range(bits, signed, narrow):
    return int(min_int(signed, narrow, bits)), int(max_int(signed, narrow, bits))


def quant(node, inputs, engine):
    x, scale, zeropt, bits = inputs[:4]
    attrs = engine.attributes(node)
    signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
    mode = attrs.get("rounding_mode", "ROUND")
    bits = int(np.asarray(engine.host(bits, node)).ravel()[0])
    if not isinstance(x, Exact):
        return [_host_quant(x, engine.host(scale, node), engine.host(zeropt, node), bits, signed, narrow, mode,
                            engine.dynamic_input(node))]
    s = per_sample_constant(engine.fractions(scale, node), x)
    zp = per_sample_constant(engine.fractions(zeropt, node), x)
    num, den = affine_numerators(x, s, zp)
    if bits == 1 and signed:
        q = np.where(num >= 0, 1, -1).astype(np.int64)
    else:
        lo, hi = code_range(bits, signed, narrow)
        q = np.clip(rational_round(num, den, mode), lo, hi) if num.dtype != object else \
            np.minimum(np.maximum(rational_round(num, den, mode), lo), hi)
    return [Exact(q, s, -zp * s)]


def _host_quant(x, scale, zeropt, bits, signed, narrow, mode, batched):
    """qonnx's int_quant float32 steps up to the integer codes, then the exact value."""
    u = x / scale
    u = u + zeropt
    if bits == 1 and signed:
        q = np.where(u >= 0.0, 1, -1)
    else:
        lo, hi = code_range(bits, signed, narrow)
        u = np.where(u > hi, np.asarray(hi).astype(u.dtype), u)
        u = np.where(u < lo, np.asarray(lo).astype(u.dtype), u)
        q = resolve_rounding_mode(mode)(u)
    s, zp = fractions(scale), fractions(zeropt)
    if batched and s.ndim == np.ndim(x):
        s, zp = s[0], zp[0]  # drop the constant's batch axis of size 1
    if batched and zp.ndim == np.ndim(x):
        zp = zp[0]
    return Exact(np.asarray(q).astype(np.int64), s, -zp * s, batched=batched)


def bipolar_quant(node, inputs, engine):
    x, scale = inputs
    if not isinstance(x, Exact):
        s = fractions(engine.host(scale, node))
        if engine.dynamic_input(node) and s.ndim == np.ndim(x):
            s = s[0]
        return [Exact(np.where(np.asarray(x) >= 0, 1, -1), s, batched=engine.dynamic_input(node))]
    ints, unit = x.folded()  # unit > 0: the sign of the value is the sign of ints
    s = per_sample_constant(engine.fractions(scale, node), x)
    return [Exact(np.where(ints >= 0, 1, -1), s)]


def multi_threshold(node, inputs, engine):
    x, thresholds = inputs
    attrs = engine.attributes(node)
    if not isinstance(x, Exact):  # float32 comparisons are exact: qonnx's own count
        count = multithreshold(np.asarray(x), np.asarray(engine.host(thresholds, node)),
                               channels_last=attrs.get("data_layout", "NCHW") in ("NHWC", "NWC"))
        return [Exact(np.rint(count).astype(np.int64), Fraction(float(np.float32(attrs.get("out_scale", 1.0)))),
                      Fraction(float(np.float32(attrs.get("out_bias", 0.0)))), batched=engine.dynamic_input(node))]
    layout = attrs.get("data_layout") or {2: "NC", 3: "NWC", 4: "NCHW"}.get(len(x.shape) + 1)
    axis = (layout.index("C") if layout and "C" in layout else 1) - 1  # per-sample axis
    t = engine.fractions(thresholds, node)
    t = t.reshape(-1, t.shape[-1])
    ints, unit = x.folded()  # value = ints * unit, unit > 0
    view = [1] * len(x.shape) + [t.shape[-1]]
    if t.shape[0] != 1:
        view[axis] = t.shape[0]
    per_element = t.reshape(view)  # thresholds broadcast to (*per-sample, K)
    # x >= T  <=>  ints >= ceil(T / unit)
    bounds = compact(_ceil(per_element / np.asarray(unit, dtype=object)[..., None]))
    count = (ints[..., None] >= bounds).sum(axis=-1)
    out_scale = Fraction(float(np.float32(attrs.get("out_scale", 1.0))))
    out_bias = Fraction(float(np.float32(attrs.get("out_bias", 0.0))))
    return [Exact(count, out_scale, out_bias)]


def trunc(node, inputs, engine):
    x = inputs[0]
    if not isinstance(x, Exact):
        return None  # host side: qonnx's float32 value stands
    attrs = engine.attributes(node)
    mode = attrs.get("rounding_mode", "FLOOR")
    host = [np.asarray(engine.host(v, node), np.float32) for v in inputs[1:]]
    scale = host[0]
    s = per_sample_constant(engine.fractions(inputs[1], node), x)
    zp = per_sample_constant(engine.fractions(inputs[2], node), x)
    num, den = affine_numerators(x, s, zp)
    r = rational_round(num, den, "ROUND")
    if len(inputs) == 6:  # Trunc v2
        out_scale, out_bits = host[3], int(host[4].ravel()[0])
        t = int(np.round(np.log2(out_scale / scale)).ravel()[0])
        signed, narrow = bool(attrs.get("signed", 1)), bool(attrs.get("narrow", 0))
        lo, hi = code_range(out_bits, signed, narrow)
        out_s = per_sample_constant(engine.fractions(inputs[4], node), x)
    else:  # Trunc v1: t = input bits - output bits, no clipping, output scale = scale
        t = int(host[2].ravel()[0]) - int(host[3].ravel()[0])
        lo, hi, out_s = None, None, s
    num, den = (r, np.asarray(2**t)) if t >= 0 else (multiply_add(r, np.asarray(2**-t)), np.asarray(1))
    c = rational_round(compact(num), compact(den), mode)
    if lo is not None:
        c = np.minimum(np.maximum(c, lo), hi)
    return [Exact(c, out_s, -zp / Fraction(2) ** t * out_s)]


def float_quant(node, inputs, engine):
    """FloatQuant: v = Minifloat(u) of u = x / s exactly, as codes v / unit (value code * unit * s).
    u -> v is a staircase (`Minifloat.code_table`): the code is base + the weights of the
    levels u reaches, and with u = num / den (den > 0) `u >= T` is `num >= ceil(T * den)`
    (`u > T`: `num >= floor(T * den) + 1`), so every decision is an integer comparison."""
    from qonnx_c4ml.errors import UnsupportedModelError
    from qonnx_c4ml.transformations.float_quantizer import minifloat_parameters

    try:
        _, fmt = minifloat_parameters(node, engine)
    except UnsupportedModelError as error:
        raise ExactUnsupported(str(error).splitlines()[0]) from None
    unit, base, weights, levels = fmt.code_table()
    x = inputs[0]
    if not isinstance(x, Exact):
        return [_host_float_quant(node, x, inputs[1], engine, fmt, unit)]
    s = per_sample_constant(engine.fractions(inputs[1], node), x)
    num, den = affine_numerators(x, s, Fraction(0))  # u = num / den
    codes = np.cumsum(np.asarray([base] + list(weights), dtype=np.int64))
    return [Exact(codes[_levels_reached(num, den, levels)], s * unit)]


def _levels_reached(num, den, levels):
    """How many of the (sorted) levels u = num / den reaches, elementwise."""
    dens = sorted(set(int(v) for v in np.asarray(den).ravel()))
    den_full = np.broadcast_to(den, num.shape)
    out = np.zeros(num.shape, np.int64)
    for d in dens:
        bounds = [-((-level.value.numerator * d) // level.value.denominator) if not level.strict
                  else (level.value.numerator * d) // level.value.denominator + 1 for level in levels]
        wide = num.dtype == object or max(map(abs, bounds), default=0) >= INT64_SAFE
        bounds = np.asarray(bounds, dtype=object if wide else np.int64)
        values = num.astype(object) if wide else num
        if len(dens) == 1:
            return np.asarray(np.searchsorted(bounds, values, side="right"), np.int64).reshape(num.shape)
        mask = den_full == d
        out[mask] = np.searchsorted(bounds, values[mask], side="right")
    return out


def _host_float_quant(node, x, scale, engine, fmt, unit):
    """qonnx's float32 float_quant (as the host computes the input codes, or a constant
    weight's codes), then the exact value of those codes."""
    from qonnx_c4ml.transformations.float_quantizer import reference_values

    scale = np.asarray(engine.host(scale, node), np.float32)
    values = reference_values(node, engine, np.asarray(engine.host(x, node), np.float32) / scale, fmt)
    codes = np.asarray(values, np.float64) / float(unit)  # unit is a power of two: exact
    if not np.all(np.isfinite(codes)) or np.any(codes != np.round(codes)):
        raise ExactUnsupported("qonnx's float32 values are not integer multiples of the minifloat unit")
    batched = engine.dynamic_input(node)
    s = fractions(scale)
    if batched and s.ndim == np.ndim(x):
        s = s[0]  # drop the constant's batch axis of size 1
    return Exact(codes.astype(np.int64), s * unit, batched=batched)


QUANTIZERS = {
    "Quant": quant,
    "IntQuant": quant,
    "BipolarQuant": bipolar_quant,
    "MultiThreshold": multi_threshold,
    "Trunc": trunc,
    "FloatQuant": float_quant,
}
