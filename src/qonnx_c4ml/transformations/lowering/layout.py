"""Layout ops on an integer tensor: a permutation of where each element's code lives.

In:  integer tensor -> Transpose | Reshape (constant target) | Flatten(axis=1) | Squeeze |
     Unsqueeze | Identity   (Shape/Gather/Concat flatten idioms are constant-folded by prepare.py)
Out: no node: the activation's `index`, `scale` and `offset` are transposed or reshaped, and the
     next layer's weight columns (or the host's Gather at the output) read the codes in place.
"""
import numpy as np
from onnx import helper

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations.batch_axis import per_sample_shape, transpose_axes
from qonnx_c4ml.transformations.constants import LAYOUT_OPS
from qonnx_c4ml.transformations.lowering.activation import Activation
from qonnx_c4ml.transformations.lowering.registry import register


def reshaped(ctx, node, batch_in):
    """The batched output shape of a Reshape/Flatten/Squeeze/Unsqueeze `node`."""
    if node.op_type == "Reshape":
        target = ctx.consts.value(node.input[1])
        if target is None:
            raise UnsupportedModelError("Reshape target shape is not constant", node,
                                        "run qonnx's FoldConstants or export with static shapes")
        target = [int(t) for t in target]
        target = [(batch_in[i] if t == 0 else t) for i, t in enumerate(target)]
        return np.empty(batch_in, dtype=np.int8).reshape(target).shape
    new_shape = ctx.model.get_tensor_shape(node.output[0])  # Flatten / Squeeze / Unsqueeze: inferred
    if node.op_type == "Flatten":
        axis = helper.get_attribute_value(node.attribute[0]) if node.attribute else 1
        if axis != 1:
            raise UnsupportedModelError(f"Flatten with axis={axis} mixes the batch axis", node)
        new_shape = (batch_in[0], int(np.prod(batch_in[1:])))
    return new_shape


@register(*LAYOUT_OPS, order=10)
def lower_layout(ctx, node, act):
    """The activation of the layout op's output (no LBIR node)."""
    ctx.removed.add(node.name)
    if node.op_type == "Identity":
        return [act]
    batch_in = ctx.model.get_tensor_shape(node.input[0])
    if node.op_type == "Transpose":
        axes = transpose_axes(node, batch_in, act.index.ndim)
        move = lambda a: np.transpose(a, axes)  # noqa: E731
    else:
        per_sample = per_sample_shape(node, batch_in, reshaped(ctx, node, batch_in), act.index.ndim)
        move = lambda a: a.reshape(per_sample)  # noqa: E731
    # pending pads are in image coordinates (top, left, bottom, right): a Transpose between
    # a Pad and a channels-last Conv (qonnx's conversion leaves one) keeps them meaningful
    return [Activation(act.codes, move(act.index), move(act.scale), move(act.offset),
                       move(act.scale_f32), move(act.offset_f32), act.lo, act.hi,
                       act.codes_shape, node.output[0], act.pads)]
