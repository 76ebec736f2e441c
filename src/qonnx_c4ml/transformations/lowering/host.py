"""The host/circuit boundary: the host nodes before and after the integer part.

In:  graph input -> [glue/layout] -> Q_in            (Quant, FloatQuant, BipolarQuant, MultiThreshold)
Out: host nodes producing Q_in's integer codes:
     Quant -> Div(scale) -> Quant(scale=1) (same zero-point, bits, rounding; codes q - z);
     FloatQuant -> Div(scale) -> FloatQuant(scale=1) -> Mul(1/unit) (float_quantizer.py);
     BipolarQuant -> BipolarQuant(scale=1) -> (x+1)*0.5; MultiThreshold -> itself (the count is the code).

In:  the circuit's last integer tensor (an Activation), or a last MatMul/Gemm's accumulator
Out: host nodes recomputing the float tensor: [Gather of the codes] -> Mul(scale) (+Add(offset))
     [-> Reshape], in float32 and in the reference's order, so power-of-two models stay bit-exact.
"""
import numpy as np
from onnx import TensorProto, helper

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir.dense import accumulator_range
from qonnx_c4ml.lbir.dtypes import datatype_for_range, datatype_range
from qonnx_c4ml.transformations.batch_axis import batched_name, declared_shape_nodes
from qonnx_c4ml.transformations.constants import HOST_PREFIX_OPS, QUANTIZER_OPS, quant_code_range, quant_parameters
from qonnx_c4ml.transformations.float_quantizer import host_float_input
from qonnx_c4ml.transformations.input_type import OPTION_HINT
from qonnx_c4ml.transformations.lowering.activation import make_activation
from qonnx_c4ml.transformations.lowering.context import UNSUPPORTED_HINTS, node_attributes
from qonnx_c4ml.transformations.lowering.layer import layer_node
from qonnx_c4ml.transformations.zero_point import refuse_bipolar_zero_point, zero_point


def input_boundary(ctx, graph_input):
    """Find the input quantizer (prepare.py inserted one for an annotated or given input type);
    emit host nodes producing its integer codes; returns their Activation."""
    tensor = graph_input
    while True:
        node = ctx.only_consumer(tensor)
        if node is None:
            raise UnsupportedModelError(
                f"no input quantizer found on the path from the model input '{graph_input}'",
                hint="the model looks float-only: quantize the input (e.g. QuantIdentity) "
                "and the layers, or " + OPTION_HINT)
        if node.op_type in QUANTIZER_OPS and node.input[0] == tensor:
            return host_input_quantizer(ctx, node)
        if node.op_type in HOST_PREFIX_OPS:
            tensor = node.output[0]
            continue
        hint = UNSUPPORTED_HINTS.get(node.op_type, "quantize the model input before any layer, or " + OPTION_HINT)
        raise UnsupportedModelError(
            "reached before any input quantizer; the circuit needs integer inputs", node, hint)


def host_input_quantizer(ctx, node):
    """The input quantizer `node` rewritten on the host to output integer codes."""
    out = node.output[0]
    shape = ctx.model.get_tensor_shape(out)
    codes = ctx.fresh_name(out + "_codes")
    ctx.removed.add(node.name)
    lower = INPUT_QUANTIZERS.get(node.op_type, _multithreshold_input)
    return lower(ctx, node, codes, shape, out)


def _quant_input(ctx, node, codes, shape, out):
    scale, bits, signed, narrow, mode = quant_parameters(node, ctx.consts)
    if np.asarray(scale).size != 1:
        raise UnsupportedModelError(
            "per-channel input quantizer scales are not supported", node,
            "use a per-tensor scale for the input quantizer")
    bipolar = bits == 1 and signed  # qonnx: 1-bit signed Quant is bipolar
    zero = zero_point(node, ctx.consts)
    if zero.size != 1:
        raise UnsupportedModelError("per-channel input zero-points are not supported", node,
                                    "use a per-tensor zero-point for the input quantizer")
    if bipolar:
        refuse_bipolar_zero_point(node, zero)
    divided = codes + "_scaled"
    ctx.host(helper.make_node("Div", [node.input[0], node.input[1]], [divided], name=codes + "_div"))
    ctx.host(ctx.constant(codes + "_one", np.float32(1.0)))
    ctx.host(helper.make_node(  # with zero-point z its output is q - z (zero_point.py)
        "Quant", [divided, codes + "_one", node.input[2], node.input[3]],
        [codes + "_pm1" if bipolar else codes], name=codes + "_quant",
        domain="qonnx.custom_op.general",
        signed=int(signed), narrow=int(narrow), rounding_mode=mode))
    if bipolar:
        return bipolar_codes(ctx, codes, shape, scale, out)
    lo, hi = quant_code_range(bits, signed, narrow)
    z = int(zero.ravel()[0])
    return make_activation(codes, shape[1:], scale, 0.0, lo - z, hi - z, source=out)


def _float_quant_input(ctx, node, codes, shape, out):
    scale, lo, hi = host_float_input(ctx, node, codes)
    return make_activation(codes, shape[1:], scale, 0.0, lo, hi, source=out)


def _bipolar_input(ctx, node, codes, shape, out):
    scale = ctx.consts.value(node.input[1])
    if scale is None or np.asarray(scale).size != 1:
        raise UnsupportedModelError("BipolarQuant input scale must be a per-tensor constant", node)
    ctx.host(ctx.constant(codes + "_one", np.float32(1.0)))
    ctx.host(helper.make_node("BipolarQuant", [node.input[0], codes + "_one"],
                              [codes + "_pm1"], name=codes + "_bipolar",
                              domain="qonnx.custom_op.general"))
    return bipolar_codes(ctx, codes, shape, scale, out)


