"""Threshold rows -> LBIR requantization attributes, with optional column weights.

An LBIR layer requantizes with `code = out_base + sum_k w_k * [acc >= T[m, k]]`; the
weights w_k (`threshold_weights`, one per column, shared by all rows) are all 1 for
integer quantizers (the plain count) and the gaps between consecutive representable
values for minifloat ones (lbir/floatquant.py).  `threshold_columns` drops the columns
every row always reaches (their weight moves into the base) or never reaches, and gives
the exact code range over the accumulator's range.
"""
import numpy as np


def threshold_columns(rows, acc_min, acc_max, base, weights=None):
    """(thresholds, base, weights or None, code_min, code_max) for per-row threshold lists.

    `weights` None means all ones (and stays None)."""
    thresholds = np.array(rows, dtype=np.int64).reshape(len(acc_min), -1)
    w = np.ones(thresholds.shape[1], dtype=np.int64) if weights is None else np.asarray(weights, np.int64)
    if w.shape != (thresholds.shape[1],) or np.any(w <= 0):
        raise ValueError("one positive weight per threshold column expected")
    if thresholds.size:
        always = np.all(thresholds <= acc_min[:, None], axis=0)
        never = np.all(thresholds > acc_max[:, None], axis=0)
        base += int(w[always].sum())
        keep = ~(always | never)
        thresholds, w = thresholds[:, keep], w[keep]
    code_min = base + int(((thresholds <= acc_min[:, None]) * w).sum(axis=1).min(initial=0))
    code_max = base + int(((thresholds <= acc_max[:, None]) * w).sum(axis=1).max(initial=0))
    return thresholds, base, (None if weights is None else w), code_min, code_max


def cumulative_weights(weights, columns):
    """[0, w_0, w_0 + w_1, ...]: the code offset after each number of reached thresholds."""
    if weights is None or len(weights) == 0:
        return np.arange(columns + 1, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(np.asarray(weights, dtype=np.int64))])
