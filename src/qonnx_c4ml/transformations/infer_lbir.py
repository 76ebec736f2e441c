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
"""
from dataclasses import dataclass, field

import numpy as np
from onnx import TensorProto, helper

from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.lbir.conv import conv_output_hw
from qonnx_c4ml.lbir.dense import accumulator_range
from qonnx_c4ml.names import unique_name
from qonnx_c4ml.lbir.dtypes import datatype_for_range, datatype_range
from qonnx_c4ml.transformations.finn_front import affine_glue, constants_as_initializers
from qonnx_c4ml.transformations.batch_axis import batched_name, declared_shape_nodes, per_sample_shape, transpose_axes
from qonnx_c4ml.lbir.staircase import threshold_columns
from qonnx_c4ml.lbir.requant import as_fraction, integer_thresholds, relu_levels
from qonnx_c4ml.transformations.constants import (  # noqa: F401 - GLUE/HOST_PREFIX_OPS re-exported
    GLUE_OPS,
    HOST_PREFIX_OPS,
    LAYOUT_OPS,
    QUANTIZER_OPS,
    ConstantEvaluator,
    quant_code_range,
    quant_parameters,
)
from qonnx_c4ml.transformations.input_type import OPTION_HINT, parse_input_datatype
from qonnx_c4ml.transformations.prepare import prepare_for_lowering, restore_input_annotations
from qonnx_c4ml.transformations.float_quantizer import check_code_range, host_float_input
from qonnx_c4ml.transformations.quantizer_levels import quantizer_levels
from qonnx_c4ml.transformations.zero_point import align_rows, refuse_bipolar_zero_point, zero_point

LINEAR_OPS = ("MatMul", "Gemm")
AVERAGE_POOL_OPS = ("AveragePool", "GlobalAveragePool")
CIRCUIT_OPS = LINEAR_OPS + ("Conv", "MaxPool") + AVERAGE_POOL_OPS  # must not be left to the host
LAYER_QUANTIZERS = QUANTIZER_OPS + ("Trunc",)  # what may end a layer (not the input)
# qonnx's ConvertToChannelsLast puts Conv/MaxPool/BatchNormalization in this domain (NHWC)
CHANNELS_LAST_DOMAIN = "qonnx.custom_op.channels_last"
UNSUPPORTED_HINTS = {
    "MaxPool": "a MaxPool between a layer and its quantizer does not fold; quantize first "
    "(QuantReLU before MaxPool2d), as Brevitas models usually do",
    "Add": "a residual Add needs both operands quantized (add a QuantIdentity on each branch)",
}


@dataclass
class Activation:
    """An integer tensor of the circuit, as the float tensor it stands for.

    value[element] = scale[element] * code + offset[element] for each element of one sample;
    `index[element]` says where that element's code lives in the flattened `codes` tensor,
    so layout ops only permute `index`, `scale` and `offset`.
    """

    codes: str  # tensor name in the new graph holding the integer codes
    index: np.ndarray  # int, per-sample shape
    scale: np.ndarray  # object array of Fraction, per-sample shape
    offset: np.ndarray  # object array of Fraction, per-sample shape
    scale_f32: np.ndarray  # the graph's float32 scale (for the host's dequantization)
    offset_f32: np.ndarray
    lo: int  # code range
    hi: int
    codes_shape: tuple = ()  # per-sample shape of the `codes` tensor
    source: str = None  # the original float tensor this stands for (None: the codes themselves)
    pads: tuple = (0, 0, 0, 0)  # zero padding (top, left, bottom, right) a Pad node asked for

    @staticmethod
    def view(array, channels_last):
        """A per-sample image array as (C, H, W): transposed back from (H, W, C) for channels-last ops."""
        return np.transpose(array, (2, 0, 1)) if channels_last else array

    @property
    def dtype(self):
        return datatype_for_range(self.lo, self.hi)


def _fractions(values, shape):
    values = np.broadcast_to(np.asarray(values, dtype=np.float64), shape)
    out = np.empty(shape, dtype=object)
    for i, v in np.ndenumerate(values):
        out[i] = as_fraction(v)
    return out


def _sanitize(name):
    clean = "".join(c if c.isalnum() else "_" for c in name).strip("_")
    return clean or "layer"


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
        lowering = _Lowering(prepared)
        lowered = restore_input_annotations(prepared, lowering.run(), input_chain)
        return lowered, lowering.acts


class _Lowering:
    def __init__(self, model):
        self.model = model
        self.consts = ConstantEvaluator(model)
        self.consumers = {}
        for node in model.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.new_nodes = []  # LBIR + host boundary nodes, in order
        self.removed = set()  # names of original nodes absorbed into the circuit
        self.layer_names = set()
        self.lbir_outputs = {}  # codes tensor -> datatype name

    # -- graph helpers -------------------------------------------------------------------
    def only_consumer(self, tensor):
        """The single node reading `tensor`'s values (a Shape node reads only its shape)."""
        users = [n for n in self.consumers.get(tensor, []) if n.op_type != "Shape"]
        if len(users) != 1:
            return None
        return users[0]

    def const_operand(self, node, tensor):
        """(constant value, position) of the non-`tensor` operand of a binary op, or (None, -1)."""
        if len(node.input) != 2:
            return None, -1
        pos = 1 if node.input[0] == tensor else 0
        return self.consts.value(node.input[pos]), pos

    def fresh_name(self, base):
        return unique_name(_sanitize(base), self.layer_names)

    # -- the walk ------------------------------------------------------------------------
    def run(self):
        graph = self.model.graph
        if len(graph.input) != 1 or len(graph.output) != 1:
            raise UnsupportedModelError(
                f"the model has {len(graph.input)} inputs and {len(graph.output)} outputs",
                hint="export a model with exactly one input and one output")
        if not any(n.op_type in QUANTIZER_OPS for n in graph.node):
            raise UnsupportedModelError(
                "the model has no quantizers (Quant, FloatQuant, BipolarQuant or MultiThreshold): "
                "it is a float model",
                hint="export a quantized model (Brevitas QuantLinear/QuantReLU, QKeras) to QONNX")
        shape = self.model.get_tensor_shape(graph.input[0].name)
        if not shape or any(not isinstance(d, int) or d <= 0 for d in shape[1:]):
            raise UnsupportedModelError(
                f"the model input '{graph.input[0].name}' has no static shape ({shape})",
                hint="export with a fixed example input shape (only the batch axis may be dynamic)")
        # Walk the integer tensors breadth first: each consumer of a tensor that the circuit can
        # take (layout op, layer, pool, residual Add, requantization) yields new tensors.
        first = self.input_boundary(graph.input[0].name)
        self.acts = {self.tensor_of(first): first}
        queue, self.accumulator_outputs = [self.tensor_of(first)], 0
        while queue:
            tensor = queue.pop(0)
            for node in list(self.consumers.get(tensor, [])):
                if node.name in self.removed or node.op_type == "Shape":
                    continue
                for act in self.absorb(node, tensor, self.acts[tensor]):
                    self.acts[self.tensor_of(act)] = act
                    queue.append(self.tensor_of(act))
        if not any(n.domain == DOMAIN for n in self.new_nodes):
            raise UnsupportedModelError(
                "no quantized layer (MatMul/Gemm/Conv between quantizers) found after the input quantizer",
                hint="the circuit needs at least one quantized layer")
        outputs = [act for tensor, act in self.acts.items() if self.needed_by_host(tensor)]
        if len(outputs) + self.accumulator_outputs != 1:
            names = [self.tensor_of(a) for a in outputs] + ["a float layer output"] * self.accumulator_outputs
            raise UnsupportedModelError(
                f"the circuit would have {len(names)} outputs ({', '.join(names) or 'none'})",
                hint="only networks with one output tensor leaving the integer part are supported")
        for act in outputs:
            self.output_boundary(act)
        return self.assemble()

    def needed_by_host(self, tensor):
        """True if an original node left on the host (or the graph output) reads `tensor`."""
        if tensor in {o.name for o in self.model.graph.output}:
            return True
        return any(n.name not in self.removed and n.op_type != "Shape" for n in self.consumers.get(tensor, []))

    def absorb(self, node, tensor, act):
        """Take `node` (a consumer of the integer tensor `tensor`) into the circuit if it can be;
        returns the new integer tensors' activations (none if it stays on the host)."""
        channels_last = node.domain == CHANNELS_LAST_DOMAIN
        first_input = node.input[0] == tensor
        if act.pads != (0, 0, 0, 0) and not (node.op_type in ("Conv", "Transpose") and first_input):
            raise UnsupportedModelError("only a Conv may follow a Pad node", node,
                                        "pad right before a convolution (e.g. nn.ZeroPad2d -> QuantConv2d)")
        if node.op_type in LAYOUT_OPS and first_input:
            return [self.apply_layout(act, node)]
        if node.op_type == "Pad" and first_input:
            return [self.apply_pad(act, node)]
        if node.op_type in LINEAR_OPS and first_input:
            return self.layer_result(self.dense_layer(act, node))
        if node.op_type == "Conv" and first_input:
            return self.layer_result(self.conv_layer(act, node, channels_last))
        if node.op_type in AVERAGE_POOL_OPS and first_input:
            return self.layer_result(self.average_pool_layer(act, node))
        if node.op_type == "MaxPool" and first_input:
            return [self.max_pool(act, node, channels_last)]
        if node.op_type == "Add" and all(i in self.acts for i in node.input):
            return self.layer_result(self.add_layer(node))
        if node.op_type in GLUE_OPS + ("Relu",) + LAYER_QUANTIZERS and self.glue_reaches_quantizer(node):
            return self.layer_result(self.identity_layer(act, node))
        # FINN graphs (finn_front.py): constant Add/Mul between a quantizer and the next layer
        glued = affine_glue(self, node, tensor, act, Activation, _fractions)
        return [glued] if glued is not None else []

    @staticmethod
    def layer_result(step):
        act, _ = step
        return [act] if act is not None else []

    def input_boundary(self, graph_input):
        """Find the input quantizer (prepare.py inserted one for an annotated or given input type);
        emit host nodes producing its integer codes."""
        tensor = graph_input
        while True:
            node = self.only_consumer(tensor)
            if node is None:
                raise UnsupportedModelError(
                    f"no input quantizer found on the path from the model input '{graph_input}'",
                    hint="the model looks float-only: quantize the input (e.g. QuantIdentity) "
                    "and the layers, or " + OPTION_HINT)
            if node.op_type in QUANTIZER_OPS and node.input[0] == tensor:
                return self.host_input_quantizer(node)
            if node.op_type in HOST_PREFIX_OPS:
                tensor = node.output[0]
                continue
            hint = UNSUPPORTED_HINTS.get(node.op_type, "quantize the model input before any layer, or " + OPTION_HINT)
            raise UnsupportedModelError(
                "reached before any input quantizer; the circuit needs integer inputs", node, hint)

    def host_input_quantizer(self, node):
        out = node.output[0]
        shape = self.model.get_tensor_shape(out)
        codes = self.fresh_name(out + "_codes")
        self.removed.add(node.name)
        if node.op_type in ("Quant", "IntQuant"):
            scale, bits, signed, narrow, mode = quant_parameters(node, self.consts)
            if np.asarray(scale).size != 1:
                raise UnsupportedModelError(
                    "per-channel input quantizer scales are not supported", node,
                    "use a per-tensor scale for the input quantizer")
            bipolar = bits == 1 and signed  # qonnx: 1-bit signed Quant is bipolar
            zero = zero_point(node, self.consts)
            if zero.size != 1:
                raise UnsupportedModelError("per-channel input zero-points are not supported", node,
                                            "use a per-tensor zero-point for the input quantizer")
            if bipolar:
                refuse_bipolar_zero_point(node, zero)
            divided = codes + "_scaled"
            self.host(helper.make_node("Div", [node.input[0], node.input[1]], [divided],
                                       name=codes + "_div"))
            self.host(self.constant(codes + "_one", np.float32(1.0)))
            self.host(helper.make_node(  # with zero-point z its output is q - z (zero_point.py)
                "Quant", [divided, codes + "_one", node.input[2], node.input[3]],
                [codes + "_pm1" if bipolar else codes], name=codes + "_quant",
                domain="qonnx.custom_op.general",
                signed=int(signed), narrow=int(narrow), rounding_mode=mode))
            if bipolar:
                return self.bipolar_codes(codes, shape, scale, out)
            lo, hi = quant_code_range(bits, signed, narrow)
            z = int(zero.ravel()[0])
            return self.make_activation(codes, shape[1:], scale, 0.0, lo - z, hi - z, source=out)
        if node.op_type == "FloatQuant":
            scale, lo, hi = host_float_input(self, node, codes)
            return self.make_activation(codes, shape[1:], scale, 0.0, lo, hi, source=out)
        if node.op_type == "BipolarQuant":
            scale = self.consts.value(node.input[1])
            if scale is None or np.asarray(scale).size != 1:
                raise UnsupportedModelError("BipolarQuant input scale must be a per-tensor constant", node)
            self.host(self.constant(codes + "_one", np.float32(1.0)))
            self.host(helper.make_node("BipolarQuant", [node.input[0], codes + "_one"],
                                       [codes + "_pm1"], name=codes + "_bipolar",
                                       domain="qonnx.custom_op.general"))
            return self.bipolar_codes(codes, shape, scale, out)
        # MultiThreshold: the count itself is the code; out_scale/out_bias map it to the value
        thresholds = self.consts.value(node.input[1])
        if thresholds is None:
            raise UnsupportedModelError("thresholds must be constant", node)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        self.host(helper.make_node("MultiThreshold", list(node.input), [codes], name=codes + "_mt",
                                   domain="qonnx.custom_op.general",
                                   out_dtype=attrs.get("out_dtype", b"UINT32"),
                                   data_layout=attrs.get("data_layout", b"")))
        n = np.asarray(thresholds).shape[-1]
        return self.make_activation(codes, shape[1:], attrs.get("out_scale", 1.0),
                                    attrs.get("out_bias", 0.0), 0, n, source=out)

    def bipolar_codes(self, codes, shape, scale, source):
        """Host nodes mapping the +-1 tensor `codes`_pm1 to codes 0/1; value = 2*scale*code - scale."""
        self.host(self.constant(codes + "_half", np.float32(0.5)))
        self.host(helper.make_node("Add", [codes + "_pm1", codes + "_one"], [codes + "_01x2"],
                                   name=codes + "_add"))
        self.host(helper.make_node("Mul", [codes + "_01x2", codes + "_half"], [codes], name=codes + "_mul"))
        scale = np.float32(np.asarray(scale).ravel()[0])
        return self.make_activation(codes, shape[1:], 2 * scale, -scale, 0, 1, source=source)

    def make_activation(self, codes, per_sample_shape, scale, offset, lo, hi, source=None):
        shape = tuple(int(d) for d in per_sample_shape)
        scale_f32 = np.broadcast_to(np.asarray(scale, dtype=np.float32), shape).copy()
        offset_f32 = np.broadcast_to(np.asarray(offset, dtype=np.float32), shape).copy()
        return Activation(codes, np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape),
                          _fractions(scale_f32, shape), _fractions(offset_f32, shape),
                          scale_f32, offset_f32, int(lo), int(hi), shape, source)

    def tensor_of(self, act):
        """Name of the original float tensor `act` stands for (its codes' source)."""
        return act.source or act.codes

    def apply_layout(self, act, node):
        self.removed.add(node.name)
        if node.op_type == "Identity":
            return act
        batch_in = self.model.get_tensor_shape(node.input[0])
        if node.op_type == "Transpose":
            axes = transpose_axes(node, batch_in, act.index.ndim)
            move = lambda a: np.transpose(a, axes)  # noqa: E731
        else:
            if node.op_type == "Reshape":
                target = self.consts.value(node.input[1])
                if target is None:
                    raise UnsupportedModelError("Reshape target shape is not constant", node,
                                                "run qonnx's FoldConstants or export with static shapes")
                target = [int(t) for t in target]
                target = [(batch_in[i] if t == 0 else t) for i, t in enumerate(target)]
                new_shape = np.empty(batch_in, dtype=np.int8).reshape(target).shape
            else:  # Flatten / Squeeze / Unsqueeze: the inferred shape says it
                new_shape = self.model.get_tensor_shape(node.output[0])
                if node.op_type == "Flatten":
                    axis = helper.get_attribute_value(node.attribute[0]) if node.attribute else 1
                    if axis != 1:
                        raise UnsupportedModelError(f"Flatten with axis={axis} mixes the batch axis", node)
                    new_shape = (batch_in[0], int(np.prod(batch_in[1:])))
            per_sample = per_sample_shape(node, batch_in, new_shape, act.index.ndim)
            move = lambda a: a.reshape(per_sample)  # noqa: E731
        # pending pads are in image coordinates (top, left, bottom, right): a Transpose between
        # a Pad and a channels-last Conv (qonnx's conversion leaves one) keeps them meaningful
        return Activation(act.codes, move(act.index), move(act.scale), move(act.offset),
                          move(act.scale_f32), move(act.offset_f32), act.lo, act.hi,
                          act.codes_shape, node.output[0], act.pads)

    # -- layers --------------------------------------------------------------------------
    def dense_layer(self, act, node):
        """MatMul/Gemm with quantized constant weights, then glue and a quantizer."""
        if node.op_type == "Gemm":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            if attrs.get("transA", 0):
                raise UnsupportedModelError("Gemm with transA=1 is not supported", node)
            trans_b, gemm_alpha, gemm_beta = attrs.get("transB", 0), attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
        else:
            trans_b, gemm_alpha, gemm_beta = 0, 1.0, 1.0
        weights = self.consts.quantized(node.input[1])
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
        n_out = codes.shape[1]
        # scale of each output channel must not vary along the reduction axis
        if np.any(w_scale != w_scale[:1, :]):
            raise UnsupportedModelError("weight scales vary along the input axis", node,
                                        "use per-tensor or per-output-channel weight scales")
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
        if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
            bias = [as_fraction(v) for v in np.broadcast_to(
                np.asarray(self.consts.value(node.input[2]), np.float64).reshape(-1), (n_out,))] \
                if self.consts.value(node.input[2]) is not None else None
            if bias is None:
                raise UnsupportedModelError("Gemm bias C is not constant", node)
            beta = [b + as_fraction(gemm_beta) * c for b, c in zip(beta, bias)]
            host_terms.append(np.float32(gemm_beta) * np.asarray(
                np.broadcast_to(np.asarray(self.consts.value(node.input[2]), np.float32).reshape(-1), (n_out,))))
        # weights over the flattened codes tensor (layout ops folded into the columns)
        matrix = np.zeros((n_out, int(act.index.size)), dtype=np.int64)
        np.add.at(matrix.T, act.index.ravel(), codes)
        layer = Layer(self.fresh_name(node.name or node.output[0]), node, act, matrix,
                      alpha, beta, [node.name], host_terms, out_shape=(n_out,), out_index=np.arange(n_out))
        return self.finish_layer(layer, node.output[0])

    # -- convolutional layers ------------------------------------------------------------
    def image_shape(self, act, node, channels_last):
        """(C, H, W) of the image `act` and the `in_index` attribute: where each (c, h, w) lives
        in the codes tensor ([] when in order; channels-last codes or folded Transposes are not)."""
        if act.index.ndim != 3:
            raise UnsupportedModelError(f"input of per-sample shape {act.index.shape} is not an image", node,
                                        "2-D convolutions and pools need (C, H, W) or (H, W, C) inputs")
        index = act.view(act.index, channels_last)
        in_order = np.array_equal(index.ravel(), np.arange(index.size)) and \
            index.size == int(np.prod(act.codes_shape))
        return tuple(int(d) for d in index.shape), ([] if in_order else [int(i) for i in index.ravel()])

    def channel_parameters(self, act, node, channels_last, groups_of_channels):
        """Per input channel (scale, offset) Fractions; each list in `groups_of_channels` must
        share one scale and offset (a sum over channels needs one integer scale)."""
        scale, offset = act.view(act.scale, channels_last), act.view(act.offset, channels_last)
        per_channel = []
        for c in range(scale.shape[0]):
            if len(set(scale[c].ravel())) != 1 or len(set(offset[c].ravel())) != 1:
                raise UnsupportedModelError("the input scale varies inside a channel", node,
                                            "use per-tensor or per-channel activation quantizers")
            per_channel.append((scale[c].ravel()[0], offset[c].ravel()[0]))
        for channels in groups_of_channels:
            if len({per_channel[c] for c in channels}) != 1:
                raise UnsupportedModelError(
                    "input channels summed together have different scales", node,
                    "use a per-tensor activation quantizer before a (non-depthwise) convolution")
        return per_channel

    def output_image(self, node, channels, out_hw, channels_last):
        """Per-sample output shape, channel axis and the graph-position -> code-position index."""
        index = np.arange(channels * out_hw[0] * out_hw[1]).reshape(channels, *out_hw)
        if channels_last:
            index = np.transpose(index, (1, 2, 0))
        shape = self.model.get_tensor_shape(node.output[0])
        if shape is not None and tuple(shape[1:]) != index.shape:
            raise UnsupportedModelError(f"output shape {shape} differs from the computed {index.shape}", node)
        return index.shape, (2 if channels_last else 0), index

    def conv_layer(self, act, node, channels_last):
        """Conv with quantized constant weights (any group, stride, padding; dilation 1)."""
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise UnsupportedModelError(f"dilations {attrs['dilations']} are not supported", node,
                                        "only dilation 1 convolutions become logic")
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise UnsupportedModelError("auto_pad is not supported", node, "export with explicit pads")
        weights = self.consts.quantized(node.input[1])
        if weights is None:
            raise UnsupportedModelError("the weight operand is not a constant", node,
                                        "only constant (trained) weights can become logic")
        if np.any(weights.offset != 0):
            raise UnsupportedModelError("weights with an offset are not supported", node)
        codes, w_scale = weights.codes, weights.scale
        if codes.ndim != 4:
            raise UnsupportedModelError(f"only 2-D convolutions are supported (weights {codes.shape})", node)
        if channels_last:  # qonnx's channels-last Conv keeps its weights as (O, KH, KW, C/group)
            codes, w_scale = np.transpose(codes, (0, 3, 1, 2)), np.transpose(w_scale, (0, 3, 1, 2))
        n_out, per_group, kh, kw = codes.shape
        w_scale = w_scale.reshape(n_out, -1)
        if np.any(w_scale != w_scale[:, :1]):
            raise UnsupportedModelError("weight scales vary inside an output channel", node,
                                        "use per-tensor or per-output-channel weight scales")
        in_shape, in_index = self.image_shape(act, node, channels_last)
        group = int(attrs.get("group", 1))
        if in_shape[0] != per_group * group or n_out % group:
            raise UnsupportedModelError(f"group {group} does not fit {in_shape[0]} input channels", node)
        strides = [int(v) for v in attrs.get("strides", [1, 1])]
        pads = [int(v) for v in attrs.get("pads", [0, 0, 0, 0])]
        pads = [p + extra for p, extra in zip(pads, act.pads)]
        out_per_group = n_out // group
        groups = [range(g * per_group, (g + 1) * per_group) for g in range(group)]
        channel = self.channel_parameters(act, node, channels_last, groups)
        if any(pads) and any(o != 0 for _, o in channel):
            raise UnsupportedModelError("zero padding of an input whose code 0 is not the value 0", node,
                                        "pad only signed/unsigned Quant outputs (not bipolar ones)")
        alpha, beta = [], []
        for o in range(n_out):
            first = (o // out_per_group) * per_group
            s_x = channel[first][0]
            s_w = as_fraction(w_scale[o, 0])
            alpha.append(s_x * s_w)
            beta.append(s_w * sum(channel[first + c][1] * int(codes[o, c].sum()) for c in range(per_group)))
        if len(node.input) > 2 and node.input[2]:
            bias = self.consts.value(node.input[2])
            if bias is None:
                raise UnsupportedModelError("the bias is not constant", node)
            beta = [b + as_fraction(c) for b, c in zip(beta, np.asarray(bias, np.float64).reshape(-1))]
        out_hw = conv_output_hw(in_shape, (kh, kw), strides, pads)
        out_shape, axis, index = self.output_image(node, n_out, out_hw, channels_last)
        layer = Layer(self.fresh_name(node.name or node.output[0]), node, act, codes, alpha, beta,
                      [node.name], [], kind="conv", out_shape=out_shape, channel_axis=axis, out_index=index,
                      attrs={"in_shape": list(in_shape), "strides": strides, "pads": pads, "group": group,
                             **({"in_index": in_index} if in_index else {})})
        return self.finish_layer(layer, node.output[0])

    def average_pool_layer(self, act, node):
        """AveragePool / GlobalAveragePool: a depthwise convolution with weights 1 whose
        1/window factor folds into the requantization that follows (Trunc or Quant)."""
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        in_shape, in_index = self.image_shape(act, node, False)
        if node.op_type == "GlobalAveragePool":
            kernel, strides, pads = list(in_shape[1:]), [1, 1], [0, 0, 0, 0]
        else:
            kernel = [int(v) for v in attrs["kernel_shape"]]
            strides = [int(v) for v in attrs.get("strides", [1, 1])]
            pads = [int(v) for v in attrs.get("pads", [0, 0, 0, 0])]
            if attrs.get("ceil_mode", 0):
                raise UnsupportedModelError("ceil_mode=1 is not supported", node, "export with ceil_mode=0")
            if any(pads) and not attrs.get("count_include_pad", 0):
                raise UnsupportedModelError("padded AveragePool with count_include_pad=0 divides by a "
                                            "varying count", node, "pad explicitly or avoid pool padding")
            if any(d != 1 for d in attrs.get("dilations", [1, 1])):
                raise UnsupportedModelError("dilated pooling is not supported", node)
        channels = in_shape[0]
        channel = self.channel_parameters(act, node, False, [])
        if any(pads) and any(o != 0 for _, o in channel):
            raise UnsupportedModelError("zero padding of an input whose code 0 is not the value 0", node)
        window = kernel[0] * kernel[1]
        weights = np.ones((channels, 1, *kernel), dtype=np.int64)
        alpha = [channel[c][0] / window for c in range(channels)]
        beta = [channel[c][1] for c in range(channels)]  # the mean of a constant offset is itself
        out_hw = conv_output_hw(in_shape, kernel, strides, pads)
        out_shape, axis, index = self.output_image(node, channels, out_hw, False)
        layer = Layer(self.fresh_name(node.name or node.output[0]), node, act, weights, alpha, beta,
                      [node.name], [], kind="conv", out_shape=out_shape, channel_axis=axis, out_index=index,
                      attrs={"in_shape": list(in_shape), "strides": strides, "pads": pads, "group": channels,
                             **({"in_index": in_index} if in_index else {})})
        return self.finish_layer(layer, node.output[0])

    def max_pool(self, act, node, channels_last):
        """MaxPool on codes: exact because every quantizer here is nondecreasing."""
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if len(node.output) > 1 and node.output[1]:
            raise UnsupportedModelError("MaxPool with an Indices output is not supported", node)
        if attrs.get("ceil_mode", 0) or any(d != 1 for d in attrs.get("dilations", [1, 1])):
            raise UnsupportedModelError("MaxPool with ceil_mode=1 or dilation is not supported", node)
        in_shape, in_index = self.image_shape(act, node, channels_last)
        channel = self.channel_parameters(act, node, channels_last, [])
        if any(s <= 0 for s, _ in channel):
            raise UnsupportedModelError("MaxPool after a decreasing quantizer (scale <= 0)", node)
        kernel = [int(v) for v in attrs["kernel_shape"]]
        strides = [int(v) for v in attrs.get("strides", [1, 1])]
        pads = [int(v) for v in attrs.get("pads", [0, 0, 0, 0])]
        out_hw = conv_output_hw(in_shape, kernel, strides, pads)
        out_shape, axis, index = self.output_image(node, in_shape[0], out_hw, channels_last)
        name = self.fresh_name(node.name or node.output[0])
        out_codes = self.fresh_name(node.output[0] + "_codes")
        self.new_nodes.append(helper.make_node(
            "QMaxPool2D", [act.codes], [out_codes], name=name, domain=DOMAIN, in_shape=list(in_shape),
            kernel=kernel, strides=strides, pads=pads, in_dtype=act.dtype, out_dtype=act.dtype,
            **({"in_index": in_index} if in_index else {})))
        self.lbir_outputs[out_codes] = act.dtype
        self.removed.add(node.name)
        scale = np.array([s for s, _ in channel], dtype=object)
        offset = np.array([o for _, o in channel], dtype=object)
        first = act.view(act.scale_f32, channels_last)[:, 0, 0], act.view(act.offset_f32, channels_last)[:, 0, 0]
        expand = lambda v: self.expand(v, out_shape, axis)  # noqa: E731
        return Activation(out_codes, index, expand(scale), expand(offset), expand(first[0]), expand(first[1]),
                          act.lo, act.hi, (index.size,), node.output[0])

    def add_layer(self, node):
        """Residual Add of two integer tensors: s_a*a + s_b*b = (s_b/q) * (p*a + q*b), s_a/s_b = p/q."""
        act_a, act_b = (self.acts[i] for i in node.input)
        if act_a.index.shape != act_b.index.shape:
            raise UnsupportedModelError(f"Add of shapes {act_a.index.shape} and {act_b.index.shape} "
                                        "(broadcasting) is not supported", node)
        n = act_a.index.size
        weights = np.zeros((n, 2), dtype=np.int64)
        alpha, beta = [], []
        for e, (s_a, s_b, o_a, o_b) in enumerate(zip(act_a.scale.ravel(), act_b.scale.ravel(),
                                                     act_a.offset.ravel(), act_b.offset.ravel())):
            ratio = s_a / s_b
            weights[e] = ratio.numerator, ratio.denominator
            alpha.append(s_b / ratio.denominator)
            beta.append(o_a + o_b)
        layer = Layer(self.fresh_name(node.name or node.output[0]), node, act_a, weights, alpha, beta,
                      [node.name], [], kind="add", out_shape=act_a.index.shape, channel_axis=None,
                      out_index=np.arange(n).reshape(act_a.index.shape), act_b=act_b)
        return self.finish_layer(layer, node.output[0])

    @staticmethod
    def expand(per_channel, shape, axis):
        """A per-channel vector broadcast over a per-sample shape (axis None: per element)."""
        per_channel = np.asarray(per_channel)
        if axis is None:
            return per_channel.reshape(shape).copy()
        view = [1] * len(shape)
        view[axis] = -1
        return np.broadcast_to(per_channel.reshape(view), shape).copy()

    def apply_pad(self, act, node):
        """A constant zero Pad on H and W: remembered and folded into the next Conv's pads."""
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        mode = attrs.get("mode", b"constant")
        pads = self.consts.value(node.input[1]) if len(node.input) > 1 else None
        value = self.consts.value(node.input[2]) if len(node.input) > 2 and node.input[2] else 0
        if mode not in (b"constant", "constant") or pads is None or np.any(np.asarray(value) != 0):
            raise UnsupportedModelError("only constant zero padding folds into a convolution", node)
        pads = [int(p) for p in np.asarray(pads).ravel()]
        if len(pads) != 8 or pads[0] or pads[1] or pads[4] or pads[5] or act.index.ndim != 3:
            raise UnsupportedModelError(f"pads {pads} must pad only H and W of an NCHW image", node)
        if any(o != 0 for o in act.offset.ravel()):
            raise UnsupportedModelError("zero padding of an input whose code 0 is not the value 0", node)
        self.removed.add(node.name)
        total = tuple(a + b for a, b in zip(act.pads, (pads[2], pads[3], pads[6], pads[7])))
        return Activation(act.codes, act.index, act.scale, act.offset, act.scale_f32, act.offset_f32,
                          act.lo, act.hi, act.codes_shape, node.output[0], total)

    def identity_layer(self, act, start):
        """A quantizer applied straight to an integer tensor (from node `start`): requantization only."""
        n = int(act.index.size)
        matrix = np.zeros((n, n), dtype=np.int64)
        matrix[np.arange(n), act.index.ravel()] = 1
        alpha = list(act.scale.ravel())
        beta = list(act.offset.ravel())
        flat = Activation(act.codes, np.arange(n), act.scale.ravel(), act.offset.ravel(),
                          act.scale_f32.ravel(), act.offset_f32.ravel(), act.lo, act.hi,
                          act.codes_shape, act.source)
        tensor = self.tensor_of(act)
        layer = Layer(self.fresh_name(tensor + "_requant"), None, flat, matrix, alpha, beta, [], [],
                      out_shape=act.index.shape, channel_axis=None, out_index=np.arange(n).reshape(act.index.shape))
        return self.finish_layer(layer, tensor, start)

    def glue_reaches_quantizer(self, node):
        """glue* -> Relu? -> quantizer, from `node` on (what finish_layer can fold)."""
        while node is not None and node.op_type in GLUE_OPS:
            if node.op_type in ("Add", "Sub", "Mul", "Div") and self.const_operand(node, node.input[0])[0] is None \
                    and self.const_operand(node, node.input[1])[0] is None:
                return False  # e.g. a residual Add: not glue
            node = self.only_consumer(node.output[0])
        if node is not None and node.op_type == "Relu":
            node = self.only_consumer(node.output[0])
        return node is not None and node.op_type in LAYER_QUANTIZERS

    def finish_layer(self, layer, tensor, start=None):
        """Fold glue ops after the linear part; end in a quantizer (thresholds) or not (acc out)."""
        alpha, beta = list(layer.alpha), list(layer.beta)
        relu, glue, node = False, [], start or self.only_consumer(tensor)
        while node is not None:
            if node.op_type == "Relu" and not relu:
                relu = True
            elif node.op_type in GLUE_OPS and not relu:
                folded = self.fold_glue(node, tensor, alpha, beta, layer)
                if folded is None:
                    break
                alpha, beta = folded
            elif node.op_type in LAYER_QUANTIZERS and node.input[0] == tensor:
                self.removed.update(layer.absorbed + [g.name for g in glue] + [node.name])
                return self.requantize(layer, node, alpha, beta, relu), False
            else:
                if self.reaches_layer(node):
                    raise UnsupportedModelError(
                        "sits between quantized layers and cannot be folded into integer thresholds",
                        node, UNSUPPORTED_HINTS.get(
                            node.op_type, "supported between a layer and its quantizer: Add/Sub/Mul/Div "
                            "by constants, BatchNormalization, Relu"))
                break
            glue.append(node)
            tensor = node.output[0]
            node = self.only_consumer(tensor)
        if layer.linear is None:  # a requantization whose glue did not fold
            raise UnsupportedModelError("cannot be folded into the requantization that follows it", node,
                                        "only constant Add/Sub/Mul/Div, BatchNormalization and Relu fold")
        # no quantizer: the accumulator leaves the circuit, the host rescales it
        self.removed.update(layer.absorbed)
        users = [n for n in self.consumers.get(tensor, []) if n.op_type != "Shape"]
        if node is None and len(users) > 1 and layer.kind != "dense":
            raise UnsupportedModelError(
                f"the output of this layer feeds {len(users)} nodes ({', '.join(n.name for n in users)}) "
                "before any quantizer", layer.linear,
                "quantize the layer output once (one QuantReLU/QuantIdentity) and branch after it")
        self.emit_accumulator_output(layer, node)
        self.accumulator_outputs += 1
        return None, True

    def reaches_layer(self, node):
        """True if a MatMul/Gemm/Conv is downstream of `node` (it would be left on the host)."""
        seen, stack = set(), [node]
        while stack:
            current = stack.pop()
            if current.op_type in CIRCUIT_OPS and current is not node:
                return True
            for out in current.output:
                for user in self.consumers.get(out, []):
                    if user.name not in seen:
                        seen.add(user.name)
                        stack.append(user)
        return False

    def per_channel(self, node, name, layer):
        """A constant operand as one Fraction per channel of `layer`'s output, or None."""
        value = self.consts.value(name)
        if value is None:
            return None
        return [as_fraction(v) for v in self.channel_vector(node, value, layer)]

    @staticmethod
    def channel_vector(node, value, layer):
        """`value` broadcast against the layer's output (batch, *out_shape), one entry per
        channel (per element if the layer has no channel axis); it must not vary elsewhere."""
        value = np.asarray(value, dtype=np.float64)
        n = len(layer.alpha)
        if value.size == 1:
            return np.full(n, value.ravel()[0])
        shape = tuple(layer.out_shape)
        try:
            full = np.broadcast_to(value, (1,) + shape)[0] if value.ndim <= len(shape) + 1 else None
        except ValueError:
            full = None
        if full is None:
            raise UnsupportedModelError(
                f"constant of shape {value.shape} does not broadcast to the layer output {shape}", node)
        if layer.channel_axis is None:
            return full.ravel()
        moved = np.moveaxis(full, layer.channel_axis, 0).reshape(n, -1)
        if np.any(moved != moved[:, :1]):
            raise UnsupportedModelError(
                f"constant of shape {value.shape} varies along the spatial axes", node,
                "use per-tensor or per-channel constants")
        return moved[:, 0]

    def fold_glue(self, node, tensor, alpha, beta, layer):
        if node.op_type == "BatchNormalization":
            gamma, bn_bias, mean, var = (self.consts.value(i) for i in node.input[1:5])
            if any(v is None for v in (gamma, bn_bias, mean, var)):
                raise UnsupportedModelError("BatchNormalization parameters are not constant", node)
            eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
            # float64 fold: BatchNorm's sqrt has no exact rational form (float-tolerance class)
            a = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + np.float64(np.float32(eps)))
            b = np.asarray(bn_bias, np.float64) - np.asarray(mean, np.float64) * a
            if len(layer.out_shape) > 1 and node.domain != CHANNELS_LAST_DOMAIN:  # NCHW: channel axis 1
                a, b = (v.reshape((-1,) + (1,) * (len(layer.out_shape) - 1)) for v in (a, b))
            a, b = self.channel_vector(node, a, layer), self.channel_vector(node, b, layer)
            return ([al * as_fraction(x) for al, x in zip(alpha, a)],
                    [be * as_fraction(x) + as_fraction(y) for be, x, y in zip(beta, a, b)])
        value, pos = self.const_operand(node, tensor)
        if value is None:
            return None  # e.g. a residual Add of two activations: not glue
        c = self.per_channel(node, node.input[pos], layer)
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

    def requantize(self, layer, quant, alpha, beta, relu):
        """Thresholds for the quantizer `quant` on y = alpha*acc + beta (+relu)."""
        n_out = len(alpha)
        quantizer = quantizer_levels(self, layer, quant)  # transformations/quantizer_levels.py
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
        out_codes = self.fresh_name(quant.output[0] + "_codes")
        out_dtype = datatype_for_range(int(code_min), int(code_max))
        self.lbir(layer, weights, out_codes, out_dtype, "thresholds", thresholds, lo, column_weights)
        value_scale = self.expand(quantizer.value_scale, layer.out_shape, layer.channel_axis)
        value_offset = self.expand(quantizer.value_offset, layer.out_shape, layer.channel_axis)
        return Activation(out_codes, layer.out_index, _fractions(value_scale, value_scale.shape),
                          _fractions(value_offset, value_offset.shape), value_scale, value_offset,
                          int(code_min), int(code_max), (int(layer.out_index.size),), quant.output[0])

    def lbir(self, layer, weights, out_codes, out_dtype, requant, thresholds, out_base, threshold_weights=None):
        tensor = lambda name, v: helper.make_tensor(name, TensorProto.INT64, v.shape, v.ravel().tolist())  # noqa: E731
        common = dict(name=layer.name, domain=DOMAIN, weights=tensor("weights", weights), in_dtype=layer.act.dtype,
                      out_dtype=out_dtype, requant=requant, out_base=int(out_base))
        if threshold_weights is not None:  # minifloat codes: code = out_base + sum_k w_k [acc >= T_k]
            common["threshold_weights"] = [int(w) for w in threshold_weights]
        if layer.kind == "conv":
            node = helper.make_node("QConv2D", [layer.act.codes], [out_codes], **common, **layer.attrs)
        elif layer.kind == "add":
            node = helper.make_node(
                "QAdd", [layer.act.codes, layer.act_b.codes], [out_codes], **common,
                index_a=[int(i) for i in layer.act.index.ravel()], index_b=[int(i) for i in layer.act_b.index.ravel()],
                channel_of=list(range(len(layer.alpha))), in_dtype_b=layer.act_b.dtype)
        else:
            node = helper.make_node("QDense", [layer.act.codes], [out_codes], **common,
                                    in_shape=[int(d) for d in layer.act.codes_shape])
        if requant == "thresholds":
            node.attribute.append(helper.make_attribute(
                "thresholds", helper.make_tensor("thresholds", TensorProto.INT64, thresholds.shape,
                                                 thresholds.ravel().tolist())))
        self.new_nodes.append(node)
        self.lbir_outputs[out_codes] = out_dtype

    def emit_accumulator_output(self, layer, stop=None):
        """Last layer without quantizer: QDense outputs acc, host recomputes the MatMul output."""
        if layer.kind != "dense":
            raise UnsupportedModelError(
                f"the output of layer '{layer.linear.name}' ({layer.linear.op_type}) reaches "
                + ("this node without a quantizer" if stop is not None else "no quantizer"),
                stop if stop is not None else layer.linear,
                UNSUPPORTED_HINTS.get(stop.op_type if stop is not None else "",
                                      "quantize convolution/pool/Add outputs; only a final MatMul/Gemm may "
                                      "leave the circuit unquantized"))
        matrix = layer.matrix
        acc_min, acc_max = accumulator_range(matrix, *datatype_range(layer.act.dtype))
        acc_name = self.fresh_name(layer.name + "_acc")
        dtype = datatype_for_range(int(acc_min.min(initial=0)), int(acc_max.max(initial=0)))
        self.lbir(layer, matrix, acc_name, dtype, "none", None, 0)
        node = layer.linear
        # MatMul/Gemm output = acc * alpha (+ input offsets) (+ Gemm's C), in float32 and in
        # the order the reference adds them, so power-of-two models stay bit-exact
        alpha = np.array([float(a) for a in layer.alpha], dtype=np.float32)
        self.dequantize(acc_name, node.output[0], alpha, layer.host_terms)

    def output_boundary(self, act):
        """The circuit ends at `act`: the host recomputes its float value."""
        if act.source is None:
            raise UnsupportedModelError(
                "nothing to compile after the input quantizer",
                hint="the model needs a quantized MatMul/Gemm after its input quantizer")
        offset = act.offset_f32.ravel()
        codes, flat = act.codes, act.index.ravel()
        if len(act.codes_shape) != 1 or not np.array_equal(flat, np.arange(int(np.prod(act.codes_shape)))):
            # the tensor is a rearrangement of the codes (a layout op after the last layer)
            codes = self.fresh_name(act.codes + "_gathered")
            self.host(helper.make_node("Constant", [], [codes + "_index"], name=codes + "_index", value=helper.make_tensor(
                codes + "_index", TensorProto.INT64, [flat.size], [int(i) for i in flat])))
            self.host(helper.make_node("Flatten", [act.codes], [codes + "_flat"], name=codes + "_flatten", axis=1))
            self.host(helper.make_node("Gather", [codes + "_flat", codes + "_index"], [codes], name=codes + "_gather",
                                       axis=1))
        terms = [offset] if np.any(offset) else []
        if act.index.ndim == 1:
            self.dequantize(codes, act.source, act.scale_f32.ravel(), terms)
            return
        flat_value = act.source + "_c4ml_flat"
        self.dequantize(codes, flat_value, act.scale_f32.ravel(), terms)
        shape = [-1] + [int(d) for d in act.index.shape]
        self.host(helper.make_node("Constant", [], [flat_value + "_shape"], name=flat_value + "_shape",
                                   value=helper.make_tensor(flat_value + "_shape", TensorProto.INT64, [len(shape)], shape)))
        self.host(helper.make_node("Reshape", [flat_value, flat_value + "_shape"], [act.source],
                                   name=flat_value + "_reshape"))

    def dequantize(self, codes, target, scale, terms):
        """Host nodes: target = codes * scale + terms[0] + terms[1] ..., float32 like qonnx."""
        declared, target = target, batched_name(self.model, target, self.fresh_name)  # e.g. after Reshape(x, [-1])
        self.host(self.constant(codes + "_dequant_scale", np.asarray(scale, np.float32).reshape(1, -1)))
        current = codes + "_scaled" if terms else target
        self.host(helper.make_node("Mul", [codes, codes + "_dequant_scale"], [current], name=codes + "_dequant_mul"))
        for i, term in enumerate(terms):
            name = f"{codes}_dequant_term{i}"
            out = target if i == len(terms) - 1 else f"{name}_sum"
            self.host(self.constant(name, np.asarray(term, np.float32).reshape(1, -1)))
            self.host(helper.make_node("Add", [current, name], [out], name=f"{name}_add"))
            current = out
        self.new_nodes += declared_shape_nodes(target, declared)

    def host(self, node):
        self.new_nodes.append(node)

    @staticmethod
    def constant(name, value):
        value = np.asarray(value, dtype=np.float32)
        return helper.make_node("Constant", [], [name], name=name,
                                value=helper.make_tensor(name, TensorProto.FLOAT, value.shape, value.ravel().tolist()))

    # -- rebuild ---------------------------------------------------------------------------
    def assemble(self):
        """Prefix (original, up to the input quantizer) + new nodes + tail (original, after the boundary)."""
        graph = self.model.graph
        produced_new = {o for n in self.new_nodes for o in n.output}
        new_ids = {id(n) for n in self.new_nodes}
        original = [n for n in graph.node if n.name not in self.removed]
        # keep an original node if its outputs feed the rest of the graph
        needed = {o.name for o in graph.output}
        keep = []
        for node in reversed(original + self.new_nodes):
            is_new = id(node) in new_ids
            if is_new or any(o in needed for o in node.output):
                if not is_new and any(o in produced_new for o in node.output):
                    continue  # replaced by a new node writing the same tensor
                keep.append(node)
                needed.update(node.input)
        keep.reverse()
        for node in keep:
            if id(node) not in new_ids and node.op_type in LINEAR_OPS + ("Conv",):
                raise UnsupportedModelError(
                    "is left outside the circuit: an op the flow cannot fold sits between "
                    "quantizers before it", node, "see the README's supported ops table")
        keep, host_constants = constants_as_initializers(ordered(keep, graph))  # FINN reads initializers
        new_graph = helper.make_graph(
            keep, graph.name or "qonnx_c4ml", list(graph.input), list(graph.output),
            initializer=[i for i in graph.initializer if i.name in needed] + host_constants)
        model = helper.make_model(new_graph, opset_imports=list(self.model.model.opset_import),
                                  producer_name="qonnx-c4ml")
        if not any(o.domain == DOMAIN for o in model.opset_import):
            model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
        model.ir_version = self.model.model.ir_version
        wrapped = ModelWrapper(model)
        for prop in self.model.model.metadata_props:
            wrapped.set_metadata_prop(prop.key, prop.value)
        wrapped = wrapped.transform(InferShapes())
        for name, dtype in self.lbir_outputs.items():
            wrapped.set_tensor_datatype(name, DataType[dtype])
        first = next(n for n in wrapped.graph.node if n.domain == DOMAIN)
        wrapped.set_tensor_datatype(first.input[0], DataType[
            next(a for a in first.attribute if a.name == "in_dtype").s.decode()])
        return wrapped


