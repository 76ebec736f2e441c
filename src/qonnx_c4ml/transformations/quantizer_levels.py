"""A layer's output quantizer as levels on y = alpha*acc + beta, one function per kind.

`lowering/quantizers.requantize` turns these levels into integer thresholds (lbir/requant.py); this
module says, for each quantizer a layer may end in, when its code steps up and what a code
is worth:

- Quant (IntQuant): qonnx's rounding levels, shifted by an integer zero-point
  (transformations/zero_point.py), codes q - z, value code * scale; 1-bit signed = bipolar;
- FloatQuant: the minifloat staircase (lbir/floatquant.py), codes v / unit with column
  weights, value code * unit * scale;
- BipolarQuant: one level at 0, codes 0/1, value 2*s*code - s;
- Trunc (qonnx v2, Brevitas' TruncAvgPool): round then shift, value code * out_scale;
- MultiThreshold: its float thresholds, value out_scale * code + out_bias.
"""
from dataclasses import dataclass
from fractions import Fraction
from math import ceil, floor

import numpy as np
from onnx import helper

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir.requant import HALF, Level, as_fraction, rounding_levels
from qonnx_c4ml.transformations.constants import quant_code_range, quant_parameters
from qonnx_c4ml.transformations.float_quantizer import float_levels, minifloat_parameters
from qonnx_c4ml.transformations.zero_point import refuse_bipolar_zero_point, shifted_levels, zero_point


@dataclass
class QuantizerLevels:
    """Per output channel: levels on y, and code c means value_scale * c + value_offset."""

    levels: list  # one list of Level per channel
    lo: int  # the code below every level (before zero-point shifts)
    value_scale: np.ndarray  # float32, per channel
    value_offset: np.ndarray  # float32, per channel
    zeros: np.ndarray  # int64 zero-point per channel (codes are q - z)
    column_weights: list = None  # minifloat: code step at each level (None: all 1)


def quantizer_levels(lowering, layer, quant):
    """QuantizerLevels of the quantizer node `quant` ending `layer`; `lowering` is the walk's
    LoweringContext (lowering/context.py: `consts`, `per_channel`, `channel_vector`, `expand`)."""
    kind = {"Quant": quant_levels, "IntQuant": quant_levels, "FloatQuant": minifloat_levels,
            "BipolarQuant": bipolar_levels, "Trunc": trunc_levels}.get(quant.op_type, multithreshold_levels)
    return kind(lowering, layer, quant)


def quant_levels(lowering, layer, quant):
    n_out = len(layer.alpha)
    scale, bits, signed, narrow, mode = quant_parameters(quant, lowering.consts)
    scales = lowering.per_channel(quant, quant.input[1], layer)
    scale_f32 = lowering.channel_vector(quant, scale, layer).astype(np.float32)
    zeros = lowering.channel_vector(quant, zero_point(quant, lowering.consts), layer).astype(np.int64)
    if bits == 1 and signed:  # qonnx: 1-bit signed Quant is bipolar
        refuse_bipolar_zero_point(quant, zeros)
        return QuantizerLevels([[Level(Fraction(0), False)]] * n_out, 0, 2 * scale_f32, -scale_f32, zeros)
    lo, hi = quant_code_range(bits, signed, narrow)
    base = rounding_levels(mode, lo, hi)
    levels = [shifted_levels(base, z, s) for s, z in zip(scales, zeros)]
    return QuantizerLevels(levels, lo, scale_f32, np.zeros(n_out, np.float32), zeros)


def minifloat_levels(lowering, layer, quant):
    n_out = len(layer.alpha)
    minifloat_parameters(quant, lowering.consts)  # checked before the scales are read exactly
    levels, weights, lo, unit = float_levels(quant, lowering.consts, lowering.per_channel(quant, quant.input[1], layer))
    scale_f32 = lowering.channel_vector(quant, lowering.consts.value(quant.input[1]), layer).astype(np.float32)
    return QuantizerLevels(levels, lo, scale_f32 * unit, np.zeros(n_out, np.float32), np.zeros(n_out, np.int64),
                           weights)


