"""exact/kernels.py: integer matmul, convolution and max pooling are exact at every size
(float64, int64 or Python ints as the bound requires)."""
import numpy as np

from qonnx_c4ml.exact.kernels import batched_matmul, conv2d, max_pool2d, window_counts

RNG = np.random.default_rng(2)


def direct_conv(x, w, strides, pads, group):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x.astype(object), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - kh) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - kw) // strides[1] + 1
    out = np.zeros((n, o, oh, ow), dtype=object)
    for m in range(o):
        g = m // (o // group)
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * cg:(g + 1) * cg, i * strides[0]:i * strides[0] + kh, j * strides[1]:j * strides[1] + kw]
                out[:, m, i, j] = (patch * w[m].astype(object)).sum(axis=(1, 2, 3))
    return out


def test_matmul_small_int64_and_huge():
    a, b = RNG.integers(-9, 9, size=(3, 4, 5)), RNG.integers(-9, 9, size=(3, 5, 2))
    assert np.array_equal(batched_matmul(a, b), a @ b)
    big = np.array([[2**40, 3]], dtype=np.int64)
    out = batched_matmul(big, np.array([[2**30], [1]], dtype=np.int64))
    assert out.dtype == object and out.tolist() == [[2**70 + 3]]  # beyond int64, still exact


def test_conv2d_equals_the_direct_sum_with_groups_strides_pads():
    x = RNG.integers(-8, 8, size=(2, 4, 5, 6))
    w = RNG.integers(-3, 4, size=(6, 2, 3, 2))
    out = conv2d(x, w, (2, 1), (1, 0, 1, 1), 2)
    assert np.array_equal(out.astype(object), direct_conv(x, w, (2, 1), (1, 0, 1, 1), 2))


def test_max_pool_ignores_padding_and_window_counts():
    x = -RNG.integers(1, 9, size=(1, 1, 3, 3))  # all negative: a zero pad would win
    out = max_pool2d(x, (2, 2), (2, 2), (1, 1, 1, 1))
    assert out[0, 0].tolist() == [[x[0, 0, 0, 0], x[0, 0, 0, 1:].max()],
                                  [x[0, 0, 1:, 0].max(), x[0, 0, 1:, 1:].max()]]
    assert window_counts((3, 3), (2, 2), (2, 2), (1, 1, 1, 1)).tolist() == [[1, 2], [2, 4]]
