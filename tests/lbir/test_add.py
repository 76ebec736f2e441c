"""QAdd (lbir/add.py): permuted gathers of both inputs, per-channel weights, threshold
requantization against a direct count, `connections` against the accumulators, shape
inference, verify_node messages."""
import numpy as np
import pytest
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.lbir import DOMAIN

from .lbir_ops import int_tensor, run, threshold_count


def qadd_case(seed, requant="thresholds"):
    rng = np.random.default_rng(seed)
    channels, per_channel, batch = 3, 4, 6
    n = channels * per_channel
    index_a = rng.permutation(n)
    index_b = rng.permutation(n + 2)[:n]  # b is larger than the output, gathered out of order
    channel_of = np.repeat(np.arange(channels), per_channel)
    rng.shuffle(channel_of)
    weights = np.array([[1, 2], [3, -1], [0, 4]])  # channel 2 ignores a (zero weight)
    thresholds = np.sort(rng.integers(-20, 40, size=(channels, 7)), axis=1)
    a = rng.integers(-8, 8, size=(batch, n))
    b = rng.integers(0, 16, size=(batch, n + 2))
    attrs = dict(weights=int_tensor("weights", weights), index_a=index_a.tolist(), index_b=index_b.tolist(),
                 channel_of=channel_of.tolist(), in_dtype="INT4", in_dtype_b="UINT4", out_dtype="INT4",
                 requant=requant, out_base=-3)
    if requant == "thresholds":
        attrs["thresholds"] = int_tensor("thresholds", thresholds)
    # reference by explicit loops
    acc = np.zeros((batch, n), dtype=np.int64)
    for e in range(n):
        w_a, w_b = weights[channel_of[e]]
        acc[:, e] = w_a * a[:, index_a[e]] + w_b * b[:, index_b[e]]
    return dict(a=a, b=b, attrs=attrs, acc=acc, thresholds=thresholds, channel_of=channel_of, n=n, batch=batch)


def qadd_model(case):
    node = helper.make_node("QAdd", ["A", "B"], ["Y"], name="add", domain=DOMAIN, **case["attrs"])
    graph = helper.make_graph(
        [node], "lbir",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, list(case["a"].shape)),
         helper.make_tensor_value_info("B", TensorProto.FLOAT, list(case["b"].shape))],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [case["batch"], case["n"]])],
    )
    return ModelWrapper(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                                helper.make_opsetid(DOMAIN, 1)]))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_qadd_thresholds_with_permuted_gathers(seed):
    case = qadd_case(seed)
    model = qadd_model(case)
    out = run(model, A=case["a"], B=case["b"])
    expected = threshold_count(case["acc"], case["thresholds"], case["channel_of"], -3)
    assert out.shape == (case["batch"], case["n"])
    assert np.array_equal(out, expected)


def test_qadd_requant_none_and_connections():
    case = qadd_case(5, requant="none")
    model = qadd_model(case)
    assert np.array_equal(run(model, A=case["a"], B=case["b"]), case["acc"])
    op = getCustomOp(model.graph.node[0])
    assert op.verify_node() == []
    b_offset = case["a"].shape[1]
    rows = op.connections(b_offset)
    both = np.concatenate([case["a"], case["b"]], axis=1)
    acc = np.stack([sum((w * both[:, k] for k, w in row), np.zeros(case["batch"], dtype=np.int64)) for row in rows],
                   axis=1)
    assert np.array_equal(acc, case["acc"])
    for e, row in enumerate(rows):
        assert all(w != 0 for _, w in row)
        assert len(row) == (1 if case["channel_of"][e] == 2 else 2)  # channel 2's zero a-weight dropped


def test_qadd_shape_inference():
    case = qadd_case(0)
    model = qadd_model(case)
    model.graph.output[0].type.tensor_type.ClearField("shape")
    model = model.transform(InferShapes())
    assert model.get_tensor_shape("Y") == [case["batch"], case["n"]]


def test_qadd_verify_node():
    case = qadd_case(0)
    attrs = dict(case["attrs"])
    node = helper.make_node("QAdd", ["A", "B"], ["Y"], domain=DOMAIN, **attrs)
    assert getCustomOp(node).verify_node() == []
    for key in ("index_b", "channel_of"):
        bad = dict(attrs)
        bad[key] = bad[key][:-1]
        node = helper.make_node("QAdd", ["A", "B"], ["Y"], domain=DOMAIN, **bad)
        assert getCustomOp(node).verify_node() == [
            "index_a, index_b and channel_of must have one entry per output element"]
