"""lowering/assemble.py: the new graph in topological order, refusing layers left on the host;
its circuit boundary read back."""
import numpy as np
import pytest
from onnx import helper
from lowering_graphs import Graph, lower

from qonnx.core.onnx_exec import execute_onnx

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations.lowering import circuit_boundary
from qonnx_c4ml.transformations.lowering.assemble import ordered


def test_ordered_puts_nodes_after_their_inputs():
    graph = helper.make_graph([], "g", [helper.make_tensor_value_info("x", 1, [1])], [])
    a = helper.make_node("Relu", ["x"], ["a"], name="a")
    b = helper.make_node("Relu", ["a"], ["b"], name="b")
    c = helper.make_node("Add", ["a", "b"], ["c"], name="c")
    assert [n.name for n in ordered([c, b, a], graph)] == ["a", "b", "c"]
    with pytest.raises(UnsupportedModelError, match=r"could not order 1 nodes after lowering \(first: d\)"):
        ordered([a, helper.make_node("Relu", ["missing"], ["d"], name="d")], graph)


def test_the_lowered_graph_keeps_host_tail_nodes_and_annotates_codes():
    g = Graph()
    y = g.quant(g.node("MatMul", [g.quant("inp", 0.5, 4), g.weights(g.random_codes((4, 3)))]), 0.5, 4)
    model = g.model([4], g.node("Softmax", [y], axis=-1))
    lbir, _ = lower(model)
    ops = [n.op_type for n in lbir.graph.node]
    assert ops.index("QDense") < ops.index("Mul") < ops.index("Softmax") == len(ops) - 1
    dense = next(n for n in lbir.graph.node if n.op_type == "QDense")
    assert lbir.get_tensor_datatype(dense.input[0]).name == "INT4"
    assert lbir.get_tensor_datatype(dense.output[0]).name == "INT4"
    assert lbir.model.producer_name == "qonnx-c4ml"


def test_a_matmul_left_on_the_host_is_refused():
    g = Graph()
    y = g.quant(g.node("MatMul", [g.quant("inp", 0.5, 4), g.weights(g.random_codes((4, 3)))]), 0.5, 4)
    y = g.node("MatMul", [g.node("Tanh", [y]), g.weights(g.random_codes((3, 2)))])
    with pytest.raises(UnsupportedModelError, match=r"\(MatMul\): is left outside the circuit"):
        lower(g.model([4], y))


def test_circuit_boundary_splits_host_prefix_circuit_and_tail():
    g = Graph()
    x = g.quant(g.node("Mul", ["inp", g.const(2.0)]), 0.5, 4)
    y = g.quant(g.node("MatMul", [x, g.weights(g.random_codes((4, 3)))]), 0.5, 4)
    model = g.model([4], g.node("Softmax", [y], axis=-1))
    lbir, _ = lower(model)
    boundary = circuit_boundary(lbir)
    dense = next(n for n in lbir.graph.node if n.op_type == "QDense")
    assert boundary.input_codes == dense.input[0] and boundary.output_codes == dense.output[0]
    assert boundary.first_tail_node.name.endswith("_dequant_mul")  # the host tail starts with its rescale
    # the tail run from the circuit's output codes on gives the model output
    feed = np.array([[0.25, -1.0, 3.0, 0.5]], np.float32)
    context = execute_onnx(lbir, {"inp": feed}, return_full_exec_context=True)
    feeds = {name: value for name, value in context.items() if value is not None}
    tail = execute_onnx(lbir, feeds, start_node=boundary.first_tail_node)
    np.testing.assert_array_equal(tail[lbir.graph.output[0].name], execute_onnx(model, {"inp": feed})[
        model.graph.output[0].name])
    with pytest.raises(ValueError, match="no LBIR nodes"):
        circuit_boundary(model)
