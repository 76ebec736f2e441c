"""Exact requantization: from a layer's real-valued glue to integer thresholds.

Between two quantizers a layer computes, per output channel m,

    y_m = alpha_m * acc_m + beta_m          (acc_m = sum_k W[m, k] * x_k, integers)
    y_m = relu(y_m)                          (optional)
    code_m = quantizer(y_m)                  (Quant / BipolarQuant / MultiThreshold)

with alpha, beta exact rationals built from the float32 parameters (scales, bias, Mul/Add
constants; BatchNormalization enters through float64).  The quantizer is a monotone step
function, so `code = base + #{k : acc >= T_k}` for integer thresholds T_k.  Every quantizer
is described here as a list of `Level`s, "code reaches this level when y >= value" (or `>`
when `strict`), and `integer_thresholds` turns them into T_k in exact rational arithmetic.
chisel4ml truncates log2 of non-power-of-two scales instead; this is where we do not.
"""
from dataclasses import dataclass
from fractions import Fraction
from math import ceil, floor

import numpy as np

HALF = Fraction(1, 2)
ROUNDING_MODES = ("ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN")


@dataclass(frozen=True)
class Level:
    """`code >= (this level)` holds exactly when `u >= value` (or `u > value` if strict)."""

    value: Fraction
    strict: bool


def rounding_levels(mode, lo, hi):
    """Levels of clip(round_mode(u), lo, hi) for codes lo+1 .. hi, as qonnx rounds.

    qonnx (intquant.resolve_rounding_mode): ROUND/HALF_EVEN = np.round (ties to even),
    CEIL, FLOOR, UP = sign*ceil(|u|), DOWN = np.fix, HALF_UP = sign*floor(|u|+0.5),
    HALF_DOWN = sign*ceil(|u|-0.5).  `round(u) >= k` is derived per mode below.
    """
    mode = mode.upper()
    if mode not in ROUNDING_MODES:
        raise ValueError(f"unknown rounding mode {mode!r}; qonnx knows {', '.join(ROUNDING_MODES)}")
    levels = []
    for k in range(lo + 1, hi + 1):
        if mode in ("ROUND", "HALF_EVEN"):  # the tie k-1/2 rounds up to k only if k is even
            level = Level(k - HALF, strict=(k % 2 != 0))
        elif mode == "HALF_UP":  # ties away from zero
            level = Level(k - HALF, strict=(k <= 0))
        elif mode == "HALF_DOWN":  # ties toward zero
            level = Level(k - HALF, strict=(k >= 1))
        elif mode == "FLOOR":
            level = Level(Fraction(k), strict=False)
        elif mode == "CEIL":
            level = Level(Fraction(k - 1), strict=True)
        elif mode == "UP":  # ceil above zero, floor below
            level = Level(Fraction(k - 1), strict=True) if k >= 1 else Level(Fraction(k), strict=False)
        else:  # DOWN: floor above zero, ceil below
            level = Level(Fraction(k), strict=False) if k >= 1 else Level(Fraction(k - 1), strict=True)
        levels.append(level)
    return levels


def scale_levels(levels, scale):
    """Levels in u = y / scale (scale > 0) expressed as levels in y."""
    return [Level(level.value * scale, level.strict) for level in levels]


def relu_levels(levels):
    """Levels on relu(y) expressed on y: a level at or below zero is always reached."""
    out = []
    for level in levels:
        if level.value < 0 or (level.value == 0 and not level.strict):
            out.append(None)  # always reached
        else:
            out.append(level)
    return out


def integer_thresholds(levels, alpha, beta, acc_min, acc_max):
    """Integer thresholds T_k with `level k reached  <=>  acc >= T_k` for y = alpha*acc + beta.

    alpha must be >= 0 (callers negate a weight row to make it so).  Thresholds are clamped
    to [acc_min, acc_max + 1]: acc_min means "always reached", acc_max + 1 "never".
    `None` levels (always reached) map to acc_min.
    """
    if alpha < 0:
        raise ValueError("alpha must be non-negative; negate the weight row first")
    never, always = acc_max + 1, acc_min
    out = []
    for level in levels:
        if level is None:
            out.append(always)
            continue
        if alpha == 0:
            reached = beta > level.value if level.strict else beta >= level.value
            out.append(always if reached else never)
            continue
        bound = (level.value - beta) / alpha
        threshold = floor(bound) + 1 if level.strict else ceil(bound)
        out.append(min(max(threshold, always), never))
    return out


def as_fraction(value):
    """Exact rational value of a float (float32 values convert exactly through float64)."""
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"non-finite value {value}")
    return Fraction(value)
