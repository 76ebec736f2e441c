"""Residual joins: the sum of two integer tensors.

In:  integer tensor a, integer tensor b (same per-sample shape, no broadcasting) -> Add(a, b)
     -> [glue] -> Q
Out: QAdd computing p*a + q*b per element, where s_a/s_b = p/q exactly, so
     s_a*a + s_b*b = (s_b/q) * (p*a + q*b); then quantizers.finish_layer: glue -> Q becomes
     its thresholds.  (An Add with a constant operand is glue, not this.)
"""
import numpy as np

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations.lowering.layer import Layer
from qonnx_c4ml.transformations.lowering.quantizers import finish_layer
from qonnx_c4ml.transformations.lowering.registry import register


def both_operands_integer(ctx, node, tensor):
    """The residual Add's condition: each operand is an integer tensor the walk has reached."""
    return all(i in ctx.acts for i in node.input)


@register("Add", when=both_operands_integer, order=70)
def lower_add(ctx, node, act):
    """Residual Add of two integer tensors: s_a*a + s_b*b = (s_b/q) * (p*a + q*b), s_a/s_b = p/q."""
    act_a, act_b = (ctx.acts[i] for i in node.input)
    if act_a.index.shape != act_b.index.shape:
        raise UnsupportedModelError(f"Add of shapes {act_a.index.shape} and {act_b.index.shape} "
                                    "(broadcasting) is not supported", node)
    n = act_a.index.size
    weights = np.zeros((n, 2), dtype=np.int64)
    alpha, beta = [], []
    for e, (s_a, s_b, o_a, o_b) in enumerate(zip(act_a.scale.ravel(), act_b.scale.ravel(),
                                                 act_a.offset.ravel(), act_b.offset.ravel())):
        ratio = s_a / s_b
        weights[e] = ratio.numerator, ratio.denominator
        alpha.append(s_b / ratio.denominator)
        beta.append(o_a + o_b)
    layer = Layer(ctx.fresh_name(node.name or node.output[0]), node, act_a, weights, alpha, beta,
                  [node.name], [], kind="add", out_shape=act_a.index.shape, channel_axis=None,
                  out_index=np.arange(n).reshape(act_a.index.shape), act_b=act_b)
    return finish_layer(ctx, layer, node.output[0])
