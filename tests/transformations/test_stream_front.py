"""transformations/stream_front.py: the front the streaming style takes -- conv/pool chains and
residual blocks (identity and downsampling shortcuts), never dense layers; a block whose Add
cannot be joined pixel by pixel ends the front, and the refusal says why."""
from pathlib import Path

from residual_models import residual_lbir, with_pixel_dependent_add

from qonnx_c4ml.io import read_model
from qonnx_c4ml.lbir.graph import lbir_graph
from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.transformations.stream_front import (
    ResidualNodes, front_nodes, front_output, residual_at, streaming_front, streaming_refusal)

CNN = Path(__file__).resolve().parents[1] / "fixtures" / "cnn" / "chisel4ml_cnn.onnx"


def test_a_conv_pool_chain_streams_and_dense_layers_do_not():
    nodes, circuit_input, _ = lbir_graph(read_model(CNN).transform(InferLBIR()))
    front, rest = streaming_front(nodes, circuit_input)
    assert [n.op_type for n in front] == ["QConv2D", "QMaxPool2D"] and [n.op_type for n in rest] == ["QDense"]
    assert front_output(front) == rest[0].input[0]
    assert streaming_front(rest, rest[0].input[0]) == ([], rest)
    assert "needs the circuit to start with convolution" in str(streaming_refusal(rest, rest[0].input[0]))


def test_a_residual_block_is_one_item_of_the_front():
    nodes, circuit_input, _ = lbir_graph(residual_lbir())
    front, rest = streaming_front(nodes, circuit_input)
    assert len(front) == 1 and isinstance(front[0], ResidualNodes) and [n.op_type for n in rest] == ["QDense"]
    block = front[0]
    # Add(block input, conv(conv(block input))): operand a is the identity skip
    assert block.branch_a == [] and [n.name for n in block.branch_b] == ["Conv_0", "Conv_1"]
    assert list(block.add.input) == [circuit_input, block.branch_b[-1].output[0]]
    assert front_nodes(front) == block.branch_b + [block.add] and front_output(front) == rest[0].input[0]


def test_residual_at_needs_two_chains_meeting_in_one_add():
    nodes, circuit_input, _ = lbir_graph(residual_lbir())
    readers = {}
    for node in nodes:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    assert residual_at(circuit_input, readers) is not None
    conv_out = nodes[0].output[0]  # read by one node only: no block starts there
    assert residual_at(conv_out, readers) is None


def test_a_block_the_join_cannot_take_ends_the_front_with_its_reason():
    lbir = residual_lbir()
    add = with_pixel_dependent_add(lbir)
    nodes, circuit_input, _ = lbir_graph(lbir)
    assert streaming_front(nodes, circuit_input) == ([], nodes)
    refusal = streaming_refusal(nodes, circuit_input)
    assert refusal.node_name == add.name and "thresholds differ between pixels" in str(refusal)
