"""transformations/zero_point.py: integer zero-points read and checked, levels shifted by the
zero-point, per-channel rows aligned to one base."""
from fractions import Fraction

import numpy as np
import pytest

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir.requant import Level
from qonnx_c4ml.transformations.constants import ConstantEvaluator
from qonnx_c4ml.transformations.zero_point import align_rows, refuse_bipolar_zero_point, shifted_levels, zero_point

from .quant_graphs import weight_model


def test_zero_point_is_read_as_integers():
    model, _, node = weight_model(np.ones((2, 2), np.float32), np.float32(0.5), zero_point=3.0)
    value = zero_point(node, ConstantEvaluator(model))
    assert value.dtype == np.int64 and value.tolist() == 3


def test_non_integer_zero_point_is_refused():
    model, _, node = weight_model(np.ones((2, 2), np.float32), np.float32(0.5), zero_point=0.5)
    with pytest.raises(UnsupportedModelError, match="non-integer zero-point"):
        zero_point(node, ConstantEvaluator(model))


def test_bipolar_quant_with_a_zero_point_is_refused():
    refuse_bipolar_zero_point(None, np.array(0))
    with pytest.raises(UnsupportedModelError, match="bipolar"):
        refuse_bipolar_zero_point(None, np.array([0, 1]))


def test_shifted_levels_are_on_y():
    levels = [Level(Fraction(1, 2), False), Level(Fraction(3, 2), True)]
    shifted = shifted_levels(levels, 2, Fraction(1, 4))
    assert shifted == [Level(Fraction(-3, 8), False), Level(Fraction(-1, 8), True)]


def test_aligned_rows_keep_each_channels_codes():
    rows = [[0, 5], [1, 3], [-2, 2]]
    zeros = [0, 2, 1]
    acc_min, acc_max = np.array([-10, -10, -10]), np.array([10, 10, 10])
    aligned, base = align_rows(rows, 0, zeros, acc_min, acc_max)
    assert base == -2 and all(len(row) == 4 for row in aligned)
    for row, original, z, lo, hi in zip(aligned, rows, zeros, acc_min, acc_max):
        for acc in range(lo, hi + 1):
            assert base + sum(acc >= t for t in row) == 0 - z + sum(acc >= t for t in original)
