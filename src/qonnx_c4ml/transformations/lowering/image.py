"""Image geometry shared by the convolution and pooling lowerings.

An image activation has per-sample shape (C, H, W), or (H, W, C) for qonnx's channels-last
ops; these helpers read its shape, code order and per-channel scales, and lay out the output.
"""
import numpy as np

from qonnx_c4ml.errors import UnsupportedModelError


def image_shape(act, node, channels_last):
    """(C, H, W) of the image `act` and the `in_index` attribute: where each (c, h, w) lives
    in the codes tensor ([] when in order; channels-last codes or folded Transposes are not)."""
    if act.index.ndim != 3:
        raise UnsupportedModelError(f"input of per-sample shape {act.index.shape} is not an image", node,
                                    "2-D convolutions and pools need (C, H, W) or (H, W, C) inputs")
    index = act.view(act.index, channels_last)
    in_order = np.array_equal(index.ravel(), np.arange(index.size)) and \
        index.size == int(np.prod(act.codes_shape))
    return tuple(int(d) for d in index.shape), ([] if in_order else [int(i) for i in index.ravel()])


def channel_parameters(act, node, channels_last, groups_of_channels):
    """Per input channel (scale, offset) Fractions; each list in `groups_of_channels` must
    share one scale and offset (a sum over channels needs one integer scale)."""
    scale, offset = act.view(act.scale, channels_last), act.view(act.offset, channels_last)
    per_channel = []
    for c in range(scale.shape[0]):
        if len(set(scale[c].ravel())) != 1 or len(set(offset[c].ravel())) != 1:
            raise UnsupportedModelError("the input scale varies inside a channel", node,
                                        "use per-tensor or per-channel activation quantizers")
        per_channel.append((scale[c].ravel()[0], offset[c].ravel()[0]))
    for channels in groups_of_channels:
        if len({per_channel[c] for c in channels}) != 1:
            raise UnsupportedModelError(
                "input channels summed together have different scales", node,
                "use a per-tensor activation quantizer before a (non-depthwise) convolution")
    return per_channel


def output_image(ctx, node, channels, out_hw, channels_last):
    """Per-sample output shape, channel axis and the graph-position -> code-position index."""
    index = np.arange(channels * out_hw[0] * out_hw[1]).reshape(channels, *out_hw)
    if channels_last:
        index = np.transpose(index, (1, 2, 0))
    shape = ctx.model.get_tensor_shape(node.output[0])
    if shape is not None and tuple(shape[1:]) != index.shape:
        raise UnsupportedModelError(f"output shape {shape} differs from the computed {index.shape}", node)
    return index.shape, (2 if channels_last else 0), index


def conv_attrs(in_shape, in_index, strides, pads, group):
    """QConv2D geometry attributes (in_index only when the codes are not in order)."""
    return {"in_shape": list(in_shape), "strides": strides, "pads": pads, "group": group,
            **({"in_index": in_index} if in_index else {})}
