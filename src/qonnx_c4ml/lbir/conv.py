"""QConv2D: a 2-D convolution on integer codes, with exact requantization.

    x      : integer codes, shape (N, C*H*W) (or (N, C, H, W)), channels first, C order
    acc[n, o, i, j] = sum_{c, u, v} weights[o, c, u, v] * xpad[n, g(o)*C/group + c, i*sh + u, j*sw + v]
    out    = out_base + #{k : acc >= thresholds[o, k]}   (requant="thresholds"), flattened (N, O*OH*OW)
    out    = acc                                          (requant="none")

x is read through `in_index` when set (element (c, h, w) of the image is x[:, in_index[(c*H + h)*W + w]]),
so channels-last codes and folded Transposes need no data movement.
`xpad` is x padded with code 0 by `pads` = [top, left, bottom, right] (asymmetric allowed);
InferLBIR only pads where code 0 stands for the value 0.  `group` covers depthwise
convolutions (group = C).  Dilation is 1.  An AveragePool (sum of a window, divided by its
size) lowers to a depthwise QConv2D with weights 1 and the division folded into thresholds.
Weights, thresholds and the negated-row convention are those of QDense (lbir/dense.py).
"""
import numpy as np

from qonnx_c4ml.lbir.layer_op import ImageLayerOp, REQUANT_ATTRIBUTES, VERILOG_ATTRIBUTES
from qonnx_c4ml.lbir.dense import requantize_codes, threshold_weight_messages


def conv_output_hw(in_shape, kernel, strides, pads):
    _, h, w = in_shape
    kh, kw = kernel
    return ((h + pads[0] + pads[2] - kh) // strides[0] + 1, (w + pads[1] + pads[3] - kw) // strides[1] + 1)


def conv_forward(codes, weights, in_shape, strides, pads, group):
    """acc (N, O, OH, OW) int64 of the integer convolution (see module doc)."""
    c, h, w = in_shape
    x = codes.reshape(-1, c, h, w)
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    out_ch, per_group, kh, kw = weights.shape
    oh, ow = conv_output_hw(in_shape, (kh, kw), strides, pads)
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    windows = windows[:, :, ::strides[0], ::strides[1]][:, :, :oh, :ow]  # (N, C, OH, OW, kh, kw)
    acc = np.zeros((x.shape[0], out_ch, oh, ow), dtype=np.int64)
    out_per_group = out_ch // group
    for g in range(group):
        part = windows[:, g * per_group:(g + 1) * per_group]
        kernel = weights[g * out_per_group:(g + 1) * out_per_group]
        acc[:, g * out_per_group:(g + 1) * out_per_group] = np.einsum("ncijuv,ocuv->noij", part, kernel)
    return acc


def conv_connections(weights, in_shape, strides, pads, group):
    """Per output element (o, i, j in C order): [(flat input index, weight), ...] without
    zero weights and padding -- the sparse rows the circuit generator turns into logic."""
    c, h, w = in_shape
    out_ch, per_group, kh, kw = weights.shape
    oh, ow = conv_output_hw(in_shape, (kh, kw), strides, pads)
    out_per_group = out_ch // group
    rows = []
    for o in range(out_ch):
        taps = [(g_c, u, v, int(weights[o, g_c, u, v])) for g_c in range(per_group)
                for u in range(kh) for v in range(kw) if weights[o, g_c, u, v]]
        first = (o // out_per_group) * per_group
        for i in range(oh):
            for j in range(ow):
                row = []
                for g_c, u, v, wgt in taps:
                    y, x = i * strides[0] + u - pads[0], j * strides[1] + v - pads[1]
                    if 0 <= y < h and 0 <= x < w:
                        row.append((((first + g_c) * h + y) * w + x, wgt))
                rows.append(row)
    return rows


class QConv2D(ImageLayerOp):
    """Integer 2-D convolution with threshold requantization (LBIR)."""

    def get_nodeattr_types(self):
        return {
            "weights": ("t", True, np.zeros((0, 0, 0, 0), dtype=np.int64)),
            "in_shape": ("ints", True, []),  # [C, H, W]
            "strides": ("ints", False, [1, 1]),
            "pads": ("ints", False, [0, 0, 0, 0]),  # top, left, bottom, right
            "group": ("i", False, 1),
            "in_index": ("ints", False, []),  # gather of the image from the input codes ([]: in order)
            "in_dtype": ("s", True, ""),
            "out_dtype": ("s", True, ""),
            **REQUANT_ATTRIBUTES,
            **VERILOG_ATTRIBUTES,
        }

    def geometry(self):
        return ([int(d) for d in self.get_nodeattr("in_shape")], [int(s) for s in self.get_nodeattr("strides")],
                [int(p) for p in self.get_nodeattr("pads")], int(self.get_nodeattr("group")))

    def out_shape(self):
        in_shape, strides, pads, _ = self.geometry()
        weights = self.weight_codes()
        return (weights.shape[0], *conv_output_hw(in_shape, weights.shape[2:], strides, pads))

    def channel_of_outputs(self):
        o, oh, ow = self.out_shape()
        return np.repeat(np.arange(o), oh * ow)

    def connections(self):
        in_shape, strides, pads, group = self.geometry()
        rows = conv_connections(self.weight_codes(), in_shape, strides, pads, group)
        in_index = self.get_nodeattr("in_index")
        return [[(in_index[k], w) for k, w in row] for row in rows] if in_index else rows

    def execute_node(self, context, graph):
        node = self.onnx_node
        codes = self.input_codes(context)
        in_shape, strides, pads, group = self.geometry()
        in_index = self.get_nodeattr("in_index")
        if in_index:
            codes = codes[:, in_index]
        acc = conv_forward(codes.astype(np.int64), self.weight_codes(), in_shape, strides, pads, group)
        out = requantize_codes(acc.reshape(acc.shape[0], -1), self.get_nodeattr("requant"),
                               self.threshold_codes(), self.channel_of_outputs(), self.get_nodeattr("out_base"),
                               self.get_nodeattr("threshold_weights"))
        context[node.output[0]] = out.astype(np.float32)

    def verify_node(self):
        messages = []
        weights = self.weight_codes()
        in_shape, strides, pads, group = self.geometry()
        if weights.ndim != 4:
            messages.append(f"weights must be 4-D (O, C/group, KH, KW), got {weights.shape}")
        elif len(in_shape) != 3 or in_shape[0] != weights.shape[1] * group or weights.shape[0] % group:
            messages.append(f"in_shape {in_shape}, group {group} and weights {weights.shape} disagree")
        if len(strides) != 2 or len(pads) != 4:
            messages.append("strides must have 2 entries and pads 4 (top, left, bottom, right)")
        if self.get_nodeattr("requant") == "thresholds" and weights.ndim == 4:
            thresholds = self.threshold_codes()
            if thresholds.size and (thresholds.ndim != 2 or thresholds.shape[0] != weights.shape[0]):
                messages.append(f"one threshold row per output channel expected, got shape {thresholds.shape}")
            elif thresholds.size and np.any(np.diff(thresholds, axis=1) < 0):
                messages.append("thresholds must be sorted along each row")
            messages += threshold_weight_messages(self.get_nodeattr("threshold_weights"), thresholds)
        in_index = self.get_nodeattr("in_index")
        if in_index and len(in_index) != int(np.prod(in_shape)):
            messages.append("in_index needs one entry per image element")
        return messages
