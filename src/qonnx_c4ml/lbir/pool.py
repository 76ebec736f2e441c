"""QMaxPool2D: max over windows of integer codes.

    x   : codes (N, C*H*W), channels first;  out[n, c, i, j] = max over the window at
          (i*sh - pad_top, j*sw - pad_left) of size kernel, ignoring padded positions
    out : (N, C*OH*OW)

`in_index` (if set) says where image element (c, h, w) lives in the input codes, as in QConv2D.
Exact on codes because every quantizer InferLBIR accepts before a pool is nondecreasing
(positive scale): max of the values = the value of the max code.
"""
import numpy as np

from qonnx_c4ml.lbir.layer_op import ImageLayerOp, VERILOG_ATTRIBUTES
from qonnx_c4ml.lbir.conv import conv_output_hw


def pool_windows(in_shape, kernel, strides, pads):
    """Per output element (c, i, j in C order): the flat input indices of its window."""
    c, h, w = in_shape
    oh, ow = conv_output_hw(in_shape, kernel, strides, pads)
    windows = []
    for ch in range(c):
        for i in range(oh):
            for j in range(ow):
                window = []
                for u in range(kernel[0]):
                    for v in range(kernel[1]):
                        y, x = i * strides[0] + u - pads[0], j * strides[1] + v - pads[1]
                        if 0 <= y < h and 0 <= x < w:
                            window.append((ch * h + y) * w + x)
                windows.append(window)
    return windows


class QMaxPool2D(ImageLayerOp):
    """Max pooling on integer codes (LBIR)."""

    def get_nodeattr_types(self):
        return {
            "in_shape": ("ints", True, []),  # [C, H, W]
            "kernel": ("ints", True, []),
            "strides": ("ints", True, []),
            "pads": ("ints", False, [0, 0, 0, 0]),  # top, left, bottom, right
            "in_index": ("ints", False, []),  # gather of the image from the input codes ([]: in order)
            "in_dtype": ("s", True, ""),
            "out_dtype": ("s", True, ""),
            **VERILOG_ATTRIBUTES,
        }

    def geometry(self):
        return tuple([int(v) for v in self.get_nodeattr(a)] for a in ("in_shape", "kernel", "strides", "pads"))

    def out_shape(self):
        in_shape, kernel, strides, pads = self.geometry()
        return (in_shape[0], *conv_output_hw(in_shape, kernel, strides, pads))

    def windows(self):
        """Per output element, the input code positions of its window (through in_index)."""
        windows = pool_windows(*self.geometry())
        in_index = self.get_nodeattr("in_index")
        return [[in_index[k] for k in window] for window in windows] if in_index else windows

    def execute_node(self, context, graph):
        node = self.onnx_node
        x = np.asarray(context[node.input[0]])
        codes = x.reshape(x.shape[0], -1).astype(np.int64)
        out = np.stack([codes[:, window].max(axis=1) for window in self.windows()], axis=1)
        context[node.output[0]] = out.astype(np.float32)

    def verify_node(self):
        in_shape, kernel, strides, pads = self.geometry()
        if len(in_shape) != 3 or len(kernel) != 2 or len(strides) != 2 or len(pads) != 4:
            return ["in_shape needs 3 entries, kernel and strides 2, pads 4"]
        return []
