"""chisel/stream/residual.py: which Adds a streamed join takes, and the join engine evaluated in
numpy equals QAdd's own execution pixel by pixel (the residual_block fixture's Add)."""
import numpy as np
import pytest
from qonnx.custom_op.registry import getCustomOp
from residual_models import residual_lbir, with_pixel_dependent_add

from qonnx_c4ml.chisel.generator import port_for_dtype
from qonnx_c4ml.chisel.logic.evaluate import evaluate
from qonnx_c4ml.chisel.stream.residual import join_module, join_parameters
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir.dtypes import datatype_range

SHAPE = (4, 8, 8)  # the residual block's tensors


def add_op(lbir):
    return getCustomOp(next(node for node in lbir.graph.node if node.op_type == "QAdd"))


def test_join_parameters_collapse_per_element_rows_to_channels():
    op = add_op(residual_lbir())
    weights, thresholds = join_parameters(op, SHAPE)
    assert weights.shape == (4, 2) and thresholds.shape == (4, op.threshold_codes().shape[1])
    channel_of = op.channel_of_outputs()
    for c in range(4):
        element = c * 64 + 17
        assert (weights[c] == op.weight_codes()[channel_of[element]]).all()
        assert (thresholds[c] == op.threshold_codes()[channel_of[element]]).all()


def test_join_engine_equals_the_add_pixel_by_pixel():
    lbir = residual_lbir()
    op = add_op(lbir)
    port_a, port_b = (port_for_dtype(4, op.get_nodeattr(k)) for k in ("in_dtype", "in_dtype_b"))
    module, out = join_module("add_join", op, SHAPE, port_a, port_b)
    rng = np.random.default_rng(3)
    n = 40
    a, b = (rng.integers(*datatype_range(op.get_nodeattr(k)), endpoint=True, size=(n, 256))
            for k in ("in_dtype", "in_dtype_b"))
    context = {op.onnx_node.input[0]: a.astype(np.float32), op.onnx_node.input[1]: b.astype(np.float32)}
    op.execute_node(context, None)
    want = context[op.onnx_node.output[0]].astype(np.int64)  # (n, c*64 + p)
    pixels = lambda t: t.reshape(n, 4, 64).transpose(0, 2, 1).reshape(n * 64, 4)  # noqa: E731
    got = evaluate(module.lowered(), np.concatenate([pixels(a), pixels(b)], axis=1), check_ranges=True)
    np.testing.assert_array_equal(got, pixels(want))
    assert out.elements == 4 and out.width == 4 * out.bits


def test_adds_a_stream_cannot_join_are_refused_by_name():
    lbir = residual_lbir()
    add = with_pixel_dependent_add(lbir)
    with pytest.raises(UnsupportedModelError, match=f"node '{add.name}' \\(QAdd\\): .*thresholds differ"):
        join_parameters(getCustomOp(add), SHAPE)
    op = add_op(residual_lbir())
    index = list(op.get_nodeattr("index_b"))
    op.set_nodeattr("index_b", index[1:] + index[:1])  # operand b gathered in another order
    with pytest.raises(UnsupportedModelError, match="element by element"):
        join_parameters(op, SHAPE)
    op = add_op(residual_lbir())
    weights = op.weight_codes().copy()
    weights[op.channel_of_outputs()[5]] = [2, 1]
    op.set_nodeattr("weights", weights)
    with pytest.raises(UnsupportedModelError, match="operand weights differ between pixels"):
        join_parameters(op, SHAPE)
