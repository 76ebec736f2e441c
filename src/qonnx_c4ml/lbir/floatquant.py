"""Minifloat quantizers (qonnx FloatQuant) as exact step functions over integer codes.

qonnx 1.0.0 executes `FloatQuant(x, scale, E, M, bias, max_val)` (`float_quant`) as

    u = x / scale
    e = max(floor(log2 |u|), 1 - bias)            the binade; below it the subnormal grid
    v = 2**(e - M) * round_mode(u / 2**(e - M))
    v = clip(v, -max_value, max_value)            max_value = min((2 - 2**-M) * 2**(2**E-1-bias), max_val)
    y = v * scale

(`has_subnormal` is not read: the grid always has subnormals; `has_inf`/`has_nan` only
change the non-saturating case, where an overflow becomes inf or NaN.)  `Minifloat`
restates this in exact rational arithmetic.

**Codes.**  Every output v is an integer multiple of `unit`, the subnormal step
2**(1 - bias - M) (or a finer power of two when `max_val` lies off that grid).  The
circuit carries `code = v / unit`, an ordinary integer with value `code * unit * scale`,
so the next layer multiplies plain integers and needs no value table.  The price is width:
the codes span +-max_value/unit (`code_bits`):

    E4M3 (bias 7, max 448, Brevitas/OCP)      unit 2**-9    +-229,376      19 bits signed
    E4M3 (bias 7, qonnx max 480)              unit 2**-9    +-245,760      19 bits
    E5M2 (bias 15, max 57,344)                unit 2**-16   +-3.76e9       33 bits
    E3M2 (bias 3, max 28)                     unit 2**-4    +-448          10 bits

qonnx graphs hold codes in float32 tensors, exact only below 2**24, so a layer whose
reachable codes go beyond it (E5M2 over its full range) is refused by the caller.

**Requantization.**  u -> v is nondecreasing (checked while it is built), so reaching each
value v_i is a `Level` on u, as for integer quantizers (lbir/requant.py).  Consecutive
values differ by `weights[i]` units (powers of two on the grid), which LBIR carries as
`threshold_weights`: code = base + sum_k weights[k] * [acc >= T_k].  The levels are found
by sweeping the grid points and their midpoints, the only places any of qonnx's rounding
modes can step, and evaluating the exact quantizer there and between them.
"""
from dataclasses import dataclass
from functools import lru_cache
from fractions import Fraction
from math import ceil, floor

from qonnx_c4ml.lbir.requant import HALF, ROUNDING_MODES, Level

MAX_VALUES = 4096  # more representable values than this is not a small minifloat


def pow2(k):
    return Fraction(2) ** k


def floor_log2(x):
    """floor(log2(x)) of a positive Fraction, exactly."""
    n = x.numerator.bit_length() - x.denominator.bit_length()
    while pow2(n) > x:
        n -= 1
    while pow2(n + 1) <= x:
        n += 1
    return n


def two_adic_valuation(x):
    """The k with x = odd * 2**k (x a nonzero dyadic Fraction)."""
    num, den = x.numerator, x.denominator
    if den & (den - 1):
        raise ValueError(f"{x} is not a dyadic rational")
    return (abs(num) & -abs(num)).bit_length() - 1 - (den.bit_length() - 1)


def round_fraction(mode, x):
    """qonnx's rounding modes (intquant.resolve_rounding_mode) on an exact Fraction."""
    sign = 1 if x >= 0 else -1
    if mode in ("ROUND", "HALF_EVEN"):
        return round(x)  # Fraction.__round__ rounds half to even, like np.round
    if mode == "CEIL":
        return ceil(x)
    if mode == "FLOOR":
        return floor(x)
    if mode == "UP":
        return sign * ceil(abs(x))
    if mode == "DOWN":
        return sign * floor(abs(x))
    if mode == "HALF_UP":
        return sign * floor(abs(x) + HALF)
    if mode == "HALF_DOWN":
        return sign * ceil(abs(x) - HALF)
    raise ValueError(f"unknown rounding mode {mode!r}; qonnx knows {', '.join(ROUNDING_MODES)}")