@dataclass
class Layer:
    """A linear layer on the way to its LBIR node: acc per output element, y = alpha*acc + beta
    per output channel (alpha, beta exact Fractions)."""

    name: str
    linear: object  # the MatMul/Gemm/Conv/pool/Add node, None for an identity (requant-only) layer
    act: Activation  # its input (the first one of an Add)
    weights: np.ndarray  # dense: (n_out, n_codes) over the input codes; conv: (O, C/group, KH, KW); add: (n, 2)
    alpha: list
    beta: list
    absorbed: list  # names of original nodes it replaces
    host_terms: list  # float32 per-channel terms the host adds to a float (unquantized) output
    kind: str = "dense"  # dense | conv | add
    out_shape: tuple = ()  # per-sample shape of the output tensor in the graph
    channel_axis: object = 0  # the axis of out_shape channels run along; None: per element
    out_index: np.ndarray = None  # graph position -> position in the flat output codes
    attrs: dict = field(default_factory=dict)  # conv geometry: in_shape, strides, pads, group
    act_b: Activation = None  # an Add's second operand

    @property
    def matrix(self):
        return self.weights.reshape(self.weights.shape[0], -1)

    def accumulator_bounds(self, weights):
        """Exact per-channel (min, max) of acc over the input datatypes' ranges."""
        matrix = weights.reshape(weights.shape[0], -1)
        if self.kind == "add":
            lo_a, hi_a = accumulator_range(matrix[:, :1], *datatype_range(self.act.dtype))
            lo_b, hi_b = accumulator_range(matrix[:, 1:], *datatype_range(self.act_b.dtype))
            return lo_a + lo_b, hi_a + hi_b
        # a convolution's padded taps read 0, inside every code range here, so bounds hold
        return accumulator_range(matrix, *datatype_range(self.act.dtype))


def ordered(nodes, graph):
    """Topological order: original graph order first, new nodes where their inputs exist."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, out = list(nodes), []
    while pending:
        progressed = False
        for node in list(pending):
            if all(i in available for i in node.input):
                out.append(node)
                available.update(node.output)
                pending.remove(node)
                progressed = True
        if not progressed:
            raise UnsupportedModelError(
                f"could not order {len(pending)} nodes after lowering (first: {pending[0].name})")
    return out


