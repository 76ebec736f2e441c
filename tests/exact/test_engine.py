"""The exact reference (qonnx_c4ml.exact) on its own: rounding, zero-points, qonnx agreement
where float32 is exact, and a brute-force Fraction evaluation where it is not."""
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.general.intquant import resolve_rounding_mode
from qonnx.transformation.infer_shapes import InferShapes

from exact_models import tie_heavy_mlp
from qonnx_builder import QONNX_DOMAIN, _Graph
from qonnx_c4ml.exact import ExactUnsupported, exact_reference
from qonnx_c4ml.exact.quantizers import rational_round
from qonnx_c4ml.reference import execute_context
from qonnx_c4ml.verify import random_inputs

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MODES = ["ROUND", "HALF_EVEN", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN"]


@pytest.mark.parametrize("mode", MODES)
def test_rational_round_matches_qonnx_modes_ties_included(mode):
    num = np.arange(-40, 41, dtype=np.int64)
    for den in (1, 2, 4, 8):  # num/den exact in float64: qonnx's numpy rounding is the truth
        expected = resolve_rounding_mode(mode)(num / den).astype(np.int64)
        assert np.array_equal(rational_round(num, np.asarray(den), mode), expected), den
        # the same ratios with 90-bit integers take the Python-integer path
        big = num.astype(object) * 2**90
        assert np.array_equal(rational_round(big, np.asarray(den * 2**90, dtype=object), mode).astype(np.int64),
                              expected)


def _exact_values(model, x):
    batch_model, context = execute_context(model, x)
    return exact_reference(batch_model, context), context[batch_model.graph.output[0].name]


def _po2_graph(mode, zeropt, signed):
    """input Quant -> MatMul (po2 weights) -> Quant(mode, zero-point): float32 is exact here."""
    rng = np.random.default_rng(1)
    g = _Graph()
    x = g.quant("inp", np.float32(0.25), 6, "input_quant")
    w = g.quant(g.const(rng.integers(-4, 4, (6, 5)) * 0.125), np.float32(0.125), 4, "w_quant")
    x = g.node("MatMul", [x, w], "fc")
    x = g.node("Quant", [x, g.const(np.float32(0.0625)), g.const(np.float32(zeropt)), g.const(4.0)], "act_quant",
               QONNX_DOMAIN, signed=int(signed), narrow=0, rounding_mode=mode)
    graph = helper.make_graph(g.nodes, "po2", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, 6])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 5])], initializer=g.inits)
    return ModelWrapper(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])).transform(InferShapes())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("zeropt,signed", [(0, True), (3, False), (-2, True)])
def test_power_of_two_graph_equals_qonnx_including_zero_points(mode, zeropt, signed):
    model = _po2_graph(mode, zeropt, signed)
    x = random_inputs(model, 400, seed=2)
    exact, reference = _exact_values(model, x)
    values = exact.fractions().astype(object)
    assert all(Fraction(float(r)) == v for r, v in zip(reference.ravel(), values.ravel()))


@pytest.mark.parametrize("name", ["jets_w4a4_po2.onnx", "jets_w2a2_po2.onnx", "cnn/mnist_cnn_w4a4_po2.onnx",
                                  "cnn/residual_block.onnx", "cnn/trunc_avgpool.onnx",
                                  "cnn/depthwise_separable.onnx", "cnn/global_avgpool.onnx"])
def test_exact_equals_float32_qonnx_where_float32_is_exact(name):
    model = ModelWrapper(str(FIXTURES / name))
    x = random_inputs(model, 100, seed=4)
    exact, reference = _exact_values(model, x)
    assert np.array_equal(exact.approx(), reference.astype(np.float64))


def brute_force_tie_mlp(model, x, act_scale=0.125, weight_scale=0.1):
    """tie_heavy_mlp evaluated sample by sample in Fractions (only the host input codes in float32)."""
    from qonnx_c4ml.transformations.constants import ConstantEvaluator

    consts = ConstantEvaluator(model)
    weights = [np.where(consts.value(n.input[0]) >= 0, 1, -1) for n in model.graph.node if n.op_type == "BipolarQuant"]
    s, w = Fraction(float(np.float32(act_scale))), Fraction(float(np.float32(weight_scale)))
    codes = np.clip(np.round(x / np.float32(act_scale)), -8, 7).astype(np.int64)
    out = []
    for sample in codes:
        q = [int(v) for v in sample]
        for layer, matrix in enumerate(weights):
            last = layer == len(weights) - 1
            lo, hi = (-8, 7) if last else (0, 15)
            acc = [sum(q[k] * int(matrix[k, m]) for k in range(len(q))) for m in range(matrix.shape[1])]
            u = [max(Fraction(a) * s * w, Fraction(0)) / s if not last else Fraction(a) * s * w / s for a in acc]
            q = [min(max(round(v), lo), hi) for v in u]  # Python's round of a Fraction: half to even
        out.append([Fraction(v) * s for v in q])
    return np.array(out, dtype=object)


def test_tie_heavy_mlp_matches_brute_force_fractions():
    model = tie_heavy_mlp()
    x = random_inputs(model, 150, seed=5)
    exact, reference = _exact_values(model, x)
    expected = brute_force_tie_mlp(model, x)
    assert np.array_equal(exact.fractions().astype(object), expected)
    # and the float32 reference really is noisy on this model
    assert np.mean(reference.astype(np.float64) != exact.approx()) > 0.01


def test_op_without_exact_rule_is_named():
    model = tie_heavy_mlp()
    g = model.graph
    tail = helper.make_node("Softmax", [g.output[0].name], ["probs"], name="softmax", axis=-1)
    g.node.append(tail)
    out = helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])
    g.output.pop()
    g.output.append(out)
    x = random_inputs(model, 10)
    batch_model, context = execute_context(model, x)
    with pytest.raises(ExactUnsupported, match="Softmax"):
        exact_reference(batch_model, context)


def test_random_graphs_lbir_equals_exact_reference():
    """Differential: 60 random MLPs (half with float scales/BatchNorm, every quantizer kind and
    rounding mode, softmax-free) — LBIR on the exact reference's code for every output, and
    the exact reference equal to float32 qonnx on the power-of-two ones."""
    from qonnx_builder import build_mlp, random_mlp_spec
    from qonnx_c4ml.transformations import InferLBIR
    from qonnx_c4ml.comparison import compare, compare_exact, output_lsb
    from qonnx_c4ml.reference import execute

    rng = np.random.default_rng(2026)
    for case in range(60):
        spec = random_mlp_spec(rng, float_scales=0.5)
        model = build_mlp(spec)
        x = random_inputs(model, 200, seed=case)
        exact, reference = _exact_values(model, x)
        lbir_model = model.transform(InferLBIR())
        lsb = output_lsb(lbir_model)
        check = compare_exact(compare("lbir", reference, execute(lbir_model, x), lsb, 0), exact.approx(),
                              execute(lbir_model, x), lsb)
        assert check.exact_same_code_fraction == 1.0, (case, spec)
        if spec.po2:
            assert np.array_equal(exact.approx(), reference.astype(np.float64)), (case, spec)
