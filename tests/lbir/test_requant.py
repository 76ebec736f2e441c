"""The threshold derivation of every rounding mode against qonnx's own rounding functions."""
from fractions import Fraction

import numpy as np
import pytest

from qonnx.custom_op.general.intquant import resolve_rounding_mode

from qonnx_c4ml.lbir.requant import (
    ROUNDING_MODES,
    integer_thresholds,
    relu_levels,
    rounding_levels,
    scale_levels,
)

# quarter steps hit every tie (k + 1/2) and both sides of zero
GRID = [Fraction(i, 4) for i in range(-44, 45)]


def staircase(levels, lo, u):
    reached = 0
    for level in levels:
        if level is None or u > level.value or (u == level.value and not level.strict):
            reached += 1
    return lo + reached


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("lo,hi", [(-8, 7), (-7, 7), (0, 15), (0, 3), (-2, 1)])
def test_levels_equal_qonnx_rounding(mode, lo, hi):
    levels = rounding_levels(mode, lo, hi)
    rounding = resolve_rounding_mode(mode)
    for u in GRID:
        expected = int(np.clip(rounding(np.float32(float(u))), lo, hi))
        assert staircase(levels, lo, u) == expected, (mode, u)


@pytest.mark.parametrize("mode", ROUNDING_MODES)
def test_relu_levels_equal_rounding_of_relu(mode):
    levels = relu_levels(rounding_levels(mode, -8, 7))
    rounding = resolve_rounding_mode(mode)
    for u in GRID:
        expected = int(np.clip(rounding(np.float32(max(float(u), 0.0))), -8, 7))
        assert staircase(levels, -8, u) == expected


@pytest.mark.parametrize("mode", ROUNDING_MODES)
@pytest.mark.parametrize("alpha,beta,scale", [
    (Fraction(1, 8), Fraction(3, 16), Fraction(1, 4)),      # power of two: ties reachable
    (Fraction(3, 40), Fraction(-1, 7), Fraction(1, 10)),    # arbitrary rationals
    (Fraction(0), Fraction(1, 3), Fraction(1, 2)),          # dead channel: constant output
])
def test_integer_thresholds_are_exact(mode, alpha, beta, scale):
    levels = scale_levels(rounding_levels(mode, -8, 7), scale)
    acc_min, acc_max = -300, 300
    thresholds = integer_thresholds(levels, alpha, beta, acc_min, acc_max)
    assert thresholds == sorted(thresholds)
    rounding = resolve_rounding_mode(mode)
    for acc in range(acc_min, acc_max + 1):
        u = (alpha * acc + beta) / scale
        # float(u) is exact for dyadic u (where ties live) and never lands on a tie otherwise
        expected = int(np.clip(rounding(float(u)), -8, 7))
        assert -8 + sum(acc >= t for t in thresholds) == expected, (acc, u)
