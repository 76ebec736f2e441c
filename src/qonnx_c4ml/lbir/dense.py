"""QDense: a fully connected layer on integers, with exact requantization.

    x      : integer codes, shape (N, *in_shape), flattened in C order to (N, K)
    acc    = x @ weights.T                  int64, exact
    out    = out_base + #{k : acc >= thresholds[m, k]}     (requant="thresholds")
           = out_base + sum_k w_k [acc >= thresholds[m, k]]   (with threshold_weights w: minifloat codes)
    out    = acc                                          (requant="none": last layer, host dequantizes)

The weights are the quantized weight codes with every scale, bias, BatchNorm and rounding
mode folded into `thresholds` by InferLBIR (see lbir/requant.py); rows whose combined scale
is negative are stored negated, so thresholds always compare `acc >= T`.  Tensors live in
the graph as float32 holding integers, like every qonnx tensor.
"""
import numpy as np

from qonnx_c4ml.lbir.layer_op import LayerOp, REQUANT_ATTRIBUTES, VERILOG_ATTRIBUTES
from qonnx_c4ml.lbir.staircase import cumulative_weights


class QDense(LayerOp):
    """Integer dense layer with threshold requantization (LBIR)."""

    def get_nodeattr_types(self):
        return {
            "weights": ("t", True, np.zeros((0, 0), dtype=np.int64)),
            "in_shape": ("ints", True, []),
            "in_dtype": ("s", True, ""),
            "out_dtype": ("s", True, ""),
            **REQUANT_ATTRIBUTES,
            **VERILOG_ATTRIBUTES,
        }

    # -- accessors used by the generator and the numpy model -------------------------------
    # -- qonnx CustomOp interface ---------------------------------------------------------
    def make_shape_compatible_op(self, model):
        # qonnx hides all custom ops before ONNX shape inference, so the input's shape may be
        # unknown here; every tensor of a LBIR graph shares the model input's batch size
        shape = model.get_tensor_shape(self.onnx_node.input[0]) or model.get_tensor_shape(
            model.graph.input[0].name)
        batch = shape[0]
        return self.make_const_shape_op([batch, self.weight_codes().shape[0]])

    def execute_node(self, context, graph):
        node = self.onnx_node
        codes = self.input_codes(context)
        context[node.output[0]] = dense_forward(
            codes.astype(np.int64),
            self.weight_codes(),
            self.get_nodeattr("requant"),
            self.threshold_codes(),
            self.get_nodeattr("out_base"),
            self.get_nodeattr("threshold_weights"),
        ).astype(np.float32)

    def verify_node(self):
        messages = []
        weights = self.weight_codes()
        if weights.ndim != 2:
            messages.append(f"weights must be 2-D, got shape {weights.shape}")
        if int(np.prod(self.get_nodeattr("in_shape"))) != weights.shape[1]:
            messages.append("in_shape does not match the weight matrix")
        if self.get_nodeattr("requant") == "thresholds":
            thresholds = self.threshold_codes()
            if thresholds.shape[0] != weights.shape[0]:
                messages.append("one threshold row per output channel expected")
            if thresholds.size and np.any(np.diff(thresholds, axis=1) < 0):
                messages.append("thresholds must be sorted along each row")
            messages += threshold_weight_messages(self.get_nodeattr("threshold_weights"), thresholds)
        return messages


def threshold_weight_messages(weights, thresholds):
    """verify_node's check of `threshold_weights`: empty, or one positive weight per column."""
    if len(weights) and (len(weights) != thresholds.shape[-1] or min(weights) <= 0):
        return ["threshold_weights needs one positive weight per threshold column"]
    return []


def accumulator_range(weights, lo, hi):
    """Exact per-row (min, max) of weights @ x for every x with codes in [lo, hi].

    Callers pass the input datatype's range (what the circuit's input wires can carry), so
    the LBIR attributes and the generator's value ranges agree.
    """
    low, high = weights * lo, weights * hi
    return np.minimum(low, high).sum(axis=1), np.maximum(low, high).sum(axis=1)


def dense_forward(codes, weights, requant, thresholds, out_base, threshold_weights=None):
    """Exact integer forward pass; `codes` (N, K) int64 -> (N, M) int64."""
    acc = codes @ weights.T
    return requantize_codes(acc, requant, thresholds, np.arange(acc.shape[1]), out_base, threshold_weights)


def requantize_codes(acc, requant, thresholds, channel_of, out_base, threshold_weights=None):
    """out[:, e] = out_base + sum_k w_k [acc[:, e] >= thresholds[channel_of[e], k]] (or acc
    itself for requant="none"); `acc` (N, E) int64, one threshold row per output channel,
    w_k = `threshold_weights` (all ones when empty: the count of thresholds reached)."""
    if requant == "none":
        return acc
    channel_of = np.asarray(channel_of)
    out = np.empty_like(acc)
    for channel in np.unique(channel_of):  # one search per channel (a conv's pixels share a row)
        columns = np.flatnonzero(channel_of == channel)
        # thresholds are sorted, so #{k: acc >= T_k} is a right-sided search
        out[:, columns] = np.searchsorted(thresholds[channel], acc[:, columns], side="right")
    if threshold_weights is not None and len(threshold_weights):
        out = cumulative_weights(threshold_weights, thresholds.shape[-1])[out]
    return out + out_base
