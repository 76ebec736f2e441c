"""Requantization: a layer's glue and quantizer folded into exact integer thresholds.

In:  <layer> -> [glue]* -> [Relu] -> Q       glue: Add/Sub/Mul/Div by constants, BatchNormalization
                                             Q: Quant, FloatQuant, BipolarQuant, MultiThreshold, Trunc
Out: the layer's LBIR node with requant="thresholds" (thresholds, out_base[, threshold_weights])
     on y = alpha*acc + beta (lbir/requant.py, lbir/staircase.py; levels: quantizer_levels.py);
     without a quantizer, a last MatMul/Gemm's accumulator leaves the circuit (host.py).

In:  integer tensor -> [glue]* -> [Relu] -> Q      (a quantizer with no layer before it)
Out: an identity layer: QDense with a 0/1 permutation matrix and the requantization above.
"""
import numpy as np

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir.dtypes import datatype_for_range
from qonnx_c4ml.lbir.requant import as_fraction, integer_thresholds, relu_levels
from qonnx_c4ml.lbir.staircase import threshold_columns
from qonnx_c4ml.transformations.constants import GLUE_OPS
from qonnx_c4ml.transformations.float_quantizer import check_code_range
from qonnx_c4ml.transformations.lowering.activation import Activation, fractions
from qonnx_c4ml.transformations.lowering.context import CHANNELS_LAST_DOMAIN, LAYER_QUANTIZERS, UNSUPPORTED_HINTS
from qonnx_c4ml.transformations.lowering.host import emit_accumulator_output
from qonnx_c4ml.transformations.lowering.layer import Layer, layer_node
from qonnx_c4ml.transformations.lowering.registry import register
from qonnx_c4ml.transformations.quantizer_levels import quantizer_levels
from qonnx_c4ml.transformations.zero_point import align_rows

FOLDABLE_HINT = ("supported between a layer and its quantizer: Add/Sub/Mul/Div "
                 "by constants, BatchNormalization, Relu")


def glue_reaches_quantizer(ctx, node, tensor=None):
    """glue* -> Relu? -> quantizer, from `node` on (what finish_layer can fold)."""
    while node is not None and node.op_type in GLUE_OPS:
        if node.op_type in ("Add", "Sub", "Mul", "Div") and ctx.const_operand(node, node.input[0])[0] is None \
                and ctx.const_operand(node, node.input[1])[0] is None:
            return False  # e.g. a residual Add: not glue
        node = ctx.only_consumer(node.output[0])
    if node is not None and node.op_type == "Relu":
        node = ctx.only_consumer(node.output[0])
    return node is not None and node.op_type in LAYER_QUANTIZERS


@register(*GLUE_OPS, "Relu", *LAYER_QUANTIZERS, when=glue_reaches_quantizer, order=1000)
def identity_layer(ctx, start, act):
    """A quantizer applied straight to an integer tensor (from node `start`): requantization only."""
    n = int(act.index.size)
    matrix = np.zeros((n, n), dtype=np.int64)
    matrix[np.arange(n), act.index.ravel()] = 1
    alpha = list(act.scale.ravel())
    beta = list(act.offset.ravel())
    flat = Activation(act.codes, np.arange(n), act.scale.ravel(), act.offset.ravel(),
                      act.scale_f32.ravel(), act.offset_f32.ravel(), act.lo, act.hi,
                      act.codes_shape, act.source)
    tensor = act.tensor
    layer = Layer(ctx.fresh_name(tensor + "_requant"), None, flat, matrix, alpha, beta, [], [],
                  out_shape=act.index.shape, channel_axis=None, out_index=np.arange(n).reshape(act.index.shape))
    return finish_layer(ctx, layer, tensor, start)


def finish_layer(ctx, layer, tensor, start=None):
    """Fold glue ops after the linear part; end in a quantizer (thresholds) or not (acc out).
    Returns the new integer tensors' activations: [the quantizer's], or [] (acc out)."""
    alpha, beta = list(layer.alpha), list(layer.beta)
    relu, glue, node = False, [], start or ctx.only_consumer(tensor)
    while node is not None:
        if node.op_type == "Relu" and not relu:
            relu = True
        elif node.op_type in GLUE_OPS and not relu:
            folded = fold_glue(ctx, node, tensor, alpha, beta, layer)
            if folded is None:
                break
            alpha, beta = folded
        elif node.op_type in LAYER_QUANTIZERS and node.input[0] == tensor:
            ctx.removed.update(layer.absorbed + [g.name for g in glue] + [node.name])
            return [requantize(ctx, layer, node, alpha, beta, relu)]
        else:
            if ctx.reaches_layer(node):
                raise UnsupportedModelError(
                    "sits between quantized layers and cannot be folded into integer thresholds",
                    node, UNSUPPORTED_HINTS.get(node.op_type, FOLDABLE_HINT))
            break
        glue.append(node)
        tensor = node.output[0]
        node = ctx.only_consumer(tensor)
    if layer.linear is None:  # a requantization whose glue did not fold
        raise UnsupportedModelError("cannot be folded into the requantization that follows it", node,
                                    "only constant Add/Sub/Mul/Div, BatchNormalization and Relu fold")
    # no quantizer: the accumulator leaves the circuit, the host rescales it
    ctx.removed.update(layer.absorbed)
    users = [n for n in ctx.consumers.get(tensor, []) if n.op_type != "Shape"]
    if node is None and len(users) > 1 and layer.kind != "dense":
        raise UnsupportedModelError(
            f"the output of this layer feeds {len(users)} nodes ({', '.join(n.name for n in users)}) "
            "before any quantizer", layer.linear,
            "quantize the layer output once (one QuantReLU/QuantIdentity) and branch after it")
    emit_accumulator_output(ctx, layer, node)
    ctx.accumulator_outputs += 1
    return []


