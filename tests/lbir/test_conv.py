"""QConv2D (lbir/conv.py) against independent references.

- the numpy semantics (`conv_forward`) against onnxruntime running plain ONNX `Conv` on
  float32 holding small integers (exact: every partial sum is an integer far below 2**24);
- the sparse rows the circuit generator consumes (`conv_connections`) against the dense matrix
  onnxruntime gives for one-hot inputs, so zero weights and padded taps must be dropped and
  nothing else;
- the op as a node of tiny ONNX models run by qonnx's `execute_onnx`, requantization
  `out_base + #{k : acc >= T[c, k]}` checked against a direct count;
- verify_node messages for malformed attributes.
QMaxPool2D and QAdd: test_pool.py, test_add.py; shared helpers: lbir_ops.py.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.lbir.conv import QConv2D, conv_connections, conv_forward, conv_output_hw
from qonnx_c4ml.lbir.dense import requantize_codes

from .lbir_ops import CODE_RANGES, _ort_run, int_tensor, lbir_model, run, threshold_count


def ort_conv(x, weights, strides, pads, group):
    """x (N, C, H, W) integers -> acc (N, O, OH, OW) int64 via ONNX Conv."""
    w = np.asarray(weights, dtype=np.float32)
    init = helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel().tolist())
    node = helper.make_node("Conv", ["X", "W"], ["Y"], kernel_shape=list(w.shape[2:]), strides=list(strides),
                            pads=list(pads), group=group, dilations=[1, 1])
    y = _ort_run(node, {"X": np.asarray(x, dtype=np.float32)}, [init])
    assert np.array_equal(y, np.round(y))
    return y.astype(np.int64)


def one_hot_matrix(weights, in_shape, strides, pads, group):
    """M[e, k] = accumulator of output element e for the one-hot input k (dense linear map)."""
    c, h, w = in_shape
    eye = np.eye(c * h * w, dtype=np.int64).reshape(-1, c, h, w)
    return ort_conv(eye, weights, strides, pads, group).reshape(c * h * w, -1).T


def conv_node(weights, in_shape, strides=(1, 1), pads=(0, 0, 0, 0), group=1, thresholds=None, requant="thresholds",
              out_base=0, in_dtype="UINT4", out_dtype="INT8"):
    attrs = dict(weights=int_tensor("weights", weights), in_shape=list(in_shape), strides=list(strides),
                 pads=list(pads), group=group, in_dtype=in_dtype, out_dtype=out_dtype, requant=requant,
                 out_base=out_base)
    if thresholds is not None:
        attrs["thresholds"] = int_tensor("thresholds", thresholds)
    return helper.make_node("QConv2D", ["X"], ["Y"], name="conv", domain=DOMAIN, **attrs)


def random_codes(rng, dtype, shape):
    lo, hi = CODE_RANGES[dtype]
    return rng.integers(lo, hi + 1, size=shape)


def random_weights(rng, shape, zero_fraction=0.3, lo=-3, hi=3):
    w = rng.integers(lo, hi + 1, size=shape)
    w[rng.random(shape) < zero_fraction] = 0
    return w


# -- conv_forward against onnxruntime Conv --------------------------------------------------
CONV_CASES = [
    # (C, H, W, O, kh, kw, strides, pads [top, left, bottom, right], group)
    (3, 5, 5, 4, 1, 1, (1, 1), (0, 0, 0, 0), 1),
    (3, 6, 4, 2, 3, 3, (1, 1), (1, 1, 1, 1), 1),
    (2, 7, 5, 3, 3, 3, (2, 2), (1, 1, 1, 1), 1),
    (2, 5, 8, 3, 2, 3, (1, 2), (0, 1, 1, 0), 1),
    (1, 4, 6, 2, 2, 3, (2, 1), (1, 0, 0, 2), 1),
    (4, 5, 6, 6, 3, 3, (1, 1), (0, 2, 1, 0), 2),
    (4, 6, 5, 4, 3, 3, (2, 1), (1, 1, 1, 1), 4),  # depthwise
    (3, 5, 7, 6, 3, 2, (1, 2), (2, 1, 0, 1), 3),  # depthwise, channel multiplier 2
    (3, 4, 4, 3, 1, 1, (2, 2), (1, 1, 1, 1), 3),  # 1x1 on padding only at the border
]


@pytest.mark.parametrize("dtype", ["UINT4", "INT4"])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "C{}H{}W{}O{}k{}x{}s{}p{}g{}".format(*c[:6], *c[6:7],
                                                                                              "".join(map(str, c[7])),
                                                                                              c[8]))
def test_conv_forward_matches_onnxruntime(case, dtype):
    c, h, w, o, kh, kw, strides, pads, group = case
    rng = np.random.default_rng(sum(case[:6]) + group)
    x = random_codes(rng, dtype, (3, c, h, w))
    weights = random_weights(rng, (o, c // group, kh, kw))
    expected = ort_conv(x, weights, strides, pads, group)
    acc = conv_forward(x.reshape(3, -1), weights, (c, h, w), strides, pads, group)
    assert acc.dtype == np.int64
    assert acc.shape == expected.shape == (3, o, *conv_output_hw((c, h, w), (kh, kw), strides, pads))
    assert np.array_equal(acc, expected)


def check_connections(weights, in_shape, strides, pads, group, x):
    """conv_connections rows == the nonzero entries of the one-hot matrix, and reproduce acc."""
    rows = conv_connections(weights, in_shape, strides, pads, group)
    matrix = one_hot_matrix(weights, in_shape, strides, pads, group)
    assert len(rows) == matrix.shape[0]
    n_in = int(np.prod(in_shape))
    for e, row in enumerate(rows):
        indices = [k for k, _ in row]
        assert all(0 <= k < n_in for k in indices), (e, row)           # padded taps dropped
        assert len(set(indices)) == len(indices), (e, row)
        assert all(wgt != 0 and isinstance(wgt, int) for _, wgt in row), (e, row)  # zero weights dropped
        assert dict(row) == {int(k): int(matrix[e, k]) for k in np.flatnonzero(matrix[e])}, e
    acc = np.stack([sum((wgt * x[:, k] for k, wgt in row), np.zeros(x.shape[0], dtype=np.int64)) for row in rows],
                   axis=1)
    expected = conv_forward(x, weights, in_shape, strides, pads, group).reshape(x.shape[0], -1)
    assert np.array_equal(acc, expected)
    return rows


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_connections_reproduce_accumulators(case):
    c, h, w, o, kh, kw, strides, pads, group = case
    rng = np.random.default_rng(7 + sum(case[:6]))
    weights = random_weights(rng, (o, c // group, kh, kw), zero_fraction=0.4)
    x = random_codes(rng, "INT4", (4, c * h * w))
    check_connections(weights, (c, h, w), strides, pads, group, x)


def test_conv_connections_drop_zero_weights_and_padding():
    # one channel, 3x3 kernel with a zero centre, pad 1: the corner output sees 3 of 8 taps
    weights = np.array([[[[1, 2, 3], [4, 0, 5], [6, 7, 8]]]])
    rows = conv_connections(weights, (1, 3, 3), (1, 1), (1, 1, 1, 1), 1)
    assert len(rows) == 9
    assert sorted(rows[0]) == [(1, 5), (3, 7), (4, 8)]  # output (0, 0): taps (1,2), (2,1), (2,2)
    assert sorted(rows[4]) == sorted([(0, 1), (1, 2), (2, 3), (3, 4), (5, 5), (6, 6), (7, 7), (8, 8)])
    assert all(k != 4 for k, _ in rows[4])  # the zero centre weight is gone
    # an all-zero kernel gives empty rows
    assert conv_connections(np.zeros((2, 1, 2, 2), dtype=np.int64), (1, 3, 3), (1, 1), (0, 0, 0, 0), 1) == [[]] * 8


@st.composite
def conv_specs(draw):
    group = draw(st.integers(1, 3))
    per_group = draw(st.integers(1, 2))
    out_per_group = draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pads = [draw(st.integers(0, 2)) for _ in range(4)]
    h = draw(st.integers(max(1, kh - pads[0] - pads[2]), 7))
    w = draw(st.integers(max(1, kw - pads[1] - pads[3]), 7))
    strides = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dtype = draw(st.sampled_from(sorted(CODE_RANGES)))
    seed = draw(st.integers(0, 2**16))
    zero_fraction = draw(st.sampled_from([0.0, 0.3, 0.8]))
    return dict(in_shape=(group * per_group, h, w), o=group * out_per_group, kernel=(kh, kw), strides=strides,
                pads=pads, group=group, dtype=dtype, seed=seed, zero_fraction=zero_fraction)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_specs())
def test_conv_property(spec):
    rng = np.random.default_rng(spec["seed"])
    c, h, w = spec["in_shape"]
    weights = random_weights(rng, (spec["o"], c // spec["group"], *spec["kernel"]), spec["zero_fraction"])
    x = random_codes(rng, spec["dtype"], (3, c * h * w))
    expected = ort_conv(x.reshape(3, c, h, w), weights, spec["strides"], spec["pads"], spec["group"])
    acc = conv_forward(x, weights, spec["in_shape"], spec["strides"], spec["pads"], spec["group"])
    assert np.array_equal(acc, expected), spec
    check_connections(weights, spec["in_shape"], spec["strides"], spec["pads"], spec["group"], x)


# -- QConv2D as a node run by execute_onnx ---------------------------------------------------
@pytest.mark.parametrize("case", CONV_CASES[1:7])
def test_qconv2d_node_thresholds(case):
    c, h, w, o, kh, kw, strides, pads, group = case
    rng = np.random.default_rng(11 + sum(case[:6]))
    batch = 5
    weights = random_weights(rng, (o, c // group, kh, kw))
    x = random_codes(rng, "UINT4", (batch, c, h, w))
    acc = ort_conv(x, weights, strides, pads, group)  # (N, O, OH, OW)
    _, _, oh, ow = acc.shape
    # 15 sorted thresholds per channel drawn around each channel's accumulator range (duplicates allowed)
    lo, hi = acc.min(axis=(0, 2, 3)), acc.max(axis=(0, 2, 3))
    thresholds = np.sort(np.stack([rng.integers(lo[i] - 2, hi[i] + 3, size=15) for i in range(o)]), axis=1)
    model = lbir_model("QConv2D", {"X": c * h * w}, o * oh * ow, batch,
                       weights=int_tensor("weights", weights), thresholds=int_tensor("thresholds", thresholds),
                       in_shape=[c, h, w], strides=list(strides), pads=list(pads), group=group,
                       in_dtype="UINT4", out_dtype="INT4", requant="thresholds", out_base=-8)
    out = run(model, X=x.reshape(batch, -1))
    assert out.shape == (batch, o * oh * ow)
    expected = -8 + (acc[..., None] >= thresholds[None, :, None, None, :]).sum(axis=-1)
    assert np.array_equal(out, expected.reshape(batch, -1))  # flat, channels first
    assert out.min() >= -8 and out.max() <= 7
    # requantize_codes with the op's channel map agrees with the direct count
    op = getCustomOp(model.graph.node[0])
    assert np.array_equal(op.channel_of_outputs(), np.repeat(np.arange(o), oh * ow))
    assert np.array_equal(requantize_codes(acc.reshape(batch, -1), "thresholds", thresholds, op.channel_of_outputs(),
                                           -8), threshold_count(acc.reshape(batch, -1), thresholds,
                                                                op.channel_of_outputs(), -8))


@pytest.mark.parametrize("case", [CONV_CASES[2], CONV_CASES[6], CONV_CASES[7]])
def test_qconv2d_node_requant_none_is_accumulator(case):
    c, h, w, o, kh, kw, strides, pads, group = case
    rng = np.random.default_rng(3)
    weights = random_weights(rng, (o, c // group, kh, kw))
    x = random_codes(rng, "INT4", (2, c, h, w))
    acc = ort_conv(x, weights, strides, pads, group)
    model = lbir_model("QConv2D", {"X": c * h * w}, acc[0].size, 2, weights=int_tensor("weights", weights),
                       in_shape=[c, h, w], strides=list(strides), pads=list(pads), group=group,
                       in_dtype="INT4", out_dtype="INT16", requant="none")
    out = run(model, X=x.reshape(2, -1))
    assert out.shape == (2, acc[0].size)
    assert np.array_equal(out, acc.reshape(2, -1))


def test_qconv2d_known_values_and_threshold_ties():
    # 1 channel 2x2 image, 2x2 all-ones kernel, pad 1 bottom/right only: acc of each window sum
    x = np.array([[1, 2, 3, 4]])
    weights = np.ones((1, 1, 2, 2), dtype=np.int64)
    acc = conv_forward(x, weights, (1, 2, 2), (1, 1), (0, 0, 1, 1), 1)
    assert acc.tolist() == [[[[10, 6], [7, 4]]]]
    # acc >= T counts ties: thresholds [4, 6, 7, 10] -> acc 10:4, 6:2, 7:3, 4:1
    model = lbir_model("QConv2D", {"X": 4}, 4, 1, weights=int_tensor("weights", weights),
                       thresholds=int_tensor("thresholds", [[4, 6, 7, 10]]), in_shape=[1, 2, 2], strides=[1, 1],
                       pads=[0, 0, 1, 1], group=1, in_dtype="UINT4", out_dtype="UINT3", out_base=0)
    assert run(model, X=x).tolist() == [[4, 2, 3, 1]]


def test_qconv2d_shape_and_datatype_inference():
    weights = np.ones((3, 2, 3, 2), dtype=np.int64)
    model = lbir_model("QConv2D", {"X": 2 * 5 * 6}, 3 * 2 * 5, 4, weights=int_tensor("weights", weights),
                       thresholds=int_tensor("thresholds", np.zeros((3, 1))), in_shape=[2, 5, 6], strides=[2, 1],
                       pads=[0, 0, 1, 0], group=1, in_dtype="UINT4", out_dtype="UINT3")
    model.graph.output[0].type.tensor_type.ClearField("shape")
    model = model.transform(InferShapes())
    # (5 + 1 - 3) // 2 + 1 = 2 rows, (6 - 2) // 1 + 1 = 5 columns
    assert model.get_tensor_shape("Y") == [4, 3 * 2 * 5]
    assert getCustomOp(model.graph.node[0]).out_shape() == (3, 2, 5)
    from qonnx.transformation.infer_datatypes import InferDataTypes
    model = model.transform(InferDataTypes())
    assert model.get_tensor_datatype("Y").name == "UINT3"


def test_qconv2d_accepts_nchw_input_and_rejects_fractions():
    weights = np.array([[[[1, -1]]], [[[2, 0]]]])
    node = conv_node(weights, (1, 2, 3), requant="none")
    op = getCustomOp(node)
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    context = {"X": x, "Y": None}
    op.execute_node(context, None)
    assert context["Y"].tolist() == [[-1, -1, -1, -1, 0, 2, 6, 8]]
    with pytest.raises(ValueError, match="integer"):
        op.execute_node({"X": x + 0.5, "Y": None}, None)


# -- QMaxPool2D against onnxruntime MaxPool ---------------------------------------------------


def conv_messages(weights, in_shape, **kw):
    return getCustomOp(conv_node(np.asarray(weights), in_shape, **kw)).verify_node()


def test_qconv2d_verify_node():
    assert conv_messages(np.ones((4, 2, 3, 3)), (2, 5, 5)) == []
    assert conv_messages(np.ones((4, 1, 3, 3)), (4, 5, 5), group=4) == []
    msgs = conv_messages(np.ones((4, 18)), (2, 5, 5))
    assert len(msgs) == 1 and "weights must be 4-D" in msgs[0] and "(4, 18)" in msgs[0]
    msgs = conv_messages(np.ones((4, 2, 3, 3)), (3, 5, 5))  # C mismatch
    assert len(msgs) == 1 and "disagree" in msgs[0] and "[3, 5, 5]" in msgs[0]
    msgs = conv_messages(np.ones((4, 1, 3, 3)), (4, 5, 5), group=2)  # group * C/group != C
    assert len(msgs) == 1 and "group 2" in msgs[0] and "disagree" in msgs[0]
    msgs = conv_messages(np.ones((3, 2, 3, 3)), (4, 5, 5), group=2)  # O not divisible by group
    assert len(msgs) == 1 and "disagree" in msgs[0]
    msgs = conv_messages(np.ones((4, 2, 3, 3)), (2, 5))  # in_shape rank
    assert len(msgs) == 1 and "disagree" in msgs[0]
    msgs = conv_messages(np.ones((4, 2, 3, 3)), (2, 5, 5), strides=(1,), pads=(1, 1))
    assert len(msgs) == 1 and "strides must have 2 entries and pads 4" in msgs[0]
    msgs = conv_messages(np.ones((4, 18)), (2, 5, 5), pads=(1, 1, 1))
    assert len(msgs) == 2


def test_qconv2d_verify_node_checks_thresholds():
    msgs = conv_messages(np.ones((4, 2, 3, 3)), (2, 5, 5), thresholds=np.zeros((3, 2)))
    assert any("threshold" in m for m in msgs)
    msgs = conv_messages(np.ones((4, 2, 3, 3)), (2, 5, 5), thresholds=np.array([[2, 1]] * 4))
    assert any("sorted" in m for m in msgs)


def test_ops_registered_in_domain():
    assert isinstance(getCustomOp(conv_node(np.ones((1, 1, 1, 1)), (1, 1, 1))), QConv2D)
