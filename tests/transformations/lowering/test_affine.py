"""lowering/affine.py: a constant affine op between a quantizer and the next layer folds into
the activation (FINN's MultiThreshold -> Add -> Mul -> MatMul after ConvertQONNXtoFINN)."""
import numpy as np

from lowering_graphs import Graph
from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.reference import execute
from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.verify import random_inputs


def test_add_and_mul_between_quantizer_and_matmul_fold_exactly():
    g = Graph()
    x = g.quant("inp", 0.25, 4)
    shifted = g.node("Mul", [g.node("Add", [x, g.const(np.full(6, -1.5, np.float32))]), g.const(0.5)])
    rng = np.random.default_rng(0)
    y = g.quant(g.node("MatMul", [shifted, g.weights(rng.integers(-3, 4, (6, 4)), 0.5, 4)]), 0.125, 6)
    model = g.model([6], y)
    lowered = model.transform(InferLBIR())
    assert [n.op_type for n in lowered.graph.node if n.domain == DOMAIN] == ["QDense"]
    host = [n.op_type for n in lowered.graph.node if n.domain != DOMAIN]
    assert host.count("Add") + host.count("Mul") <= 2  # only the output dequantization is left
    x_in = random_inputs(model, 200, seed=4)
    assert np.array_equal(execute(lowered, x_in), execute(model, x_in))
