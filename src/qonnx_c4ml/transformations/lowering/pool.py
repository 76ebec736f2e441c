"""Pooling on integer images.

In:  integer image -> MaxPool (no Indices output, ceil_mode 0, dilation 1; NCHW or channels-last)
Out: QMaxPool2D on the codes (exact: every quantizer here is nondecreasing), same code range.

In:  integer image (NCHW) -> AveragePool (count_include_pad when padded) | GlobalAveragePool
     -> [glue] -> Trunc | Q
Out: a depthwise QConv2D with weights 1 whose 1/window factor folds into the thresholds
     of the requantization that follows (quantizers.finish_layer).
"""
import numpy as np
from onnx import helper

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.lbir.conv import conv_output_hw
from qonnx_c4ml.transformations.lowering.activation import Activation
from qonnx_c4ml.transformations.lowering.context import AVERAGE_POOL_OPS, CHANNELS_LAST_DOMAIN, node_attributes
from qonnx_c4ml.transformations.lowering.image import channel_parameters, conv_attrs, image_shape, output_image
from qonnx_c4ml.transformations.lowering.layer import Layer
from qonnx_c4ml.transformations.lowering.quantizers import finish_layer
from qonnx_c4ml.transformations.lowering.registry import register


def average_pool_window(node, attrs, in_shape):
    """(kernel, strides, pads) of an AveragePool / GlobalAveragePool, checked."""
    if node.op_type == "GlobalAveragePool":
        return list(in_shape[1:]), [1, 1], [0, 0, 0, 0]
    kernel = [int(v) for v in attrs["kernel_shape"]]
    strides = [int(v) for v in attrs.get("strides", [1, 1])]
    pads = [int(v) for v in attrs.get("pads", [0, 0, 0, 0])]
    if attrs.get("ceil_mode", 0):
        raise UnsupportedModelError("ceil_mode=1 is not supported", node, "export with ceil_mode=0")
    if any(pads) and not attrs.get("count_include_pad", 0):
        raise UnsupportedModelError("padded AveragePool with count_include_pad=0 divides by a "
                                    "varying count", node, "pad explicitly or avoid pool padding")
    if any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise UnsupportedModelError("dilated pooling is not supported", node)
    return kernel, strides, pads


@register(*AVERAGE_POOL_OPS, order=50)
def lower_average_pool(ctx, node, act):
    """AveragePool / GlobalAveragePool: a depthwise convolution with weights 1 whose
    1/window factor folds into the requantization that follows (Trunc or Quant)."""
    attrs = node_attributes(node)
    in_shape, in_index = image_shape(act, node, False)
    kernel, strides, pads = average_pool_window(node, attrs, in_shape)
    channels = in_shape[0]
    channel = channel_parameters(act, node, False, [])
    if any(pads) and any(o != 0 for _, o in channel):
        raise UnsupportedModelError("zero padding of an input whose code 0 is not the value 0", node)
    window = kernel[0] * kernel[1]
    weights = np.ones((channels, 1, *kernel), dtype=np.int64)
    alpha = [channel[c][0] / window for c in range(channels)]
    beta = [channel[c][1] for c in range(channels)]  # the mean of a constant offset is itself
    out_hw = conv_output_hw(in_shape, kernel, strides, pads)
    out_shape, axis, index = output_image(ctx, node, channels, out_hw, False)
    layer = Layer(ctx.fresh_name(node.name or node.output[0]), node, act, weights, alpha, beta,
                  [node.name], [], kind="conv", out_shape=out_shape, channel_axis=axis, out_index=index,
                  attrs=conv_attrs(in_shape, in_index, strides, pads, channels))
    return finish_layer(ctx, layer, node.output[0])


@register("MaxPool", order=60)
def lower_max_pool(ctx, node, act):
    """MaxPool on codes: exact because every quantizer here is nondecreasing."""
    channels_last = node.domain == CHANNELS_LAST_DOMAIN
    attrs = node_attributes(node)
    if len(node.output) > 1 and node.output[1]:
        raise UnsupportedModelError("MaxPool with an Indices output is not supported", node)
    if attrs.get("ceil_mode", 0) or any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise UnsupportedModelError("MaxPool with ceil_mode=1 or dilation is not supported", node)
    in_shape, in_index = image_shape(act, node, channels_last)
    channel = channel_parameters(act, node, channels_last, [])
    if any(s <= 0 for s, _ in channel):
        raise UnsupportedModelError("MaxPool after a decreasing quantizer (scale <= 0)", node)
    kernel = [int(v) for v in attrs["kernel_shape"]]
    strides = [int(v) for v in attrs.get("strides", [1, 1])]
    pads = [int(v) for v in attrs.get("pads", [0, 0, 0, 0])]
    out_hw = conv_output_hw(in_shape, kernel, strides, pads)
    out_shape, axis, index = output_image(ctx, node, in_shape[0], out_hw, channels_last)
    name = ctx.fresh_name(node.name or node.output[0])
    out_codes = ctx.fresh_name(node.output[0] + "_codes")
    ctx.emit(helper.make_node(
        "QMaxPool2D", [act.codes], [out_codes], name=name, domain=DOMAIN, in_shape=list(in_shape),
        kernel=kernel, strides=strides, pads=pads, in_dtype=act.dtype, out_dtype=act.dtype,
        **({"in_index": in_index} if in_index else {})), out_codes, act.dtype)
    ctx.removed.add(node.name)
    scale = np.array([s for s, _ in channel], dtype=object)
    offset = np.array([o for _, o in channel], dtype=object)
    first = act.view(act.scale_f32, channels_last)[:, 0, 0], act.view(act.offset_f32, channels_last)[:, 0, 0]
    expand = lambda v: ctx.expand(v, out_shape, axis)  # noqa: E731
    return [Activation(out_codes, index, expand(scale), expand(offset), expand(first[0]), expand(first[1]),
                       act.lo, act.hi, (index.size,), node.output[0])]
