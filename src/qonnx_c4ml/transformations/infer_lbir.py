"""InferLBIR: QONNX quantizer/linear patterns -> LBIR integer layer nodes.

Pattern matched (the shapes Brevitas, QKeras->QONNX and FINN graphs take):

    input -> [float glue] -> Q_in -> ( [layout] -> MatMul|Gemm -> [glue] -> [Relu] -> Q )* -> tail

and the same with convolutional layers: the integer tensors are walked as a graph from the
input quantizer, and each consumer the circuit can take becomes LBIR:
- Conv (any group, stride, asymmetric pads, a zero Pad before it; NCHW or qonnx
  channels-last) -> QConv2D, then glue -> Q as for MatMul;
- MaxPool on quantized codes -> QMaxPool2D;
- AveragePool / GlobalAveragePool -> a depthwise QConv2D with weights 1, then Trunc or Q;
- Add of two integer tensors (a residual join) -> QAdd, scales aligned exactly, then glue -> Q.

- `Q` is a quantizer: Quant (any of the 7 rounding modes, narrow, signed/unsigned,
  per-tensor or per-channel scale, integer zero-points: transformations/zero_point.py),
  FloatQuant (minifloat: transformations/float_quantizer.py), BipolarQuant or
  MultiThreshold (and qonnx Trunc v2 after a layer, as Brevitas' TruncAvgPool exports).
- `glue` is Add/Sub/Mul/Div by constants and BatchNormalization; all of it, with the
  scales, folds into exact integer thresholds (lbir/requant.py).
- `layout` is Transpose/Reshape/Flatten/Squeeze/Unsqueeze (including the
  Shape/Gather/Concat flatten idiom); it folds into a permutation of the weight columns.
- The weights are constants quantized by Quant/BipolarQuant (or integer constants).
- A quantizer right after a quantizer (no MatMul) becomes an identity layer.

What it leaves: the host keeps everything before and including the input quantizer
(rewritten as `Div(scale) -> Quant(scale=1)` so it outputs the integer codes with exactly
qonnx's float32 steps), and everything after the circuit's last integer tensor, which it
recomputes with a Mul (+Add).  A last MatMul/Gemm with no quantizer after it becomes a
QDense with `requant="none"` whose accumulator the host scales back to the MatMul output.
A MatMul/Gemm left in the tail means a non-foldable op sits between quantizers: error.

The lowerings, one module per op family, and the registry a new family adds itself to are
in transformations/lowering/ (its package docstring); this module is the Transformation.
"""
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.transformations.input_type import parse_input_datatype
from qonnx_c4ml.transformations.lowering import lower_prepared
from qonnx_c4ml.transformations.prepare import prepare_for_lowering, restore_input_annotations


class InferLBIR(Transformation):
    """Replace the quantized layers of a QONNX model (as exporters write it, see prepare.py) by LBIR
    nodes (see module doc); `input_datatype` ("FIXED<16,6>", ...): input_type.py."""

    def __init__(self, input_datatype=None):
        super().__init__()
        self.input_datatype = None if input_datatype is None else parse_input_datatype(input_datatype)

    def apply(self, model):
        if any(n.domain == DOMAIN for n in model.graph.node):
            return model.transform(InferShapes()), False  # already lowered
        return self.lower(model)[0], False

    def lower(self, model):
        """(LBIR model, {tensor of the prepared model: Activation}): the map says where each
        integer tensor's codes live and what they stand for (verify's layer-by-layer check)."""
        prepared, input_chain = prepare_for_lowering(model, self.input_datatype)
        lowered, acts = lower_prepared(prepared)
        return restore_input_annotations(prepared, lowered, input_chain), acts
