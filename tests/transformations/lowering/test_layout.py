"""lowering/layout.py: layout ops permute the activation's index; no LBIR node of their own."""
import numpy as np
import pytest
from lowering_graphs import Graph, assert_exact, attr, lbir_nodes, lower

from qonnx_c4ml.errors import UnsupportedModelError


def transposed_dense(perm=(0, 2, 1), flatten_axis=1):
    g = Graph()
    x = g.quant("inp", 0.5, 4)
    x = g.node("Flatten", [g.node("Transpose", [x], perm=list(perm))], axis=flatten_axis)
    codes = g.random_codes((6, 4))
    out = g.quant(g.node("MatMul", [x, g.weights(codes)]), 0.5, 6)
    return g.model([2, 3], out), codes


def test_transpose_and_flatten_fold_into_the_weight_columns():
    model, codes = transposed_dense()
    lbir, acts = lower(model)
    (dense,) = lbir_nodes(lbir)
    assert not any(n.op_type in ("Transpose", "Flatten") for n in lbir.graph.node)
    # feature j of the transposed (3, 2) image is input code index.ravel()[j] of the (2, 3) input
    flat = next(a for t, a in acts.items() if t.startswith("Flatten_"))
    np.testing.assert_array_equal(flat.index, np.arange(6).reshape(2, 3).T.ravel())
    expected = np.zeros((4, 6), np.int64)
    expected[:, flat.index] = codes.T
    np.testing.assert_array_equal(attr(dense, "weights"), expected)
    assert attr(dense, "in_shape") == [2, 3]
    assert_exact(model, lbir)


def test_reshape_with_constant_target():
    g = Graph()
    x = g.node("Reshape", [g.quant("inp", 0.5, 4), g.const([1, 6], np.int64)])
    out = g.quant(g.node("MatMul", [x, g.weights(g.random_codes((6, 3)))]), 0.5, 6)
    model = g.model([2, 3], out)
    lbir, _ = lower(model)
    assert len(lbir_nodes(lbir)) == 1
    assert_exact(model, lbir)


def test_layout_after_the_last_layer_is_a_host_gather():
    g = Graph()
    x = g.quant("inp", 0.5, 4)
    y = g.quant(g.node("Conv", [x, g.weights(g.random_codes((2, 2, 1, 1)))], kernel_shape=[1, 1]), 0.5, 5)
    out = g.node("Transpose", [y], perm=[0, 2, 3, 1])
    model = g.model([2, 2, 3], out)
    lbir, _ = lower(model)
    gather = [n for n in lbir.graph.node if n.op_type == "Gather"]
    assert len(gather) == 1 and gather[0].name.endswith("_gather")
    assert_exact(model, lbir)


def test_flatten_of_the_batch_axis_is_refused():
    with pytest.raises(UnsupportedModelError, match="Flatten with axis=2 mixes the batch axis"):
        lower(transposed_dense(flatten_axis=2)[0])
