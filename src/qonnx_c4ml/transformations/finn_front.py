"""FINN graphs -> patterns InferLBIR lowers (issue 15): graph rewrites, host constants, stage names.

FINN's front end (ConvertQONNXtoFINN, tidy-up, Streamline, ConvertBipolarMatMulToXnorPopcount,
absorb passes, RoundAndClipThresholds, InferThresholdingLayer / InferQuantizedMatrixVectorActivation
/ InferBinaryMatrixVectorActivation) writes a few ops and patterns a Brevitas export never has.
`rewrite_finn_ops` (called by prepare.prepare_for_lowering on InferLBIR's own copy) turns the ops
into equivalent standard ones, each an exact rewrite of the float32 values qonnx computes:

- `XnorPopcountMatMul(x, W)` on 0/1 codes: sum_k [x_k == W_kn] = x @ (2W - 1) + sum_k (1 - W_kn),
  so it becomes `MatMul(x, 2W-1) -> Add(sum(1-W))` (integers below 2^24: exact in float32);
- `MVAU` / `MatrixVectorActivation` (finn.custom_op.fpgadataflow, before specialization) on a
  2-D input: the matrix product (xnor-popcount in `binaryXnorMode`, +-1 x +-1 as
  `(x @ W + K) / 2`, else `MatMul`) followed, unless `noActivation`, by a MultiThreshold with
  FINN's output mapping (`out_bias = ActVal`, bipolar outputs `2c - 1`);
- `Thresholding` (finn.custom_op.fpgadataflow), 2-D or 4-D: a channels-last MultiThreshold with
  `out_bias = ActVal` (bipolar outputs `2c - 1`);
- an MVAU on a 4-D input that an Im2Col produces: as above, its MultiThreshold NHWC.
Then `finn_conv.rewrite_lowered_convs` turns FINN's lowered convolutions (Im2Col + MatMul,
MaxPoolNHWC) into channels-last Conv/MaxPool and moves a 4-D MultiThreshold before the
NCHW<->NHWC Transpose it reads (a 4-D Thresholding between Transposes).
Any other FINN hardware op is refused with a message naming it and the stage at which to call
InferLBIR instead (`refuse_finn_hw_op`).

The constant Add/Sub/Mul/Div FINN leaves between a quantizer and the next layer is lowered by
the rule in lowering/affine.py.

The host constants InferLBIR writes are graph initializers (lowering/assemble.py; FINN's
passes read quantizer parameters with `get_initializer`, never from Constant nodes).
"""
import numpy as np
from onnx import helper, numpy_helper

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.names import unique_name
from qonnx_c4ml.transformations.finn_conv import rewrite_lowered_convs

FINN_HW_DOMAIN = "finn.custom_op.fpgadataflow"
MVAU_OPS = ("MVAU", "MatrixVectorActivation")
GENERAL = "qonnx.custom_op.general"
WHERE_TO_CALL = ("call InferLBIR on the streamlined graph, before FINN's convert-to-hw step "
                 "(step_convert_to_hw / InferQuantizedMatrixVectorActivation ...); only MVAU/"
                 "MatrixVectorActivation (2-D, or 4-D after an Im2Col) and Thresholding (2-D, or 4-D "
                 "channels-last) are lowered from there")


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _text(value, default=""):
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


