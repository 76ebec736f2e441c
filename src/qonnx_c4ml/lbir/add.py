"""QAdd: the sum of two integer tensors with aligned scales, with exact requantization.

    a, b : codes (N, Ea), (N, Eb)
    acc[:, e] = weight_a[c(e)] * a[:, index_a[e]] + weight_b[c(e)] * b[:, index_b[e]]
    out  = out_base + #{k : acc >= thresholds[c(e), k]},  c(e) = channel of output element e

A residual Add of two quantized tensors: with scales s_a, s_b (exact rationals),
s_a * a + s_b * b = (s_b / q) * (p * a + q * b) for s_a / s_b = p / q in lowest terms, so the
integer weights p, q align the two scales exactly (power-of-two scales give powers of two).
`index_a` / `index_b` gather each output element from its operand (layouts may differ);
`channel_of` gives each output element's threshold row.
"""
import numpy as np

from qonnx_c4ml.lbir.layer_op import LayerOp, REQUANT_ATTRIBUTES, VERILOG_ATTRIBUTES
from qonnx_c4ml.lbir.dense import requantize_codes


class QAdd(LayerOp):
    """Integer sum of two tensors with threshold requantization (LBIR)."""

    def get_nodeattr_types(self):
        return {
            "weights": ("t", True, np.zeros((0, 2), dtype=np.int64)),  # (channels, 2): weight_a, weight_b
            "index_a": ("ints", True, []),
            "index_b": ("ints", True, []),
            "channel_of": ("ints", True, []),
            "in_dtype": ("s", True, ""),
            "in_dtype_b": ("s", True, ""),
            "out_dtype": ("s", True, ""),
            **REQUANT_ATTRIBUTES,
            **VERILOG_ATTRIBUTES,
        }

    def channel_of_outputs(self):
        return np.asarray(self.get_nodeattr("channel_of"), dtype=np.int64)

    def connections(self, b_offset):
        """Sparse rows over the concatenated inputs [a, b] (b starts at `b_offset`)."""
        weights, channel = self.weight_codes(), self.channel_of_outputs()
        rows = []
        for e, (i, j) in enumerate(zip(self.get_nodeattr("index_a"), self.get_nodeattr("index_b"))):
            w_a, w_b = (int(v) for v in weights[channel[e]])
            rows.append([(k, w) for k, w in ((int(i), w_a), (b_offset + int(j), w_b)) if w])
        return rows

    def make_shape_compatible_op(self, model):
        shape = model.get_tensor_shape(self.onnx_node.input[0]) or model.get_tensor_shape(
            model.graph.input[0].name)
        return self.make_const_shape_op([shape[0], len(self.get_nodeattr("index_a"))])

    def execute_node(self, context, graph):
        node = self.onnx_node
        a, b = (np.asarray(context[name]) for name in node.input)
        a = a.reshape(a.shape[0], -1).astype(np.int64)
        b = b.reshape(b.shape[0], -1).astype(np.int64)
        weights, channel = self.weight_codes(), self.channel_of_outputs()
        acc = (weights[channel, 0] * a[:, self.get_nodeattr("index_a")]
               + weights[channel, 1] * b[:, self.get_nodeattr("index_b")])
        out = requantize_codes(acc, self.get_nodeattr("requant"), self.threshold_codes(), channel,
                               self.get_nodeattr("out_base"), self.get_nodeattr("threshold_weights"))
        context[node.output[0]] = out.astype(np.float32)

    def verify_node(self):
        n = len(self.get_nodeattr("index_a"))
        if len(self.get_nodeattr("index_b")) != n or len(self.get_nodeattr("channel_of")) != n:
            return ["index_a, index_b and channel_of must have one entry per output element"]
        return []
