"""Constant Add/Sub/Mul/Div between a quantizer and the next layer: an affine map of the codes.

QONNX pattern in: Q -> Add|Sub|Mul|Div(constant) -> ... -> MatMul|Gemm|Conv, the chain running
through constant affine ops, layout ops and MaxPool (FINN graphs right after
ConvertQONNXtoFINN or tidy-up: MultiThreshold -> Add(-bias) -> Mul(scale) -> MatMul).
LBIR out: no node; the op folds into the activation's scale and offset (activation.py), which
the next layer's requantization absorbs exactly.  Tried after every other rule (order 1100):
an affine op that reaches a quantizer instead is glue of a layer (quantizers.py).
"""
import numpy as np

from qonnx_c4ml.transformations.constants import LAYOUT_OPS
from qonnx_c4ml.transformations.lowering.context import LINEAR_OPS
from qonnx_c4ml.transformations.lowering.activation import Activation, fractions
from qonnx_c4ml.transformations.lowering.registry import register

AFFINE_OPS = ("Add", "Sub", "Mul", "Div")  # GLUE_OPS without BatchNormalization (one constant operand)
LAYER_OPS = LINEAR_OPS + ("Conv",)


def _reaches_layer(ctx, node):
    """(reaches, through_max_pool): True if `node`'s output runs through constant affine ops,
    layout ops and MaxPool into a layer op (max pooling commutes with a positive affine map)."""
    pooled = False
    for _ in range(64):
        nxt = ctx.only_consumer(node.output[0])
        if nxt is None:
            return False, pooled
        if nxt.op_type in LAYER_OPS:
            return nxt.input[0] == node.output[0], pooled
        pooled = pooled or nxt.op_type == "MaxPool"
        if nxt.op_type in LAYOUT_OPS + ("MaxPool",) or (
                nxt.op_type in AFFINE_OPS and ctx.const_operand(nxt, node.output[0])[0] is not None):
            node = nxt
            continue
        return False, pooled
    return False, pooled


def _integer_operand(ctx, node, tensor):
    return tensor in node.input


@register(*AFFINE_OPS, when=_integer_operand, order=1100)
def lower_affine_glue(ctx, node, act):
    """[the activation after the constant Add/Sub/Mul/Div `node`] if it leads into the next
    layer (module doc), else [] (the node stays on the host)."""
    tensor = act.tensor
    reaches, pooled = _reaches_layer(ctx, node)
    if not reaches:
        return []
    value, pos = ctx.const_operand(node, tensor)
    if value is None:
        return []
    shape = act.index.shape
    try:
        c32 = np.broadcast_to(np.asarray(value, np.float32), (1,) + shape)[0]
    except ValueError:
        return []
    if np.broadcast_shapes(np.asarray(value).shape, (1,) + shape) != (1,) + shape:
        return []
    c = fractions(c32, shape)
    scale, offset, scale32, offset32 = act.scale, act.offset, act.scale_f32, act.offset_f32
    if node.op_type == "Mul":
        scale, offset, scale32, offset32 = scale * c, offset * c, scale32 * c32, offset32 * c32
    elif node.op_type == "Div":
        if pos == 0 or np.any(c32 == 0):
            return []
        scale, offset, scale32, offset32 = scale / c, offset / c, scale32 / c32, offset32 / c32
    elif node.op_type == "Add":
        offset, offset32 = offset + c, offset32 + c32
    elif pos == 1:  # Sub: x - c
        offset, offset32 = offset - c, offset32 - c32
    else:  # Sub: c - x
        scale, offset, scale32, offset32 = -scale, c - offset, -scale32, c32 - offset32
    if pooled and any(v <= 0 for v in scale.ravel()):
        return []  # max pooling does not commute with a negative scale
    ctx.removed.add(node.name)
    return [Activation(act.codes, act.index, scale, offset, scale32.astype(np.float32),
                       offset32.astype(np.float32), act.lo, act.hi, act.codes_shape, node.output[0], act.pads)]