def fold_glue(ctx, node, tensor, alpha, beta, layer):
    """(alpha, beta) after the glue op `node` on y = alpha*acc + beta, or None if it does not fold."""
    if node.op_type == "BatchNormalization":
        return _fold_batchnorm(ctx, node, alpha, beta, layer)
    value, pos = ctx.const_operand(node, tensor)
    if value is None:
        return None  # e.g. a residual Add of two activations: not glue
    c = ctx.per_channel(node, node.input[pos], layer)
    if node.op_type == "Add":
        return alpha, [b + x for b, x in zip(beta, c)]
    if node.op_type == "Sub":
        if pos == 1:
            return alpha, [b - x for b, x in zip(beta, c)]
        return [-a for a in alpha], [x - b for b, x in zip(beta, c)]
    if node.op_type == "Mul":
        return [a * x for a, x in zip(alpha, c)], [b * x for b, x in zip(beta, c)]
    if pos == 1 and all(x != 0 for x in c):  # Div by a constant
        return [a / x for a, x in zip(alpha, c)], [b / x for b, x in zip(beta, c)]
    return None


def _fold_batchnorm(ctx, node, alpha, beta, layer):
    gamma, bn_bias, mean, var = (ctx.consts.value(i) for i in node.input[1:5])
    if any(v is None for v in (gamma, bn_bias, mean, var)):
        raise UnsupportedModelError("BatchNormalization parameters are not constant", node)
    eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
    # float64 fold: BatchNorm's sqrt has no exact rational form (float-tolerance class)
    a = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + np.float64(np.float32(eps)))
    b = np.asarray(bn_bias, np.float64) - np.asarray(mean, np.float64) * a
    if len(layer.out_shape) > 1 and node.domain != CHANNELS_LAST_DOMAIN:  # NCHW: channel axis 1
        a, b = (v.reshape((-1,) + (1,) * (len(layer.out_shape) - 1)) for v in (a, b))
    a, b = ctx.channel_vector(node, a, layer), ctx.channel_vector(node, b, layer)
    return ([al * as_fraction(x) for al, x in zip(alpha, a)],
            [be * as_fraction(x) + as_fraction(y) for be, x, y in zip(beta, a, b)])


def requantize(ctx, layer, quant, alpha, beta, relu):
    """Thresholds for the quantizer `quant` on y = alpha*acc + beta (+relu): emits the layer's
    LBIR node and returns the activation of its output codes."""
    n_out = len(alpha)
    quantizer = quantizer_levels(ctx, layer, quant)  # transformations/quantizer_levels.py
    levels, lo, zeros = quantizer.levels, quantizer.lo, quantizer.zeros
    signs = np.array([1 if a >= 0 else -1 for a in alpha])
    # rows (output channels) with a negative combined scale compare -acc
    weights = layer.weights * signs.reshape((-1,) + (1,) * (layer.weights.ndim - 1))
    acc_min, acc_max = layer.accumulator_bounds(weights)
    rows = []
    for m in range(n_out):
        lv = relu_levels(levels[m]) if relu else levels[m]
        rows.append(integer_thresholds(lv, abs(alpha[m]), beta[m], int(acc_min[m]), int(acc_max[m])))
    if np.any(zeros != zeros[0]):  # per-channel zero-points: one shared out_base
        rows, lo = align_rows(rows, lo, zeros, acc_min, acc_max)
    else:
        lo -= int(zeros[0])
    thresholds, lo, column_weights, code_min, code_max = threshold_columns(rows, acc_min, acc_max, lo,
                                                                           quantizer.column_weights)
    check_code_range(quant, code_min, code_max)
    out_codes = ctx.fresh_name(quant.output[0] + "_codes")
    out_dtype = datatype_for_range(int(code_min), int(code_max))
    ctx.emit(layer_node(layer, weights, out_codes, out_dtype, "thresholds", thresholds, lo, column_weights),
             out_codes, out_dtype)
    value_scale = ctx.expand(quantizer.value_scale, layer.out_shape, layer.channel_axis)
    value_offset = ctx.expand(quantizer.value_offset, layer.out_shape, layer.channel_axis)
    return Activation(out_codes, layer.out_index, fractions(value_scale, value_scale.shape),
                      fractions(value_offset, value_offset.shape), value_scale, value_offset,
                      int(code_min), int(code_max), (int(layer.out_index.size),), quant.output[0])
