"""lowering/registry.py: the rule table, and a family registered from outside the package."""
import numpy as np
import pytest
from lowering_graphs import Graph, assert_exact, lbir_nodes, lower

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations.lowering import register, rules
from qonnx_c4ml.transformations.lowering.activation import Activation
from qonnx_c4ml.transformations.lowering.context import LoweringContext
from qonnx_c4ml.transformations.lowering.registry import RULES, find_rule
from qonnx_c4ml.transformations.prepare import prepare_for_lowering


def neg_net():
    g = Graph()
    x = g.node("Neg", [g.quant("inp", 0.5, 4)])
    out = g.quant(g.node("MatMul", [x, g.weights(g.random_codes((4, 3)))]), 0.5, 6)
    return g.model([4], out)


def lower_neg(ctx, node, act):
    """-(s*c + o) = (-s)*c + (-o): the same codes, negated scale and offset; no LBIR node."""
    ctx.removed.add(node.name)
    return [Activation(act.codes, act.index, -act.scale, -act.offset, -act.scale_f32, -act.offset_f32,
                       act.lo, act.hi, act.codes_shape, node.output[0])]


def test_builtin_rules_in_the_order_the_walk_tries_them():
    names = [r.name.rsplit(".", 1)[-1] for r in rules()]
    assert names == ["lower_layout", "lower_pad", "lower_dense", "lower_conv", "lower_average_pool",
                     "lower_max_pool", "lower_add", "identity_layer", "lower_affine_glue"]
    assert [r.order for r in rules()] == sorted(r.order for r in rules())


def test_find_rule_picks_the_residual_add_before_glue_and_none_for_host_ops():
    g = Graph()
    a = g.quant("inp", 0.5, 4)
    b = g.quant(g.node("Mul", [a, g.const(2.0)]), 0.5, 5)
    out = g.quant(g.node("Add", [a, b]), 0.5, 6)
    model = prepare_for_lowering(g.model([3], g.node("Tanh", [out])), None)[0]
    ctx = LoweringContext(model)
    mul, add, tanh = (next(n for n in model.graph.node if n.op_type == t) for t in ("Mul", "Add", "Tanh"))
    assert find_rule(ctx, mul, a).name.endswith("identity_layer")  # constant Mul -> Quant: requantization
    ctx.acts = {a: None, b: None}
    assert find_rule(ctx, add, a).name.endswith("lower_add")
    assert find_rule(ctx, tanh, out) is None  # stays on the host


def test_a_family_registered_from_another_module_is_used_by_inferlbir():
    with pytest.raises(UnsupportedModelError, match="no quantized layer"):
        lower(neg_net())  # without the rule the Neg stays on the host, and the MatMul after it
    register("Neg", order=80)(lower_neg)
    try:
        assert any(r.lower is lower_neg for r in rules())
        model = neg_net()
        lbir, acts = lower(model)
        assert not any(n.op_type == "Neg" for n in lbir.graph.node) and len(lbir_nodes(lbir)) == 1
        neg_out = next(t for t in acts if t.startswith("Neg_"))
        assert acts[neg_out].scale[0] == -0.5
        assert_exact(model, lbir)
    finally:
        RULES[:] = [r for r in RULES if r.lower is not lower_neg]
    assert not any(r.lower is lower_neg for r in rules())


def test_register_wants_op_type_strings():
    with pytest.raises(TypeError, match="op types as strings"):
        register(("MatMul", "Gemm"))
    with pytest.raises(TypeError):
        register()


def test_reregistering_the_same_function_replaces_its_rule():
    before = len(RULES)
    register("Neg", order=80)(lower_neg)
    register("Neg", "Abs", order=90)(lower_neg)
    try:
        mine = [r for r in RULES if r.lower is lower_neg]
        assert len(RULES) == before + 1 and len(mine) == 1 and mine[0].op_types == ("Neg", "Abs")
    finally:
        RULES[:] = [r for r in RULES if r.lower is not lower_neg]
    assert np.array_equal([r.order for r in rules()], sorted(r.order for r in RULES))