class _Rewriter:
    def __init__(self, model):
        self.model = model
        self.taken = {o for n in model.graph.node for o in list(n.output) + list(n.input)}
        self.taken |= {i.name for i in model.graph.initializer} | {n.name for n in model.graph.node}

    def name(self, base):
        return unique_name(base, self.taken)

    def initializer(self, base, value):
        name = self.name(base)
        self.model.graph.initializer.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def weights(self, node, tensor):
        value = self.model.get_initializer(tensor)
        if value is None:
            raise UnsupportedModelError("its weight operand is not an initializer", node, WHERE_TO_CALL)
        return np.asarray(value, np.float64)

    def xnor_matmul(self, node, x, w, out, binary=True):
        """Nodes computing FINN's xnor-popcount of 0/1 (`binary`) or +-1 codes x and weights w."""
        k = w.shape[0]
        mm = self.name(out + "_c4ml_xnor_mm")
        if binary:  # sum_k [x == w] = x @ (2w - 1) + sum_k (1 - w)
            ws, const = 2 * w - 1, (1 - w).sum(axis=0)
            nodes = [helper.make_node("MatMul", [x, self.initializer(node.name + "_c4ml_w", ws)], [mm],
                                      name=self.name(node.name + "_c4ml_matmul"))]
        else:  # +-1: sum_k [x == w] = (x @ w + K) / 2
            half = self.name(out + "_c4ml_xnor_half")
            nodes = [helper.make_node("MatMul", [x, self.initializer(node.name + "_c4ml_w", w)], [half],
                                      name=self.name(node.name + "_c4ml_matmul")),
                     helper.make_node("Add", [half, self.initializer(node.name + "_c4ml_k", np.float32(k))], [mm + "_k"],
                                      name=self.name(node.name + "_c4ml_addk")),
                     helper.make_node("Mul", [mm + "_k", self.initializer(node.name + "_c4ml_half", np.float32(0.5))],
                                      [out], name=self.name(node.name + "_c4ml_half"))]
            return nodes
        nodes.append(helper.make_node("Add", [mm, self.initializer(node.name + "_c4ml_popcount0", const.reshape(1, -1))],
                                      [out], name=self.name(node.name + "_c4ml_add")))
        return nodes

    def multithreshold(self, node, x, thresholds, out, out_scale, out_bias, layout):
        odt = _text(_attrs(node).get("outputDataType"), "") or "INT32"
        return helper.make_node("MultiThreshold", [x, thresholds], [out], name=self.name(node.name + "_c4ml_mt"),
                                domain=GENERAL, out_dtype=odt, out_scale=float(out_scale),
                                out_bias=float(out_bias), data_layout=layout)

    def rewrite(self, node):
        """Standard nodes replacing `node`, or None to keep it."""
        if node.op_type == "XnorPopcountMatMul":
            return self.xnor_matmul(node, node.input[0], self.weights(node, node.input[1]), node.output[0])
        if not node.domain.startswith(FINN_HW_DOMAIN):
            return None
        refuse_finn_hw_op(self.model, node)
        attrs = _attrs(node)
        shape = self.model.get_tensor_shape(node.input[0])
        odt = _text(attrs.get("outputDataType"), "")
        act_val = int(attrs.get("ActVal", 0))
        out_scale, out_bias = (2, 2 * act_val - 1) if odt == "BIPOLAR" else (1, act_val)
        if node.op_type == "Thresholding":
            layout = "NHWC" if shape is not None and len(shape) == 4 else "NC"
            return [self.multithreshold(node, node.input[0], node.input[1], node.output[0],
                                        out_scale, out_bias, layout)]
        # MVAU: matrix product, then thresholds unless noActivation
        w = self.weights(node, node.input[1])
        no_act = int(attrs.get("noActivation", 0))
        acc = node.output[0] if no_act else self.name(node.output[0] + "_c4ml_acc")
        if int(attrs.get("binaryXnorMode", 0)):
            nodes = self.xnor_matmul(node, node.input[0], w, acc)
        elif _text(attrs.get("inputDataType")) == "BIPOLAR" and _text(attrs.get("weightDataType")) == "BIPOLAR":
            nodes = self.xnor_matmul(node, node.input[0], w, acc, binary=False)
        else:
            nodes = [helper.make_node("MatMul", [node.input[0], self.initializer(node.name + "_c4ml_w", w)], [acc],
                                      name=self.name(node.name + "_c4ml_matmul"))]
        if not no_act:
            # MVAU thresholds with odt BIPOLAR: FINN maps the count c to 2c - 1 (ActVal unused)
            bias = -1 if odt == "BIPOLAR" else act_val
            layout = "NHWC" if len(shape) == 4 else "NC"  # 4-D: an MVAU after an Im2Col
            nodes.append(self.multithreshold(node, acc, node.input[2], node.output[0], out_scale, bias, layout))
        return nodes


