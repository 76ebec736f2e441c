"""lowering/add.py: Add of two integer tensors -> QAdd, scales aligned exactly."""
import numpy as np
import pytest
from lowering_graphs import Graph, assert_exact, attr, lbir_nodes, lower

from qonnx_c4ml.errors import UnsupportedModelError


def residual(scale_a=0.5, scale_b=0.125, shape_b=(5,)):
    g = Graph()
    x = g.quant("inp", 0.5, 4)
    a = g.quant(g.node("MatMul", [x, g.weights(g.random_codes((4, 5)))]), scale_a, 4)
    b = g.quant(g.node("MatMul", [x, g.weights(g.random_codes((4, shape_b[0])))]), scale_b, 5)
    out = g.quant(g.node("Add", [a, b]), 0.25, 6)
    return g.model([4], out)


def test_residual_add_becomes_qadd_with_exact_scale_ratio():
    model = residual()
    lbir, _ = lower(model)
    add = lbir_nodes(lbir, "QAdd")[0]
    dense_a, dense_b = lbir_nodes(lbir, "QDense")
    assert add.input[:] == [dense_a.output[0], dense_b.output[0]]
    # 0.5*a + 0.125*b = 0.125 * (4*a + 1*b)
    np.testing.assert_array_equal(attr(add, "weights"), np.tile([4, 1], (5, 1)))
    assert attr(add, "in_dtype") == "INT4" and attr(add, "in_dtype_b") == "INT5"
    assert attr(add, "index_a") == list(range(5)) and attr(add, "channel_of") == list(range(5))
    assert_exact(model, lbir)


def test_ratio_with_both_terms():
    lbir, _ = lower(residual(scale_a=0.375, scale_b=0.25))
    np.testing.assert_array_equal(attr(lbir_nodes(lbir, "QAdd")[0], "weights"), np.tile([3, 2], (5, 1)))


def test_broadcasting_add_is_refused():
    with pytest.raises(UnsupportedModelError, match=r"Add of shapes \(5,\) and \(1,\) \(broadcasting\)"):
        lower(residual(shape_b=(1,)))
