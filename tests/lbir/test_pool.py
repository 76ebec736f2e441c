"""QMaxPool2D (lbir/pool.py) against onnxruntime MaxPool: the numpy semantics, `pool_windows`
(padding skipped, not zero-filled), the node run by execute_onnx, verify_node messages."""
import numpy as np
import pytest
from onnx import helper

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.lbir.pool import QMaxPool2D, pool_windows

from .lbir_ops import _ort_run, lbir_model, run


def ort_maxpool(x, kernel, strides, pads):
    node = helper.make_node("MaxPool", ["X"], ["Y"], kernel_shape=list(kernel), strides=list(strides), pads=list(pads))
    return _ort_run(node, {"X": np.asarray(x, dtype=np.float32)}, []).astype(np.int64)


POOL_CASES = [(k, s, p) for k in ((2, 2), (3, 3), (2, 3)) for s in ((1, 1), (2, 2), (1, 2)) for p in
              ((0, 0, 0, 0), (1, 1, 1, 1), (1, 0, 0, 1))]


@pytest.mark.parametrize("kernel,strides,pads", POOL_CASES)
@pytest.mark.parametrize("hw", [(5, 5), (6, 7)])
def test_qmaxpool_matches_onnxruntime(kernel, strides, pads, hw):
    c, (h, w), batch = 3, hw, 4
    rng = np.random.default_rng(kernel[0] * 100 + strides[0] * 10 + sum(pads))
    # signed codes, mostly negative: zero-padding instead of skipping would show
    x = rng.integers(-8, 3, size=(batch, c, h, w))
    expected = ort_maxpool(x, kernel, strides, pads)
    _, _, oh, ow = expected.shape
    model = lbir_model("QMaxPool2D", {"X": c * h * w}, c * oh * ow, batch, in_shape=[c, h, w], kernel=list(kernel),
                       strides=list(strides), pads=list(pads), in_dtype="INT4", out_dtype="INT4")
    op = getCustomOp(model.graph.node[0])
    assert op.out_shape() == (c, oh, ow)
    assert op.verify_node() == []
    out = run(model, X=x.reshape(batch, -1))
    assert out.shape == (batch, c * oh * ow)
    assert np.array_equal(out, expected.reshape(batch, -1))
    # pool_windows: in-range, no padded positions, and the window max gives the same result
    windows = pool_windows((c, h, w), kernel, strides, pads)
    assert len(windows) == c * oh * ow
    flat = x.reshape(batch, -1)
    for e, window in enumerate(windows):
        assert window and all(0 <= k < c * h * w for k in window) and len(set(window)) == len(window)
        assert np.array_equal(flat[:, window].max(axis=1), expected.reshape(batch, -1)[:, e])


def test_pool_windows_skip_padding():
    windows = pool_windows((1, 3, 3), (2, 2), (2, 2), (1, 1, 1, 1))
    # output 2x2; (0,0) covers only input (0,0); (1,1) covers (1,1),(1,2),(2,1),(2,2)
    assert windows == [[0], [1, 2], [3, 6], [4, 5, 7, 8]]


def test_qmaxpool_verify_node():
    def msgs(**attrs):
        base = dict(in_shape=[2, 4, 4], kernel=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0], in_dtype="INT4",
                    out_dtype="INT4")
        base.update(attrs)
        return QMaxPool2D(helper.make_node("QMaxPool2D", ["X"], ["Y"], domain=DOMAIN, **base)).verify_node()

    assert msgs() == []
    for bad in (dict(in_shape=[2, 4]), dict(kernel=[2]), dict(strides=[2, 2, 2]), dict(pads=[1, 1])):
        assert msgs(**bad) == ["in_shape needs 3 entries, kernel and strides 2, pads 4"], bad