def refuse_finn_hw_op(model, node):
    """Raise for a FINN hardware op InferLBIR cannot lower (see module doc)."""
    if node.domain != FINN_HW_DOMAIN:  # .hls / .rtl: specialized layers
        raise UnsupportedModelError(
            f"is a specialized FINN layer ({node.op_type}, domain {node.domain}); InferLBIR lowers FINN "
            "graphs only before step_specialize_layers", node, WHERE_TO_CALL)
    if node.op_type not in MVAU_OPS + ("Thresholding",):
        raise UnsupportedModelError(
            f"is a FINN hardware op ({node.op_type}) that InferLBIR does not lower", node, WHERE_TO_CALL)
    shape = model.get_tensor_shape(node.input[0])
    if node.op_type == "Thresholding" and (shape is None or len(shape) not in (2, 4)):
        raise UnsupportedModelError(
            f"is a FINN Thresholding on a {len(shape or [])}-D tensor (only 2-D and 4-D channels-last "
            "are lowered)", node, WHERE_TO_CALL)
    producer = next((n for n in model.graph.node if node.input[0] in n.output), None)
    after_im2col = producer is not None and producer.op_type == "Im2Col" and shape is not None and len(shape) == 4
    if node.op_type in MVAU_OPS and (shape is None or len(shape) != 2) and not after_im2col:
        raise UnsupportedModelError(
            f"is a FINN {node.op_type} on a {len(shape or [])}-D input (a convolution lowered to "
            "ConvolutionInputGenerator + MVAU)", node, WHERE_TO_CALL)


def rewrite_finn_ops(model):
    """Replace FINN's XnorPopcountMatMul, MVAU/MatrixVectorActivation and Thresholding nodes of
    `model` (in place) by standard qonnx ops (module doc); True if anything changed."""
    rewriter = _Rewriter(model)
    changed, nodes = False, []
    for node in model.graph.node:
        replacement = rewriter.rewrite(node)
        if replacement is None:
            nodes.append(node)
        else:
            nodes.extend(replacement)
            changed = True
    if changed:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    if rewrite_lowered_convs(model, rewriter.name):
        changed = True
    if changed:
        domains = {o.domain for o in model.model.opset_import}
        if GENERAL not in domains:
            model.model.opset_import.append(helper.make_opsetid(GENERAL, 1))
    return changed


def finn_stage(model):
    """Which FINN front-end stage `model` looks like (None: not a FINN graph), for messages and
    verify's statement of its reference."""
    ops = {n.op_type for n in model.graph.node}
    domains = {n.domain for n in model.graph.node}
    if any(d.startswith(FINN_HW_DOMAIN) for d in domains):
        return "FINN hardware layers (after step_convert_to_hw)"
    if "XnorPopcountMatMul" in ops:
        return "FINN streamlined, XnorPopcountMatMul (after ConvertBipolarMatMulToXnorPopcount)"
    if "MultiThreshold" in ops and not ops & {"Quant", "IntQuant", "BipolarQuant", "FloatQuant"}:
        return "FINN (after ConvertQONNXtoFINN: activations are MultiThresholds)"
    return None


def reference_description(model):
    """verify's reference, in words: the graph as given; for a FINN graph, say that it is its own
    reference (ConvertQONNXtoFINN's thresholds round exact ties up, qonnx's Quant to even)."""
    stage = finn_stage(model)
    if stage is None:
        return "qonnx execute_onnx of the model as given"
    return (f"qonnx execute_onnx of the given FINN graph ({stage}), with FINN's custom ops registered: "
            "a FINN graph is its own reference (its MultiThresholds round exact ties up where the "
            "original QONNX Quant rounds half to even, so it may differ from the original export)")