def default_max_value(exponent_bits, mantissa_bits, bias):
    """qonnx's compute_max_val: all-ones mantissa at the largest exponent code."""
    return (2 - pow2(-mantissa_bits)) * pow2(2 ** exponent_bits - 1 - bias)


@dataclass(frozen=True)
class Minifloat:
    """A saturating signed minifloat quantizer u -> v, exactly as qonnx's float_quant."""

    exponent_bits: int
    mantissa_bits: int
    bias: int
    max_value: Fraction  # the clip bound, already min(format maximum, max_val)
    rounding_mode: str = "ROUND"

    @classmethod
    def from_parameters(cls, exponent_bits, mantissa_bits, bias, max_val, rounding_mode="ROUND"):
        """As qonnx: max_value = min(format maximum, max_val)."""
        top = default_max_value(exponent_bits, mantissa_bits, bias)
        limit = top if max_val is None else min(top, Fraction(max_val))
        if limit <= 0:
            raise ValueError(f"max_val {max_val} leaves no positive value")
        return cls(exponent_bits, mantissa_bits, bias, limit, rounding_mode.upper())

    def quantize(self, u):
        """v = clip(2**(e-M) * round(u / 2**(e-M))) for an exact Fraction u."""
        if u == 0:
            return Fraction(0)
        e = max(floor_log2(abs(u)), 1 - self.bias)
        step = pow2(e - self.mantissa_bits)
        v = step * round_fraction(self.rounding_mode, u / step)
        return min(max(v, -self.max_value), self.max_value)

    def grid(self):
        """Unclipped grid points of both signs, up to one binade past max_value (and past the
        subnormal range, when max_val clips inside it)."""
        m, low = self.mantissa_bits, 1 - self.bias
        top = max(floor_log2(self.max_value), low) + 1
        if (top - low + 2) << m > MAX_VALUES:
            raise ValueError(f"E{self.exponent_bits}M{m} has more than {MAX_VALUES} values")
        points = {k * pow2(low - m) for k in range(1 << m)}  # subnormals and 0
        for e in range(low, top + 1):
            points.update(k * pow2(e - m) for k in range(1 << m, 2 << m))
        points.add(pow2(top + 1))
        return sorted({-p for p in points} | points)

    def staircase(self):
        """(values, levels): the outputs v_0 < ... < v_n and, for i >= 1, the Level on u at
        which the output reaches v_i (`u >= value`, or `u > value` when strict)."""
        grid = self.grid()
        candidates = sorted(set(grid) | {(a + b) / 2 for a, b in zip(grid, grid[1:])})
        values, levels = [self.quantize(candidates[0] - 1)], []
        for i, c in enumerate(candidates):
            after = candidates[i + 1] if i + 1 < len(candidates) else c + 1
            for point, strict in ((c, False), ((c + after) / 2, True)):
                v = self.quantize(point)
                if v < values[-1]:
                    raise ValueError(f"the quantizer decreases at u = {point}")
                if v > values[-1]:
                    levels.append(Level(c, strict))
                    values.append(v)
        return values, levels

    def unit(self, values=None):
        """The largest power of two every output value is an integer multiple of."""
        values = self.staircase()[0] if values is None else values
        return pow2(min(two_adic_valuation(v) for v in values if v != 0))

    @lru_cache(maxsize=None)
    def code_table(self):
        """(unit, base, weights, levels): code = base + sum(weights[k] for levels reached),
        code * unit = v.  The integer-code view of `staircase`."""
        values, levels = self.staircase()
        unit = self.unit(values)
        codes = [int(v / unit) for v in values]
        weights = [b - a for a, b in zip(codes, codes[1:])]
        return unit, codes[0], weights, levels

    def code_bits(self):
        """Bits of the signed code over the whole value range (see the module table)."""
        unit, base, weights, _ = self.code_table()
        top = base + sum(weights)
        return max(abs(base), abs(top)).bit_length() + 1
