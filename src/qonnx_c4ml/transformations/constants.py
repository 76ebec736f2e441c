"""Constant sub-graphs of a QONNX model: folded values and quantized weights.

InferLBIR needs two things from the constant parts of a graph:
- the value of any tensor computable without the model input (weights, bias, shapes built
  by the Shape/Gather/Unsqueeze/Concat idiom older exporters write), and
- for weights: their integer codes and scales, which folding to floats would lose.
Both are evaluated lazily and memoized, so the model itself is never rewritten here.
"""
import numpy as np
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from qonnx.custom_op.general.intquant import max_int, min_int, resolve_rounding_mode
from qonnx.custom_op.registry import getCustomOp, is_custom_op

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir.requant import ROUNDING_MODES
from qonnx_c4ml.transformations.float_quantizer import float_weight
from qonnx_c4ml.transformations.zero_point import refuse_bipolar_zero_point, zero_point

QUANTIZER_OPS = ("Quant", "IntQuant", "BipolarQuant", "MultiThreshold", "FloatQuant")
# ops that only move elements around: applied to codes and scales alike
LAYOUT_OPS = ("Transpose", "Reshape", "Flatten", "Identity", "Squeeze", "Unsqueeze")
# affine float ops the host may run on the input, or InferLBIR folds into thresholds between layers
GLUE_OPS = ("Add", "Sub", "Mul", "Div", "BatchNormalization")
# what the host may run before the circuit's input quantizer (InferLBIR, input_type.py)
HOST_PREFIX_OPS = GLUE_OPS + LAYOUT_OPS


class QuantizedConstant:
    """A constant tensor equal to `codes * scale + offset`, elementwise (arrays of one shape).

    `scale` holds the float32 scales exactly as the graph has them, broadcast to the
    tensor's shape, so layout ops can be applied to codes and scales alike.
    """

    def __init__(self, codes, scale, offset):
        self.codes = np.asarray(codes, dtype=np.int64)
        self.scale = np.broadcast_to(np.asarray(scale, dtype=np.float32), self.codes.shape).copy()
        self.offset = np.broadcast_to(np.asarray(offset, dtype=np.float32), self.codes.shape).copy()

    def apply_layout(self, node, evaluator):
        """The same layout op applied to codes, scales and offsets."""
        return QuantizedConstant(
            evaluator.run_node(node, [self.codes]),
            evaluator.run_node(node, [self.scale]),
            evaluator.run_node(node, [self.offset]),
        )


def quant_parameters(node, evaluator):
    """(scale, bitwidth, signed, narrow, rounding_mode) of a Quant node, checked (its integer
    zero-point is read by `zero_point`)."""
    scale = evaluator.value(node.input[1])
    zeropt = evaluator.value(node.input[2])
    bitwidth = evaluator.value(node.input[3])
    if scale is None or zeropt is None or bitwidth is None:
        raise UnsupportedModelError(
            "scale, zero-point and bit width must be constants", node,
            "export with static quantizer parameters")
    scale = np.asarray(scale, dtype=np.float32)
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise UnsupportedModelError(
            f"scale must be finite and > 0, found {scale.ravel()[:4]}", node,
            "check the exporter's scale calibration")
    zero_point(node, evaluator)  # integer zero-points only (transformations/zero_point.py)
    bits = np.asarray(bitwidth).ravel()
    if bits.size != 1 or bits[0] != int(bits[0]) or not 1 <= bits[0] <= 16:
        raise UnsupportedModelError(
            f"bit width {bits.tolist()} is not an integer in 1..16", node,
            "quantize to 16 bits or fewer")
    attrs = {a.name: a for a in node.attribute}
    signed = bool(attrs["signed"].i) if "signed" in attrs else True
    narrow = bool(attrs["narrow"].i) if "narrow" in attrs else False
    mode = attrs["rounding_mode"].s.decode() if "rounding_mode" in attrs else "ROUND"
    if mode.upper() not in ROUNDING_MODES:
        raise UnsupportedModelError(f"unknown rounding mode {mode!r}", node)
    return scale, int(bits[0]), signed, narrow, mode.upper()