def bipolar_levels(lowering, layer, quant):
    n_out = len(layer.alpha)
    s = lowering.consts.value(quant.input[1])
    if s is None or np.asarray(s).size != 1 or not float(np.asarray(s).ravel()[0]) > 0:
        raise UnsupportedModelError("BipolarQuant scale must be a positive per-tensor constant", quant)
    s = np.float32(np.asarray(s).ravel()[0])
    return QuantizerLevels([[Level(Fraction(0), False)]] * n_out, 0, np.full(n_out, 2 * s, np.float32),
                           np.full(n_out, -s, np.float32), np.zeros(n_out, np.int64))


def trunc_levels(lowering, layer, node):
    """Levels of qonnx's Trunc (v2, what Brevitas' TruncAvgPool exports):
    code = mode(clip(round(x / scale) / 2**t)), t = round(log2(out_scale / scale)), value = code * out_scale.
    `round(x/scale) >= n` (an integer n) is `x/scale >= n - 1/2`, the tie going up when n is even."""
    if len(node.input) != 6:
        raise UnsupportedModelError("only Trunc with 6 inputs (qonnx Trunc v2) is supported", node,
                                    "re-export with Brevitas >= 0.11")
    scale, zeropt, _, out_scale, out_bits = (lowering.consts.value(i) for i in node.input[1:])
    if any(v is None or np.asarray(v).size != 1 for v in (scale, zeropt, out_scale, out_bits)):
        raise UnsupportedModelError("Trunc parameters must be per-tensor constants", node)
    if float(np.asarray(zeropt).ravel()[0]) != 0:
        raise UnsupportedModelError("Trunc with a non-zero zero-point is not supported", node)
    scale, out_scale = (np.float32(np.asarray(v).ravel()[0]) for v in (scale, out_scale))
    if not (scale > 0 and out_scale > 0):
        raise UnsupportedModelError("Trunc scales must be positive", node)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    mode = attrs.get("rounding_mode", b"FLOOR")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    t = int(np.round(np.log2(np.float32(out_scale / scale))))
    lo, hi = quant_code_range(int(np.asarray(out_bits).ravel()[0]), bool(attrs.get("signed", 1)),
                              bool(attrs.get("narrow", 0)))
    levels = []
    for level in rounding_levels(mode, lo, hi):  # on v = r / 2**t, r = round(x / scale)
        bound = level.value * Fraction(2) ** t
        n = floor(bound) + 1 if level.strict else ceil(bound)  # smallest integer r reaching it
        levels.append(Level((n - HALF) * as_fraction(scale), strict=(n % 2 != 0)))
    n_out = len(layer.alpha)
    return QuantizerLevels([levels] * n_out, lo, np.full(n_out, out_scale, np.float32), np.zeros(n_out, np.float32),
                           np.zeros(n_out, np.int64))


def multithreshold_levels(lowering, layer, quant):
    n_out = len(layer.alpha)
    thresholds = lowering.consts.value(quant.input[1])
    if thresholds is None:
        raise UnsupportedModelError("MultiThreshold thresholds are not constant", quant)
    thresholds = np.sort(np.asarray(thresholds, np.float32), axis=-1)
    attrs = {a.name: helper.get_attribute_value(a) for a in quant.attribute}
    rows = thresholds.reshape(-1, thresholds.shape[-1])
    if rows.shape[0] not in (1, n_out) and layer.channel_axis is None and len(layer.out_shape) > 1:
        # per-channel thresholds after a per-element layer (QAdd, requantization): the
        # channel axis is MultiThreshold's (NCHW by default, or NHWC)
        layout = attrs.get("data_layout", b"NCHW")
        axis = len(layer.out_shape) - 1 if layout in (b"NHWC", "NHWC") else 0
        if rows.shape[0] != layer.out_shape[axis]:
            raise UnsupportedModelError(
                f"{rows.shape[0]} threshold rows for {layer.out_shape[axis]} channels", quant)
        rows = rows[lowering.expand(np.arange(rows.shape[0]), layer.out_shape, axis).ravel()]
    if rows.shape[0] not in (1, n_out):
        raise UnsupportedModelError(f"{rows.shape[0]} threshold rows for {n_out} channels", quant)
    rows = np.broadcast_to(rows, (n_out, rows.shape[-1]))
    levels = [[Level(as_fraction(t), False) for t in row] for row in rows]
    return QuantizerLevels(levels, 0, np.full(n_out, attrs.get("out_scale", 1.0), np.float32),
                           np.full(n_out, attrs.get("out_bias", 0.0), np.float32), np.zeros(n_out, np.int64))
