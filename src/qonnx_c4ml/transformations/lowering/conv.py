"""Convolutions, and the zero Pad that may come before one.

In:  integer image (C, H, W) [-> Pad(constant 0 on H, W)] [-> Transpose] -> Conv(x, W[, B])
     any group and stride, explicit (asymmetric) pads, dilation 1; NCHW or qonnx channels-last
     (domain qonnx.custom_op.channels_last: (H, W, C) images, (O, KH, KW, C/group) weights)
Out: QConv2D (the Pad's pads added to the Conv's), then quantizers.finish_layer: glue -> Q
     becomes its thresholds (a Conv must end in a quantizer).
     A Pad alone emits nothing: it is remembered on the activation (`pads`) for the next Conv.
"""
import numpy as np

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir.conv import conv_output_hw
from qonnx_c4ml.lbir.requant import as_fraction
from qonnx_c4ml.transformations.lowering.activation import Activation
from qonnx_c4ml.transformations.lowering.context import CHANNELS_LAST_DOMAIN, node_attributes
from qonnx_c4ml.transformations.lowering.image import channel_parameters, conv_attrs, image_shape, output_image
from qonnx_c4ml.transformations.lowering.layer import Layer
from qonnx_c4ml.transformations.lowering.quantizers import finish_layer
from qonnx_c4ml.transformations.lowering.registry import register


def conv_weights(ctx, node, attrs, channels_last):
    """(integer codes (O, C/group, KH, KW), per-output-channel scale (O, 1)) of a Conv, checked."""
    if any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise UnsupportedModelError(f"dilations {attrs['dilations']} are not supported", node,
                                    "only dilation 1 convolutions become logic")
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise UnsupportedModelError("auto_pad is not supported", node, "export with explicit pads")
    weights = ctx.consts.quantized(node.input[1])
    if weights is None:
        raise UnsupportedModelError("the weight operand is not a constant", node,
                                    "only constant (trained) weights can become logic")
    if np.any(weights.offset != 0):
        raise UnsupportedModelError("weights with an offset are not supported", node)
    codes, w_scale = weights.codes, weights.scale
    if codes.ndim != 4:
        raise UnsupportedModelError(f"only 2-D convolutions are supported (weights {codes.shape})", node)
    if channels_last:  # qonnx's channels-last Conv keeps its weights as (O, KH, KW, C/group)
        codes, w_scale = np.transpose(codes, (0, 3, 1, 2)), np.transpose(w_scale, (0, 3, 1, 2))
    w_scale = w_scale.reshape(codes.shape[0], -1)
    if np.any(w_scale != w_scale[:, :1]):
        raise UnsupportedModelError("weight scales vary inside an output channel", node,
                                    "use per-tensor or per-output-channel weight scales")
    return codes, w_scale


def conv_scales(ctx, node, codes, w_scale, channel, group):
    """Exact (alpha, beta) per output channel: input channel scales times weight scales, the
    input offsets through the weights, plus the bias."""
    n_out, per_group = codes.shape[:2]
    out_per_group = n_out // group
    alpha, beta = [], []
    for o in range(n_out):
        first = (o // out_per_group) * per_group
        s_x = channel[first][0]
        s_w = as_fraction(w_scale[o, 0])
        alpha.append(s_x * s_w)
        beta.append(s_w * sum(channel[first + c][1] * int(codes[o, c].sum()) for c in range(per_group)))
    if len(node.input) > 2 and node.input[2]:
        bias = ctx.consts.value(node.input[2])
        if bias is None:
            raise UnsupportedModelError("the bias is not constant", node)
        beta = [b + as_fraction(c) for b, c in zip(beta, np.asarray(bias, np.float64).reshape(-1))]
    return alpha, beta


@register("Conv", order=40)
def lower_conv(ctx, node, act):
    """Conv with quantized constant weights (any group, stride, padding; dilation 1)."""
    channels_last = node.domain == CHANNELS_LAST_DOMAIN
    attrs = node_attributes(node)
    codes, w_scale = conv_weights(ctx, node, attrs, channels_last)
    n_out, per_group, kh, kw = codes.shape
    in_shape, in_index = image_shape(act, node, channels_last)
    group = int(attrs.get("group", 1))
    if in_shape[0] != per_group * group or n_out % group:
        raise UnsupportedModelError(f"group {group} does not fit {in_shape[0]} input channels", node)
    strides = [int(v) for v in attrs.get("strides", [1, 1])]
    pads = [int(v) for v in attrs.get("pads", [0, 0, 0, 0])]
    pads = [p + extra for p, extra in zip(pads, act.pads)]
    groups = [range(g * per_group, (g + 1) * per_group) for g in range(group)]
    channel = channel_parameters(act, node, channels_last, groups)
    if any(pads) and any(o != 0 for _, o in channel):
        raise UnsupportedModelError("zero padding of an input whose code 0 is not the value 0", node,
                                    "pad only signed/unsigned Quant outputs (not bipolar ones)")
    alpha, beta = conv_scales(ctx, node, codes, w_scale, channel, group)
    out_hw = conv_output_hw(in_shape, (kh, kw), strides, pads)
    out_shape, axis, index = output_image(ctx, node, n_out, out_hw, channels_last)
    layer = Layer(ctx.fresh_name(node.name or node.output[0]), node, act, codes, alpha, beta,
                  [node.name], [], kind="conv", out_shape=out_shape, channel_axis=axis, out_index=index,
                  attrs=conv_attrs(in_shape, in_index, strides, pads, group))
    return finish_layer(ctx, layer, node.output[0])


@register("Pad", order=20)
def lower_pad(ctx, node, act):
    """A constant zero Pad on H and W: remembered and folded into the next Conv's pads."""
    attrs = node_attributes(node)
    mode = attrs.get("mode", b"constant")
    pads = ctx.consts.value(node.input[1]) if len(node.input) > 1 else None
    value = ctx.consts.value(node.input[2]) if len(node.input) > 2 and node.input[2] else 0
    if mode not in (b"constant", "constant") or pads is None or np.any(np.asarray(value) != 0):
        raise UnsupportedModelError("only constant zero padding folds into a convolution", node)
    pads = [int(p) for p in np.asarray(pads).ravel()]
    if len(pads) != 8 or pads[0] or pads[1] or pads[4] or pads[5] or act.index.ndim != 3:
        raise UnsupportedModelError(f"pads {pads} must pad only H and W of an NCHW image", node)
    if any(o != 0 for o in act.offset.ravel()):
        raise UnsupportedModelError("zero padding of an input whose code 0 is not the value 0", node)
    ctx.removed.add(node.name)
    total = tuple(a + b for a, b in zip(act.pads, (pads[2], pads[3], pads[6], pads[7])))
    return [Activation(act.codes, act.index, act.scale, act.offset, act.scale_f32, act.offset_f32,
                       act.lo, act.hi, act.codes_shape, node.output[0], total)]
