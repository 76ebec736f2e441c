"""Integer matrix products and convolutions that are exact, fast where they can be.

Every kernel bounds its result first: if no partial sum can reach 2**53 it runs in float64
(BLAS) — all partial sums are then integers float64 represents exactly, so the order of
summation does not matter and the result is exact; below 2**62 it runs in int64; beyond
that in Python integers (object arrays), slow but exact.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from qonnx_c4ml.exact.tensor import FLOAT64_EXACT, INT64_SAFE, compact, max_abs

CHUNK_ELEMENTS = 1 << 24  # im2col elements per batch chunk (keeps memory bounded)


def _kind(bound):
    if bound < FLOAT64_EXACT:
        return np.float64
    if bound < INT64_SAFE:
        return np.int64
    return object


def batched_matmul(a, b):
    """a (..., P, K) @ b (..., K, M) on integers, exactly."""
    row_sums = np.abs(b.astype(object) if b.dtype == object else b).sum(axis=-2)
    bound = max_abs(a) * max_abs(np.asarray(row_sums))
    kind = _kind(bound)
    out = np.matmul(a.astype(kind), b.astype(kind))
    return compact(np.rint(out).astype(np.int64) if kind is np.float64 else out)


def conv2d(ints, weights, strides, pads, group):
    """Integer NCHW convolution: ints (N, C, H, W), weights (O, C/group, KH, KW), zero pads
    (top, left, bottom, right). Returns (N, O, OH, OW)."""
    n, c, _, _ = ints.shape
    o, per_group, kh, kw = weights.shape
    padded = np.pad(ints, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    windows = sliding_window_view(padded, (kh, kw), axis=(2, 3))[:, :, ::strides[0], ::strides[1]]
    oh, ow = windows.shape[2], windows.shape[3]
    out_per_group = o // group
    w = weights.reshape(group, out_per_group, per_group * kh * kw).transpose(0, 2, 1)  # (G, K, Og)
    chunk = max(1, CHUNK_ELEMENTS // max(1, c * oh * ow * kh * kw))
    parts = []
    for start in range(0, n, chunk):
        part = windows[start:start + chunk]
        m = part.shape[0]
        # (m, G, Cg, OH, OW, KH, KW) -> (G, m*OH*OW, Cg*KH*KW)
        cols = part.reshape(m, group, per_group, oh, ow, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
        cols = cols.reshape(group, m * oh * ow, per_group * kh * kw)
        res = batched_matmul(cols, w)  # (G, m*OH*OW, Og)
        parts.append(res.reshape(group, m, oh, ow, out_per_group).transpose(1, 0, 4, 2, 3).reshape(m, o, oh, ow))
    return compact(np.concatenate(parts)) if parts else np.zeros((0, o, oh, ow), np.int64)


def max_pool2d(ints, kernel, strides, pads):
    """Max over windows of an integer NCHW tensor (pads never win: they hold min - 1)."""
    fill = (int(ints.min()) - 1) if ints.size else 0
    dtype = ints.dtype if abs(fill) < INT64_SAFE else object
    padded = np.pad(ints.astype(dtype), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])),
                    constant_values=fill)
    windows = sliding_window_view(padded, tuple(kernel), axis=(2, 3))[:, :, ::strides[0], ::strides[1]]
    return compact(windows.max(axis=(4, 5)))


def window_counts(shape_hw, kernel, strides, pads):
    """Per output position, how many window taps fall inside the (unpadded) image."""
    ones = np.ones((1, 1) + tuple(shape_hw), np.int64)
    return conv2d(ones, np.ones((1, 1) + tuple(kernel), np.int64), strides, pads, 1)[0, 0]
