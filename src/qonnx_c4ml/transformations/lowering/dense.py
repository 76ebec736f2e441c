"""Dense layers: a matrix product with quantized constant weights.

In:  integer tensor (batch, features) -> MatMul(x, W) | Gemm(x, W[, C]; transB, alpha, beta)
     W a constant quantized by Quant/BipolarQuant (or an integer constant), scales per tensor
     or per output column; layout ops before it already folded into the input's `index`.
Out: QDense (weights over the flat input codes), then quantizers.finish_layer: glue -> Q
     becomes its thresholds, or no quantizer: requant="none" and the host rescales acc.
"""
import numpy as np

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir.requant import as_fraction
from qonnx_c4ml.transformations.lowering.context import LINEAR_OPS, node_attributes
from qonnx_c4ml.transformations.lowering.layer import Layer
from qonnx_c4ml.transformations.lowering.quantizers import finish_layer
from qonnx_c4ml.transformations.lowering.registry import register


def gemm_attributes(node):
    """(transB, alpha, beta) of a Gemm, (0, 1, 1) for a MatMul."""
    if node.op_type != "Gemm":
        return 0, 1.0, 1.0
    attrs = node_attributes(node)
    if attrs.get("transA", 0):
        raise UnsupportedModelError("Gemm with transA=1 is not supported", node)
    return attrs.get("transB", 0), attrs.get("alpha", 1.0), attrs.get("beta", 1.0)


def dense_weights(ctx, node, act, trans_b):
    """(integer codes (n_in, n_out), float scales) of the constant weight operand, checked."""
    weights = ctx.consts.quantized(node.input[1])
    if weights is None:
        raise UnsupportedModelError("the weight operand is not a constant", node,
                                    "only constant (trained) weights can become logic")
    codes, w_scale = weights.codes, weights.scale
    if np.any(weights.offset != 0):
        raise UnsupportedModelError("weights with an offset are not supported", node)
    if trans_b:
        codes, w_scale = codes.T, w_scale.T
    if act.index.ndim != 1 or codes.ndim != 2 or codes.shape[0] != act.index.shape[0]:
        raise UnsupportedModelError(
            f"input per-sample shape {act.index.shape} and weight shape {codes.shape} "
            "do not form a dense layer", node, "only 2-D (batch, features) dense layers are supported")
    # scale of each output channel must not vary along the reduction axis
    if np.any(w_scale != w_scale[:1, :]):
        raise UnsupportedModelError("weight scales vary along the input axis", node,
                                    "use per-tensor or per-output-channel weight scales")
    return codes, w_scale


def gemm_bias(ctx, node, n_out, gemm_beta, beta, host_terms):
    """beta and host terms with Gemm's C added (unchanged for a MatMul or a Gemm without C)."""
    if not (node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]):
        return beta, host_terms
    value = ctx.consts.value(node.input[2])
    if value is None:
        raise UnsupportedModelError("Gemm bias C is not constant", node)
    bias = [as_fraction(v) for v in np.broadcast_to(np.asarray(value, np.float64).reshape(-1), (n_out,))]
    beta = [b + as_fraction(gemm_beta) * c for b, c in zip(beta, bias)]
    host_terms = host_terms + [np.float32(gemm_beta) * np.asarray(
        np.broadcast_to(np.asarray(value, np.float32).reshape(-1), (n_out,)))]
    return beta, host_terms


@register(*LINEAR_OPS, order=30)
def lower_dense(ctx, node, act):
    """MatMul/Gemm with quantized constant weights, then glue and a quantizer."""
    trans_b, gemm_alpha, gemm_beta = gemm_attributes(node)
    codes, w_scale = dense_weights(ctx, node, act, trans_b)
    n_out = codes.shape[1]
    if len(set(act.scale.ravel())) != 1 or len(set(act.offset.ravel())) != 1:
        raise UnsupportedModelError("the layer input has per-channel scales or offsets", node,
                                    "use a per-tensor activation quantizer before a dense layer")
    s_x, o_x = act.scale.ravel()[0], act.offset.ravel()[0]
    column_sums = codes.sum(axis=0)
    alpha, beta = [], []
    for m in range(n_out):
        s_w = as_fraction(w_scale[0, m]) * as_fraction(gemm_alpha)
        alpha.append(s_x * s_w)
        beta.append(o_x * s_w * int(column_sums[m]))
    # the host recomputes a float output in the reference's order: (A@B), then + C
    host_terms = [np.array([float(b) for b in beta], np.float32)] if any(beta) else []
    beta, host_terms = gemm_bias(ctx, node, n_out, gemm_beta, beta, host_terms)
    # weights over the flattened codes tensor (layout ops folded into the columns)
    matrix = np.zeros((n_out, int(act.index.size)), dtype=np.int64)
    np.add.at(matrix.T, act.index.ravel(), codes)
    layer = Layer(ctx.fresh_name(node.name or node.output[0]), node, act, matrix,
                  alpha, beta, [node.name], host_terms, out_shape=(n_out,), out_index=np.arange(n_out))
    return finish_layer(ctx, layer, node.output[0])
