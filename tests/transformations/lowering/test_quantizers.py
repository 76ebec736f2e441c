"""lowering/quantizers.py: glue and quantizers folded into exact integer thresholds."""
from fractions import Fraction

import numpy as np
import pytest
from lowering_graphs import Graph, assert_exact, attr, lbir_nodes, lower

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations.lowering.context import LoweringContext
from qonnx_c4ml.transformations.lowering.layer import Layer
from qonnx_c4ml.transformations.lowering.quantizers import fold_glue, glue_reaches_quantizer
from qonnx_c4ml.transformations.prepare import prepare_for_lowering


def dense_then(glue, quantizer="quant"):
    """inp -> Q -> MatMul -> glue ops -> quantizer."""
    g = Graph()
    y = g.node("MatMul", [g.quant("inp", 0.5, 4), g.weights(g.random_codes((4, 3)))])
    for op, value in glue:
        if op == "BatchNormalization":
            gamma, beta, mean, var = (g.const(v) for v in value)
            y = g.node(op, [y, gamma, beta, mean, var], epsilon=0.0)
        elif op == "Relu":
            y = g.node(op, [y])
        else:
            y = g.node(op, [y, g.const(value)])
    if quantizer == "quant":
        y = g.quant(y, 0.25, 4)
    elif quantizer == "bipolar":
        y = g.node("BipolarQuant", [y, g.const(0.5)], "qonnx.custom_op.general")
    return g.model([4], y)


@pytest.mark.parametrize("glue", [
    [("Add", [0.25, -0.5, 1.0])],
    [("Mul", 2.0), ("Sub", 0.5), ("Relu", None)],
    [("Div", [2.0, 4.0, 0.5])],
    [("BatchNormalization", ([2.0, -1.0, 0.5], [0.25, 0.0, -0.5], [0.0, 0.5, 1.0], [1.0, 4.0, 0.25]))],
])
def test_glue_folds_into_one_thresholded_qdense(glue):
    model = dense_then(glue)
    lbir, _ = lower(model)
    (dense,) = lbir_nodes(lbir)
    assert attr(dense, "requant") == "thresholds"
    folded = {n.name for n in model.graph.node if n.op_type in [op for op, _ in glue]}
    assert folded and not folded & {n.name for n in lbir.graph.node}  # absorbed into the QDense
    assert dense.name == next(n.name for n in model.graph.node if n.op_type == "MatMul")
    assert_exact(model, lbir)


def test_bipolar_output_is_one_threshold_per_channel():
    model = dense_then([], quantizer="bipolar")
    lbir, _ = lower(model)
    (dense,) = lbir_nodes(lbir)
    assert attr(dense, "thresholds").shape == (3, 1) and attr(dense, "out_dtype") == "BINARY"
    assert_exact(model, lbir)


def test_quantizer_after_quantizer_is_an_identity_layer():
    g = Graph()
    y = g.quant(g.node("Mul", [g.quant("inp", 0.5, 4), g.const(0.5)]), 0.125, 3)
    model = g.model([5], y)
    lbir, _ = lower(model)
    (dense,) = lbir_nodes(lbir)
    assert dense.name.endswith("_requant")
    np.testing.assert_array_equal(attr(dense, "weights"), np.eye(5, dtype=np.int64))
    assert_exact(model, lbir)


def test_a_non_foldable_op_between_layers_is_refused():
    g = Graph()
    y = g.node("MatMul", [g.quant("inp", 0.5, 4), g.weights(g.random_codes((4, 3)))])
    y = g.quant(g.node("Tanh", [y]), 0.25, 4)
    y = g.quant(g.node("MatMul", [y, g.weights(g.random_codes((3, 2)))]), 0.25, 4)
    with pytest.raises(UnsupportedModelError, match=r"\(Tanh\): sits between quantized layers"):
        lower(g.model([4], y))


def test_fold_glue_and_glue_reaches_quantizer_on_a_context():
    model = prepare_for_lowering(dense_then([("Mul", [2.0, 0.5, 4.0]), ("Add", 0.25)]), None)[0]
    ctx = LoweringContext(model)
    mul = next(n for n in model.graph.node if n.op_type == "Mul")
    add = next(n for n in model.graph.node if n.op_type == "Add")
    assert glue_reaches_quantizer(ctx, mul) and glue_reaches_quantizer(ctx, add)
    layer = Layer("l", None, None, np.zeros((3, 4), np.int64), [Fraction(1, 4)] * 3, [Fraction(0)] * 3, [], [],
                  out_shape=(3,))
    alpha, beta = fold_glue(ctx, mul, mul.input[0], layer.alpha, layer.beta, layer)
    assert alpha == [Fraction(1, 2), Fraction(1, 8), Fraction(1)] and beta == [0, 0, 0]
    alpha, beta = fold_glue(ctx, add, add.input[0], alpha, beta, layer)
    assert beta == [Fraction(1, 4)] * 3
