"""lbir/dense.py: QDense's exact forward pass, accumulator bounds, requantization (plain and
weighted), and verify_node messages."""
import numpy as np
from onnx import helper

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.lbir.dense import (QDense, accumulator_range, dense_forward, requantize_codes,
                                   threshold_weight_messages)

from .lbir_ops import int_tensor, lbir_model, run

RNG = np.random.default_rng(9)


def test_accumulator_range_is_tight():
    weights = np.array([[2, -3, 0], [-1, -1, 4]])
    lo, hi = accumulator_range(weights, -2, 1)
    xs = np.array(np.meshgrid(*[range(-2, 2)] * 3)).reshape(3, -1).T
    acc = xs @ weights.T
    assert lo.tolist() == acc.min(axis=0).tolist() and hi.tolist() == acc.max(axis=0).tolist()


def test_dense_forward_counts_reached_thresholds():
    codes = RNG.integers(0, 4, size=(50, 5))
    weights = RNG.integers(-2, 3, size=(3, 5))
    thresholds = np.sort(RNG.integers(-8, 9, size=(3, 4)), axis=1)
    acc = codes @ weights.T
    expected = -1 + (acc[:, :, None] >= thresholds[None]).sum(axis=2)
    assert np.array_equal(dense_forward(codes, weights, "thresholds", thresholds, -1), expected)
    assert np.array_equal(dense_forward(codes, weights, "none", thresholds, 0), acc)


def test_weighted_requantization_and_shared_channels():
    acc = np.array([[-3, 0, 5], [4, 9, -1]])
    thresholds = np.array([[0, 4], [2, 6]])
    plain = requantize_codes(acc, "thresholds", thresholds, [0, 1, 0], 0)
    assert plain.tolist() == [[0, 0, 2], [2, 2, 0]]
    weighted = requantize_codes(acc, "thresholds", thresholds, [0, 1, 0], 1, [2, 4])
    assert weighted.tolist() == [[1, 1, 7], [7, 7, 1]]
    assert threshold_weight_messages([1], thresholds) != [] and threshold_weight_messages([], thresholds) == []


def test_qdense_node_runs_and_verifies():
    weights = np.array([[1, -1, 2], [0, 3, -2]])
    thresholds = np.array([[-1, 1, 3], [0, 2, 5]])
    model = lbir_model("QDense", {"X": 3}, 2, 4, weights=int_tensor("weights", weights), in_shape=[3],
                       in_dtype="UINT2", out_dtype="UINT2", requant="thresholds",
                       thresholds=int_tensor("thresholds", thresholds), out_base=0)
    op = getCustomOp(model.graph.node[0])
    assert isinstance(op, QDense) and op.verify_node() == []
    x = RNG.integers(0, 4, size=(4, 3))
    expected = ((x @ weights.T)[:, :, None] >= thresholds[None]).sum(axis=2)
    assert np.array_equal(run(model, X=x), expected)
    bad = helper.make_node("QDense", ["X"], ["Y"], domain=DOMAIN, weights=int_tensor("weights", weights),
                           in_shape=[4], in_dtype="UINT2", out_dtype="UINT2", requant="thresholds",
                           thresholds=int_tensor("thresholds", thresholds[:, ::-1]))
    assert getCustomOp(bad).verify_node() == ["in_shape does not match the weight matrix",
                                              "thresholds must be sorted along each row"]