def quant_code_range(bits, signed, narrow):
    """(min, max) integer codes of a qonnx Quant; 1-bit signed is bipolar in qonnx."""
    if bits == 1 and signed:
        return -1, 1
    return int(min_int(signed, narrow, bits)), int(max_int(signed, narrow, bits))


class ConstantEvaluator:
    """Memoized values of constant tensors and quantized constants of one model."""

    def __init__(self, model):
        self.model = model
        self._values = {}
        self._quantized = {}
        self._producers = {out: node for node in model.graph.node for out in node.output}
        self._graph_inputs = {i.name for i in model.graph.input}

    def producer(self, name):
        return self._producers.get(name)

    def run_node(self, node, inputs):
        """Execute one node on numpy inputs (ONNX reference for standard ops)."""
        if node.domain and is_custom_op(node.domain, node.op_type):
            context = dict(zip(node.input, inputs))
            getCustomOp(node).execute_node(context, self.model.graph)
            return context[node.output[0]]
        feeds = {name: value for name, value in zip(node.input, inputs) if name}
        return ReferenceEvaluator(node).run(None, feeds)[0]

    def value(self, name):
        """The numpy value of tensor `name` if it does not depend on the model input, else None."""
        if not name:
            return None
        if name in self._values:
            return self._values[name]
        result = None
        init = self.model.get_initializer(name)
        if init is not None:
            result = init
        elif name not in self._graph_inputs:
            node = self.producer(name)
            if node is not None and node.op_type == "Shape":
                shape = self.model.get_tensor_shape(node.input[0])
                if shape is not None and all(isinstance(d, int) and d > 0 for d in shape):
                    result = self.run_node(node, [np.zeros(shape, dtype=np.float32)])
            elif node is not None and node.op_type == "Constant":
                result = numpy_helper.to_array(node.attribute[0].t)
            elif node is not None and len(node.output) == 1:
                inputs = [self.value(i) if i else None for i in node.input]
                if all(v is not None for v, i in zip(inputs, node.input) if i):
                    result = self.run_node(node, inputs)
        self._values[name] = result
        return result

    def quantized(self, name):
        """`QuantizedConstant` for a constant weight tensor, or None if it is not constant.

        Follows layout ops back to a Quant/BipolarQuant on a constant; a plain constant is
        accepted only if all its values are integers (FINN-style integer weights).
        """
        if name in self._quantized:
            return self._quantized[name]
        result = None
        node = self.producer(name)
        if node is not None and node.op_type == "FloatQuant":
            weight = float_weight(node, self)
            result = None if weight is None else QuantizedConstant(*weight, 0.0)
        elif node is not None and node.op_type in ("Quant", "IntQuant"):
            result = self._quantize_weight(node)
        elif node is not None and node.op_type == "BipolarQuant":
            raw = self.value(node.input[0])
            scale = self.value(node.input[1])
            if raw is not None and scale is not None:
                result = QuantizedConstant(np.where(raw >= 0, 1, -1), scale, 0.0)
        elif node is not None and node.op_type in LAYOUT_OPS:
            source = self.quantized(node.input[0])
            if source is not None:
                result = source.apply_layout(node, self)
        if result is None:
            value = self.value(name)
            if value is not None:
                if not np.array_equal(value, np.round(value)):
                    raise UnsupportedModelError(
                        f"weight tensor '{name}' is float and not quantized", node,
                        "quantize the weights in the exporter (Quant/BipolarQuant on them)")
                result = QuantizedConstant(np.round(value), 1.0, 0.0)
        self._quantized[name] = result
        return result

    def _quantize_weight(self, node):
        raw = self.value(node.input[0])
        if raw is None:
            return None
        scale, bits, signed, narrow, mode = quant_parameters(node, self)
        zero = zero_point(node, self)
        # the same float32 steps qonnx's int_quant takes, so the codes are the reference's;
        # codes are q - z (value (q - z) * scale, see zero_point.py)
        scaled = np.asarray(raw, dtype=np.float32) / scale + zero.astype(np.float32)
        if bits == 1 and signed:
            refuse_bipolar_zero_point(node, zero)
            codes = np.where(scaled >= 0, 1, -1)
        else:
            lo, hi = quant_code_range(bits, signed, narrow)
            codes = resolve_rounding_mode(mode)(np.clip(scaled, lo, hi)) - zero
        return QuantizedConstant(codes, scale, 0.0)