def _multithreshold_input(ctx, node, codes, shape, out):
    """MultiThreshold: the count itself is the code; out_scale/out_bias map it to the value."""
    thresholds = ctx.consts.value(node.input[1])
    if thresholds is None:
        raise UnsupportedModelError("thresholds must be constant", node)
    attrs = node_attributes(node)
    ctx.host(helper.make_node("MultiThreshold", list(node.input), [codes], name=codes + "_mt",
                              domain="qonnx.custom_op.general",
                              out_dtype=attrs.get("out_dtype", b"UINT32"),
                              data_layout=attrs.get("data_layout", b"")))
    n = np.asarray(thresholds).shape[-1]
    return make_activation(codes, shape[1:], attrs.get("out_scale", 1.0),
                           attrs.get("out_bias", 0.0), 0, n, source=out)


INPUT_QUANTIZERS = {"Quant": _quant_input, "IntQuant": _quant_input, "FloatQuant": _float_quant_input,
                    "BipolarQuant": _bipolar_input, "MultiThreshold": _multithreshold_input}


def bipolar_codes(ctx, codes, shape, scale, source):
    """Host nodes mapping the +-1 tensor `codes`_pm1 to codes 0/1; value = 2*scale*code - scale."""
    ctx.host(ctx.constant(codes + "_half", np.float32(0.5)))
    ctx.host(helper.make_node("Add", [codes + "_pm1", codes + "_one"], [codes + "_01x2"], name=codes + "_add"))
    ctx.host(helper.make_node("Mul", [codes + "_01x2", codes + "_half"], [codes], name=codes + "_mul"))
    scale = np.float32(np.asarray(scale).ravel()[0])
    return make_activation(codes, shape[1:], 2 * scale, -scale, 0, 1, source=source)


def emit_accumulator_output(ctx, layer, stop=None):
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
    acc_name = ctx.fresh_name(layer.name + "_acc")
    dtype = datatype_for_range(int(acc_min.min(initial=0)), int(acc_max.max(initial=0)))
    ctx.emit(layer_node(layer, matrix, acc_name, dtype, "none", None, 0), acc_name, dtype)
    node = layer.linear
    # MatMul/Gemm output = acc * alpha (+ input offsets) (+ Gemm's C), in float32 and in
    # the order the reference adds them, so power-of-two models stay bit-exact
    alpha = np.array([float(a) for a in layer.alpha], dtype=np.float32)
    dequantize(ctx, acc_name, node.output[0], alpha, layer.host_terms)


def output_boundary(ctx, act):
    """The circuit ends at `act`: the host recomputes its float value."""
    if act.source is None:
        raise UnsupportedModelError(
            "nothing to compile after the input quantizer",
            hint="the model needs a quantized MatMul/Gemm after its input quantizer")
    offset = act.offset_f32.ravel()
    codes, flat = act.codes, act.index.ravel()
    if len(act.codes_shape) != 1 or not np.array_equal(flat, np.arange(int(np.prod(act.codes_shape)))):
        codes = _gather_codes(ctx, act.codes, flat)  # the tensor is a rearrangement of the codes
    terms = [offset] if np.any(offset) else []
    if act.index.ndim == 1:
        dequantize(ctx, codes, act.source, act.scale_f32.ravel(), terms)
        return
    flat_value = act.source + "_c4ml_flat"
    dequantize(ctx, codes, flat_value, act.scale_f32.ravel(), terms)
    shape = [-1] + [int(d) for d in act.index.shape]
    ctx.host(helper.make_node("Constant", [], [flat_value + "_shape"], name=flat_value + "_shape",
                              value=helper.make_tensor(flat_value + "_shape", TensorProto.INT64, [len(shape)], shape)))
    ctx.host(helper.make_node("Reshape", [flat_value, flat_value + "_shape"], [act.source],
                              name=flat_value + "_reshape"))


def _gather_codes(ctx, source_codes, flat):
    """Host nodes picking the codes in graph order (a layout op after the last layer); the new name."""
    codes = ctx.fresh_name(source_codes + "_gathered")
    ctx.host(helper.make_node("Constant", [], [codes + "_index"], name=codes + "_index", value=helper.make_tensor(
        codes + "_index", TensorProto.INT64, [flat.size], [int(i) for i in flat])))
    ctx.host(helper.make_node("Flatten", [source_codes], [codes + "_flat"], name=codes + "_flatten", axis=1))
    ctx.host(helper.make_node("Gather", [codes + "_flat", codes + "_index"], [codes], name=codes + "_gather", axis=1))
    return codes


def dequantize(ctx, codes, target, scale, terms):
    """Host nodes: target = codes * scale + terms[0] + terms[1] ..., float32 like qonnx."""
    declared, target = target, batched_name(ctx.model, target, ctx.fresh_name)  # e.g. after Reshape(x, [-1])
    ctx.host(ctx.constant(codes + "_dequant_scale", np.asarray(scale, np.float32).reshape(1, -1)))
    current = codes + "_scaled" if terms else target
    ctx.host(helper.make_node("Mul", [codes, codes + "_dequant_scale"], [current], name=codes + "_dequant_mul"))
    for i, term in enumerate(terms):
        name = f"{codes}_dequant_term{i}"
        out = target if i == len(terms) - 1 else f"{name}_sum"
        ctx.host(ctx.constant(name, np.asarray(term, np.float32).reshape(1, -1)))
        ctx.host(helper.make_node("Add", [current, name], [out], name=f"{name}_add"))
        current = out
    ctx.new_nodes += declared_shape_nodes(target, declared)
