"""lbir/staircase.py: threshold columns every row always or never reaches are dropped, the
code range is exact, weights move with their columns."""
import numpy as np
import pytest

from qonnx_c4ml.lbir.staircase import cumulative_weights, threshold_columns


def brute_codes(rows, acc_min, acc_max, base, weights):
    codes = [base + sum(w for t, w in zip(row, weights) if acc >= t)
             for row, lo, hi in zip(rows, acc_min, acc_max) for acc in range(lo, hi + 1)]
    return min(codes), max(codes)


def test_always_and_never_columns_are_dropped():
    rows = [[-50, -2, 3, 90], [-60, 0, 10, 95]]
    acc_min, acc_max = np.array([-10, -10]), np.array([20, 20])
    thresholds, base, weights, code_min, code_max = threshold_columns(rows, acc_min, acc_max, 1)
    assert thresholds.tolist() == [[-2, 3], [0, 10]]  # column 0 always, column 3 never reached
    assert base == 2 and weights is None
    assert (code_min, code_max) == (2, 4) == brute_codes(rows, acc_min, acc_max, 1, [1] * 4)


def test_weighted_columns_keep_their_weights():
    rows = [[-20, 0, 4, 8]]
    acc_min, acc_max = np.array([-5]), np.array([5])
    thresholds, base, weights, code_min, code_max = threshold_columns(rows, acc_min, acc_max, 0, [1, 2, 4, 8])
    assert thresholds.tolist() == [[0, 4]] and weights.tolist() == [2, 4] and base == 1
    assert (code_min, code_max) == (1, 7) == brute_codes(rows, acc_min, acc_max, 0, [1, 2, 4, 8])


def test_bad_weights_and_cumulative_offsets():
    with pytest.raises(ValueError, match="one positive weight"):
        threshold_columns([[0, 1]], np.array([0]), np.array([3]), 0, [1])
    with pytest.raises(ValueError, match="one positive weight"):
        threshold_columns([[0, 1]], np.array([0]), np.array([3]), 0, [1, 0])
    assert cumulative_weights(None, 3).tolist() == [0, 1, 2, 3]
    assert cumulative_weights([1, 2, 4], 3).tolist() == [0, 1, 3, 7]
