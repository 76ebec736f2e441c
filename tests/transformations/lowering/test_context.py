"""lowering/context.py: the walk state and the graph helpers."""
from fractions import Fraction

import numpy as np
import pytest
from lowering_graphs import Graph

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations.lowering.context import LoweringContext
from qonnx_c4ml.transformations.lowering.layer import Layer
from qonnx_c4ml.transformations.prepare import prepare_for_lowering


def context():
    g = Graph()
    x = g.quant("inp", 0.5, 4)
    shape = g.node("Shape", [x])
    y = g.node("Mul", [x, g.const(3.0)])
    y = g.quant(g.node("MatMul", [y, g.weights(g.random_codes((4, 2)))]), 0.5, 4)
    out = g.node("Reshape", [y, g.node("Concat", [shape], axis=0)])
    model = prepare_for_lowering(g.model([4], out), None)[0]
    return LoweringContext(model), {n.op_type: n for n in model.graph.node}


def test_consumers_and_the_only_consumer_ignores_shape_reads():
    ctx, nodes = context()
    quant_in = nodes["Mul"].input[0]
    assert ctx.only_consumer(quant_in) is nodes["Mul"]
    assert ctx.only_consumer(nodes["MatMul"].output[0]).op_type == "Quant"
    assert ctx.const_operand(nodes["Mul"], quant_in)[0] == 3.0 and ctx.const_operand(nodes["Mul"], quant_in)[1] == 1
    assert ctx.reaches_layer(nodes["Mul"]) and not ctx.reaches_layer(nodes["MatMul"])


def test_needed_by_host_follows_what_is_absorbed():
    ctx, nodes = context()
    mul_in = nodes["Mul"].input[0]
    assert ctx.needed_by_host(mul_in)
    ctx.removed.add(nodes["Mul"].name)
    assert not ctx.needed_by_host(mul_in)
    assert ctx.needed_by_host(ctx.model.graph.output[0].name)


def test_fresh_names_are_sanitized_and_unique():
    ctx, _ = context()
    assert ctx.fresh_name("/fc1/MatMul:0") == "fc1_MatMul_0" and ctx.fresh_name("::") == "layer"
    first, second = ctx.fresh_name("a/b"), ctx.fresh_name("a/b")
    assert first == "a_b" and second != first and second.startswith("a_b")


def test_emit_records_the_codes_datatype_and_host_appends():
    ctx, _ = context()
    node = LoweringContext.constant("k", np.float32(0.5))
    ctx.host(node)
    ctx.emit(node, "codes", "INT4")
    assert ctx.new_nodes == [node, node] and ctx.lbir_outputs == {"codes": "INT4"}
    assert node.op_type == "Constant" and node.attribute[0].t.float_data == [0.5]


def test_channel_vectors_and_expand():
    ctx, nodes = context()
    layer = Layer("l", None, None, np.zeros((2, 3, 1, 1)), [Fraction(1)] * 2, [Fraction(0)] * 2, [], [],
                  kind="conv", out_shape=(2, 3, 3), channel_axis=0)
    np.testing.assert_array_equal(ctx.channel_vector(None, np.array([[[1.0]], [[2.0]]]), layer), [1.0, 2.0])
    assert ctx.per_channel(nodes["Mul"], nodes["Mul"].input[1], layer) == [Fraction(3)] * 2
    with pytest.raises(UnsupportedModelError, match="varies along the spatial axes"):
        ctx.channel_vector(None, np.arange(18.0).reshape(2, 3, 3), layer)
    np.testing.assert_array_equal(ctx.expand([1, 2], (2, 2), 0), [[1, 1], [2, 2]])
    np.testing.assert_array_equal(ctx.expand([1, 2, 3, 4], (2, 2), None), [[1, 2], [3, 4]])
