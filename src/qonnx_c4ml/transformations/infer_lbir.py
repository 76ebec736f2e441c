"""InferLBIR: QONNX quantizer/linear patterns -> LBIR integer layer nodes.

Pattern matched (the shapes Brevitas, QKeras->QONNX and FINN graphs take):

    input -> [float glue] -> Q_in -> ( [layout] -> MatMul|Gemm -> [glue] -> [Relu] -> Q )* -> tail

- `Q` is a quantizer: Quant (any of the 7 rounding modes, narrow, signed/unsigned,
  per-tensor or per-channel scale, zero-point 0), BipolarQuant or MultiThreshold.
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
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from onnx import TensorProto, helper

from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.lbir.dense import accumulator_range
from qonnx_c4ml.names import unique_name
from qonnx_c4ml.lbir.dtypes import datatype_for_range, datatype_range
from qonnx_c4ml.lbir.requant import (
    Level,
    as_fraction,
    integer_thresholds,
    relu_levels,
    rounding_levels,
    scale_levels,
)
from qonnx_c4ml.transformations.constants import (
    LAYOUT_OPS,
    QUANTIZER_OPS,
    ConstantEvaluator,
    quant_code_range,
    quant_parameters,
)

GLUE_OPS = ("Add", "Sub", "Mul", "Div", "BatchNormalization")
LINEAR_OPS = ("MatMul", "Gemm")
HOST_PREFIX_OPS = GLUE_OPS + LAYOUT_OPS
UNSUPPORTED_HINTS = {
    "FloatQuant": "minifloat (FloatQuant) quantization is not supported; use integer Quant",
    "Conv": "convolutions are not supported yet; only fully connected networks",
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
    """Replace the quantized layers of a QONNX model by LBIR QDense nodes (see module doc)."""

    def apply(self, model):
        model = model.transform(InferShapes())
        if any(n.domain == DOMAIN for n in model.graph.node):
            return model, False  # already lowered
        # the lowering tracks nodes by name; exporters may leave names empty or repeated
        taken = set()
        for index, node in enumerate(model.graph.node):
            if not node.name or node.name in taken:
                node.name = unique_name(f"{node.op_type}_{index}", taken)
            taken.add(node.name)
        return _Lowering(model).run(), False


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
            floatquant = next((n for n in graph.node if n.op_type == "FloatQuant"), None)
            if floatquant is not None:
                raise UnsupportedModelError("minifloat quantization is not supported", floatquant,
                                            "use integer Quant (IntQuant) quantizers")
            raise UnsupportedModelError(
                "the model has no quantizers (Quant, BipolarQuant or MultiThreshold): it is a float model",
                hint="export a quantized model (Brevitas QuantLinear/QuantReLU, QKeras) to QONNX")
        shape = self.model.get_tensor_shape(graph.input[0].name)
        if not shape or any(not isinstance(d, int) or d <= 0 for d in shape[1:]):
            raise UnsupportedModelError(
                f"the model input '{graph.input[0].name}' has no static shape ({shape})",
                hint="export with a fixed example input shape (only the batch axis may be dynamic)")
        act = self.input_boundary(graph.input[0].name)
        n_layers = 0
        while True:
            step = self.next_layer(act)
            if step is None:
                break
            act, ends = step
            n_layers += 1
            if ends:
                break
        if n_layers == 0:
            raise UnsupportedModelError(
                "no quantized layer (MatMul/Gemm between quantizers) found after the input quantizer",
                hint="the circuit needs at least one quantized dense layer")
        return self.assemble()

    def input_boundary(self, graph_input):
        """Find the input quantizer; emit host nodes producing its integer codes."""
        dtype = self.model.get_tensor_datatype(graph_input)
        shape = self.model.get_tensor_shape(graph_input)
        if dtype is not None and dtype.is_integer() and dtype != DataType["FLOAT32"]:
            lo, hi = int(dtype.min()), int(dtype.max())
            return self.make_activation(graph_input, shape[1:], 1.0, 0.0, lo, hi)
        tensor = graph_input
        while True:
            node = self.only_consumer(tensor)
            if node is None:
                raise UnsupportedModelError(
                    f"no input quantizer found on the path from the model input '{graph_input}'",
                    hint="the model looks float-only: quantize the input (e.g. QuantIdentity) "
                    "and the layers")
            if node.op_type in QUANTIZER_OPS and node.input[0] == tensor:
                return self.host_input_quantizer(node)
            if node.op_type in HOST_PREFIX_OPS:
                tensor = node.output[0]
                continue
            hint = UNSUPPORTED_HINTS.get(node.op_type, "quantize the model input before any layer")
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
            divided = codes + "_scaled"
            self.host(helper.make_node("Div", [node.input[0], node.input[1]], [divided],
                                       name=codes + "_div"))
            self.host(self.constant(codes + "_one", np.float32(1.0)))
            self.host(self.constant(codes + "_zero", np.float32(0.0)))
            self.host(helper.make_node(
                "Quant", [divided, codes + "_one", codes + "_zero", node.input[3]],
                [codes + "_pm1" if bipolar else codes], name=codes + "_quant",
                domain="qonnx.custom_op.general",
                signed=int(signed), narrow=int(narrow), rounding_mode=mode))
            if bipolar:
                return self.bipolar_codes(codes, shape, scale, out)
            lo, hi = quant_code_range(bits, signed, narrow)
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

    def next_layer(self, act):
        """Absorb the next layer after `act`; returns (activation, is_last) or None at the end."""
        tensor = self.tensor_of(act)
        chain, node = [], self.only_consumer(tensor)
        while node is not None and node.op_type in LAYOUT_OPS and node.input[0] == tensor:
            chain.append(node)
            tensor = node.output[0]
            node = self.only_consumer(tensor)
        if node is not None and node.op_type in LINEAR_OPS and node.input[0] == tensor:
            for layout in chain:
                act = self.apply_layout(act, layout)
            return self.dense_layer(act, node)
        if node is not None and not chain and self.glue_reaches_quantizer(self.tensor_of(act)):
            return self.identity_layer(act)
        self.output_boundary(act)
        return None

    def tensor_of(self, act):
        """Name of the original float tensor `act` stands for (its codes' source)."""
        return act.source or act.codes

    def apply_layout(self, act, node):
        self.removed.add(node.name)
        if node.op_type == "Identity":
            return act
        batch_in = self.model.get_tensor_shape(node.input[0])
        if node.op_type == "Transpose":
            perm = helper.get_attribute_value(node.attribute[0]) if node.attribute else None
            if perm is None or perm[0] != 0:
                raise UnsupportedModelError("transposes that move the batch axis are not supported", node)
            axes = [p - 1 for p in perm[1:]]
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
            if new_shape is None or new_shape[0] != batch_in[0]:
                raise UnsupportedModelError(f"reshape to {new_shape} changes the batch axis", node)
            move = lambda a: a.reshape(tuple(new_shape[1:]))  # noqa: E731
        return Activation(act.codes, move(act.index), move(act.scale), move(act.offset),
                          move(act.scale_f32), move(act.offset_f32), act.lo, act.hi,
                          act.codes_shape, node.output[0])

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
            bias = self.per_channel(node, node.input[2], n_out)
            if bias is None:
                raise UnsupportedModelError("Gemm bias C is not constant", node)
            beta = [b + as_fraction(gemm_beta) * c for b, c in zip(beta, bias)]
            host_terms.append(np.float32(gemm_beta) * np.asarray(
                np.broadcast_to(np.asarray(self.consts.value(node.input[2]), np.float32).reshape(-1), (n_out,))))
        # weights over the flattened codes tensor (layout ops folded into the columns)
        matrix = np.zeros((n_out, int(act.index.size)), dtype=np.int64)
        np.add.at(matrix.T, act.index.ravel(), codes)
        layer = Layer(self.fresh_name(node.name or node.output[0]), node, act, matrix,
                      alpha, beta, [node.name], host_terms)
        return self.finish_layer(layer, node.output[0])

    def identity_layer(self, act):
        """A quantizer applied straight to an integer tensor: requantization only."""
        n = int(act.index.size)
        matrix = np.zeros((n, n), dtype=np.int64)
        matrix[np.arange(n), act.index.ravel()] = 1
        alpha = list(act.scale.ravel())
        beta = list(act.offset.ravel())
        flat = Activation(act.codes, np.arange(n), act.scale.ravel(), act.offset.ravel(),
                          act.scale_f32.ravel(), act.offset_f32.ravel(), act.lo, act.hi,
                          act.codes_shape, act.source)
        tensor = self.tensor_of(act)
        layer = Layer(self.fresh_name(tensor + "_requant"), None, flat, matrix, alpha, beta, [], [])
        return self.finish_layer(layer, tensor)

    def glue_reaches_quantizer(self, tensor):
        """glue* -> Relu? -> quantizer follows `tensor` (what finish_layer can fold)."""
        node = self.only_consumer(tensor)
        while node is not None and node.op_type in GLUE_OPS:
            node = self.only_consumer(node.output[0])
        if node is not None and node.op_type == "Relu":
            node = self.only_consumer(node.output[0])
        return node is not None and node.op_type in QUANTIZER_OPS

    def finish_layer(self, layer, tensor):
        """Fold glue ops after the linear part; end in a quantizer (thresholds) or not (acc out)."""
        alpha, beta = list(layer.alpha), list(layer.beta)
        relu, glue, node = False, [], self.only_consumer(tensor)
        while node is not None:
            if node.op_type == "Relu" and not relu:
                relu = True
            elif node.op_type in GLUE_OPS and not relu:
                folded = self.fold_glue(node, tensor, alpha, beta)
                if folded is None:
                    break
                alpha, beta = folded
            elif node.op_type in QUANTIZER_OPS and node.input[0] == tensor:
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
        self.emit_accumulator_output(layer)
        return None, True

    def reaches_layer(self, node):
        """True if a MatMul/Gemm/Conv is downstream of `node` (it would be left on the host)."""
        seen, stack = set(), [node]
        while stack:
            current = stack.pop()
            if current.op_type in LINEAR_OPS + ("Conv",) and current is not node:
                return True
            for out in current.output:
                for user in self.consumers.get(out, []):
                    if user.name not in seen:
                        seen.add(user.name)
                        stack.append(user)
        return False

    def per_channel(self, node, name, n_out):
        """A constant operand as n_out Fractions (per-tensor or per-output-channel), or None."""
        value = self.consts.value(name)
        if value is None:
            return None
        value = np.asarray(value, dtype=np.float64)
        if value.size == 1:
            return [as_fraction(value.ravel()[0])] * n_out
        squeezed = value.reshape(-1) if value.shape[-1] == value.size else None
        if squeezed is None or squeezed.size != n_out:
            raise UnsupportedModelError(
                f"constant of shape {value.shape} is not per-tensor or per-output-channel "
                f"({n_out} channels)", node)
        return [as_fraction(v) for v in squeezed]

    def fold_glue(self, node, tensor, alpha, beta):
        n = len(alpha)
        if node.op_type == "BatchNormalization":
            gamma, bn_bias, mean, var = (self.consts.value(i) for i in node.input[1:5])
            if any(v is None for v in (gamma, bn_bias, mean, var)):
                raise UnsupportedModelError("BatchNormalization parameters are not constant", node)
            eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
            # float64 fold: BatchNorm's sqrt has no exact rational form (float-tolerance class)
            a = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + np.float64(np.float32(eps)))
            b = np.asarray(bn_bias, np.float64) - np.asarray(mean, np.float64) * a
            a, b = np.broadcast_to(a, (n,)), np.broadcast_to(b, (n,))
            return ([al * as_fraction(x) for al, x in zip(alpha, a)],
                    [be * as_fraction(x) + as_fraction(y) for be, x, y in zip(beta, a, b)])
        value, pos = self.const_operand(node, tensor)
        if value is None:
            return None  # e.g. a residual Add of two activations: not glue
        c = self.per_channel(node, node.input[pos], n)
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
        if quant.op_type in ("Quant", "IntQuant"):
            scale, bits, signed, narrow, mode = quant_parameters(quant, self.consts)
            scales = self.per_channel(quant, quant.input[1], n_out)
            scale_f32 = np.broadcast_to(np.asarray(scale, np.float32).reshape(-1), (n_out,))
            if bits == 1 and signed:  # qonnx: 1-bit signed Quant is bipolar
                levels = [[Level(Fraction(0), False)]] * n_out
                lo, value_scale, value_offset = 0, 2 * scale_f32, -scale_f32
            else:
                lo, hi = quant_code_range(bits, signed, narrow)
                base = rounding_levels(mode, lo, hi)
                levels = [scale_levels(base, s) for s in scales]
                value_scale, value_offset = scale_f32, np.zeros(n_out, np.float32)
        elif quant.op_type == "BipolarQuant":
            s = self.consts.value(quant.input[1])
            if s is None or np.asarray(s).size != 1 or not float(np.asarray(s).ravel()[0]) > 0:
                raise UnsupportedModelError("BipolarQuant scale must be a positive per-tensor constant", quant)
            s = np.float32(np.asarray(s).ravel()[0])
            levels = [[Level(Fraction(0), False)]] * n_out
            lo = 0
            value_scale, value_offset = np.full(n_out, 2 * s, np.float32), np.full(n_out, -s, np.float32)
        else:  # MultiThreshold
            thresholds = self.consts.value(quant.input[1])
            if thresholds is None:
                raise UnsupportedModelError("MultiThreshold thresholds are not constant", quant)
            thresholds = np.sort(np.asarray(thresholds, np.float32), axis=-1)
            rows = np.broadcast_to(thresholds, (n_out, thresholds.shape[-1]))
            levels = [[Level(as_fraction(t), False) for t in row] for row in rows]
            attrs = {a.name: helper.get_attribute_value(a) for a in quant.attribute}
            lo = 0
            value_scale = np.full(n_out, attrs.get("out_scale", 1.0), np.float32)
            value_offset = np.full(n_out, attrs.get("out_bias", 0.0), np.float32)
        matrix = layer.matrix.copy()
        signs = np.array([1 if a >= 0 else -1 for a in alpha])
        matrix *= signs[:, None]  # rows with a negative combined scale compare -acc
        acc_min, acc_max = accumulator_range(matrix, *datatype_range(layer.act.dtype))
        rows = []
        for m in range(n_out):
            lv = relu_levels(levels[m]) if relu else levels[m]
            rows.append(integer_thresholds(lv, abs(alpha[m]), beta[m], int(acc_min[m]), int(acc_max[m])))
        thresholds = np.array(rows, dtype=np.int64).reshape(n_out, -1)
        thresholds, lo = drop_constant_columns(thresholds, acc_min, acc_max, lo)
        code_min = lo + (thresholds <= acc_min[:, None]).sum(axis=1).min(initial=0)
        code_max = lo + (thresholds <= acc_max[:, None]).sum(axis=1).max(initial=0)
        out_codes = self.fresh_name(quant.output[0] + "_codes")
        out_dtype = datatype_for_range(int(code_min), int(code_max))
        self.lbir(layer, matrix, out_codes, out_dtype, "thresholds", thresholds, lo)
        return self.make_activation(out_codes, (n_out,), value_scale, value_offset,
                                    code_min, code_max, source=quant.output[0])

    def lbir(self, layer, matrix, out_codes, out_dtype, requant, thresholds, out_base):
        node = helper.make_node(
            "QDense", [layer.act.codes], [out_codes], name=layer.name, domain=DOMAIN,
            weights=helper.make_tensor("weights", TensorProto.INT64, matrix.shape, matrix.ravel().tolist()),
            in_shape=[int(d) for d in layer.act.codes_shape],
            in_dtype=layer.act.dtype, out_dtype=out_dtype, requant=requant, out_base=int(out_base))
        if requant == "thresholds":
            node.attribute.append(helper.make_attribute(
                "thresholds", helper.make_tensor("thresholds", TensorProto.INT64, thresholds.shape,
                                                 thresholds.ravel().tolist())))
        self.new_nodes.append(node)
        self.lbir_outputs[out_codes] = out_dtype

    def emit_accumulator_output(self, layer):
        """Last layer without quantizer: QDense outputs acc, host recomputes the MatMul output."""
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
        self.dequantize(act.codes, act.source, act.scale_f32.ravel(), [offset] if np.any(offset) else [])

    def dequantize(self, codes, target, scale, terms):
        """Host nodes: target = codes * scale + terms[0] + terms[1] ..., float32 like qonnx."""
        self.host(self.constant(codes + "_dequant_scale", np.asarray(scale, np.float32).reshape(1, -1)))
        current = codes + "_scaled" if terms else target
        self.host(helper.make_node("Mul", [codes, codes + "_dequant_scale"], [current], name=codes + "_dequant_mul"))
        for i, term in enumerate(terms):
            name = f"{codes}_dequant_term{i}"
            out = target if i == len(terms) - 1 else f"{name}_sum"
            self.host(self.constant(name, np.asarray(term, np.float32).reshape(1, -1)))
            self.host(helper.make_node("Add", [current, name], [out], name=f"{name}_add"))
            current = out

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
        new_graph = helper.make_graph(
            ordered(keep, graph), graph.name or "qonnx_c4ml", list(graph.input), list(graph.output),
            initializer=[i for i in graph.initializer if i.name in needed])
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
    name: str
    linear: object  # the MatMul/Gemm node, None for an identity (requant-only) layer
    act: Activation  # its input, flattened
    matrix: np.ndarray  # (n_out, n_in) int64 weight codes over the input codes tensor
    alpha: list
    beta: list
    absorbed: list  # names of original nodes it replaces
    host_terms: list  # float32 per-channel terms the host adds to a float (unquantized) output


def drop_constant_columns(thresholds, acc_min, acc_max, lo):
    """Remove threshold columns reached (or missed) by every row whatever the input."""
    if thresholds.size == 0:
        return thresholds, lo
    always = np.all(thresholds <= acc_min[:, None], axis=0)
    never = np.all(thresholds > acc_max[:, None], axis=0)
    return thresholds[:, ~(always | never)], lo + int(always.sum())


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


