"""lowering/dense.py: MatMul/Gemm with quantized weights -> QDense, exact against qonnx."""
import numpy as np
import pytest
from lowering_graphs import Graph, assert_exact, attr, lbir_nodes, lower

from qonnx_c4ml.errors import UnsupportedModelError


def mlp(final_quant=True, gemm=False, trans_b=False, trans_a=0, seed=0):
    g = Graph(seed)
    x = g.quant("inp", 0.5, 4)
    w1 = g.random_codes((6, 5))
    if gemm:
        y = g.node("Gemm", [x, g.weights(w1.T if trans_b else w1), g.const(np.arange(5) * 0.25)],
                   transB=int(trans_b), transA=trans_a)
    else:
        y = g.node("MatMul", [x, g.weights(w1)])
    y = g.quant(g.node("Relu", [y]), 0.25, 4, signed=False)
    w2 = g.random_codes((5, 3))
    out = g.node("MatMul", [y, g.weights(w2, 0.125)])
    if final_quant:
        out = g.quant(out, 0.5, 5)
    return g.model([6], out), w1, w2


def test_matmul_becomes_qdense_with_the_weight_codes_and_thresholds():
    model, w1, w2 = mlp()
    lbir, acts = lower(model)
    first, second = lbir_nodes(lbir, "QDense")
    np.testing.assert_array_equal(attr(first, "weights"), w1.T)  # (n_out, n_in) over the input codes
    np.testing.assert_array_equal(attr(second, "weights"), w2.T)
    assert attr(first, "requant") == "thresholds" and attr(first, "in_dtype") == "INT4"
    assert attr(first, "out_dtype") == "UINT4" and attr(first, "in_shape") == [6]
    assert attr(first, "thresholds").shape[0] == 5
    assert len(acts) == 3  # input codes, hidden codes, output codes
    assert_exact(model, lbir)


def test_last_matmul_without_quantizer_leaves_the_accumulator_to_the_host():
    model, _, _ = mlp(final_quant=False)
    lbir, _ = lower(model)
    last = lbir_nodes(lbir, "QDense")[-1]
    assert attr(last, "requant") == "none" and last.output[0].endswith("_acc")
    mul = next(n for n in lbir.graph.node if n.input and n.input[0] == last.output[0])
    assert mul.op_type == "Mul" and mul.name.endswith("_dequant_mul")
    assert_exact(model, lbir)


@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_with_bias_and_trans_b(trans_b):
    model, w1, _ = mlp(gemm=True, trans_b=trans_b)
    lbir, _ = lower(model)
    np.testing.assert_array_equal(attr(lbir_nodes(lbir, "QDense")[0], "weights"), w1.T)
    assert_exact(model, lbir)


def test_gemm_trans_a_is_refused_naming_the_node():
    model, _, _ = mlp(gemm=True, trans_a=1)
    with pytest.raises(UnsupportedModelError, match=r"\(Gemm\): Gemm with transA=1 is not supported"):
        lower(model)


def test_non_constant_weights_are_refused():
    g = Graph()
    x = g.quant("inp", 0.5, 4)
    out = g.quant(g.node("MatMul", [x, x]), 0.5, 4)
    with pytest.raises(UnsupportedModelError, match="the weight operand is not a constant"):
        lower(g.model([4], out))
