"""What the LBIR layer ops (dense.py, conv.py, pool.py, add.py) share.

`REQUANT_ATTRIBUTES`: how an integer accumulator becomes the output code (integer thresholds,
lbir/requant.py); `VERILOG_ATTRIBUTES`: what GenerateChiselCircuit records on the node.
`LayerOp`: the CustomOp base with the accessors and the output datatype annotation;
`ImageLayerOp` adds the output shape of an image layer (QConv2D, QMaxPool2D: `out_shape()`).
"""
import numpy as np

from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

REQUANT_ATTRIBUTES = {
    "requant": ("s", False, "thresholds", {"thresholds", "none"}),
    "thresholds": ("t", False, np.zeros((0, 0), dtype=np.int64)),
    "out_base": ("i", False, 0),
    # one positive weight per threshold column: code = out_base + sum_k w_k [acc >= T_k]
    "threshold_weights": ("ints", False, []),
}
VERILOG_ATTRIBUTES = {  # set by GenerateChiselCircuit
    "verilog_module": ("s", False, ""),
    "verilog_file": ("s", False, ""),
    # the circuit style chosen for this layer: "parallel" (all outputs in one cycle) or
    # "streaming" (one pixel per cycle through line buffers), "folded" (outputs computed over
    # several cycles by fewer units); "" before generation
    "circuit_style": ("s", False, "", {"", "parallel", "streaming", "folded"}),
}


class LayerOp(CustomOp):
    """Base of the LBIR layer ops: integer weights and thresholds, output datatype `out_dtype`."""

    def weight_codes(self):
        return np.asarray(self.get_nodeattr("weights"), dtype=np.int64)

    def threshold_codes(self):
        return np.asarray(self.get_nodeattr("thresholds"), dtype=np.int64)

    def input_codes(self, context):
        """The first input of the node in `context` as (N, elements) codes; raises unless every
        value is an integer (LBIR layers compute on codes, never on floats)."""
        x = np.asarray(context[self.onnx_node.input[0]])
        codes = x.reshape(x.shape[0], -1)
        if not np.array_equal(codes, np.round(codes)):
            raise ValueError(f"{self.onnx_node.name}: input is not integer-valued")
        return codes

    def infer_node_datatype(self, model):
        model.set_tensor_datatype(self.onnx_node.output[0], DataType[self.get_nodeattr("out_dtype")])


class ImageLayerOp(LayerOp):
    """A layer whose output is an image (`out_shape()`: C, H, W), flattened per sample."""

    def make_shape_compatible_op(self, model):
        shape = model.get_tensor_shape(self.onnx_node.input[0]) or model.get_tensor_shape(
            model.graph.input[0].name)
        return self.make_const_shape_op([shape[0], int(np.prod(self.out_shape()))])
