"""FINN's lowered convolutions -> qonnx channels-last ops InferLBIR lowers (issue 15, CNNs).

FINN's step_streamline lowers every Conv of a CNN (qonnx LowerConvsToMatMul, MakeMaxPoolNHWC,
AbsorbTransposeIntoMultiThreshold): `Transpose(NCHW->NHWC) -> Im2Col -> MatMul(W) ->
MultiThreshold(data_layout NHWC)`, and MaxPool becomes `MaxPoolNHWC`. `rewrite_lowered_convs`
(run by finn_front.rewrite_finn_ops after its per-node rewrites, so an XnorPopcountMatMul or
an MVAU after an Im2Col is a MatMul by then) turns them back, each rewrite exact on the values
qonnx computes:

- `Im2Col(x) -> MatMul(W)` = a channels-last `Conv` (domain qonnx.custom_op.channels_last) on x
  with weights `W.T.reshape(O, KH, KW, C)` (Im2Col orders a patch (kh, kw, c)), Im2Col's stride,
  dilations and `pad_amount` (top, left, bottom, right, as ONNX pads); a `depthwise` Im2Col's
  block-diagonal W becomes group = C. Im2Col pads with `pad_value`, a Conv with 0: a padded
  Im2Col with another pad value is refused;
- `MaxPoolNHWC` = the channels-last `MaxPool` (same kernel, strides, pads);
- a 4-D `MultiThreshold(data_layout NHWC)` reading `Transpose(perm 0,2,3,1)(x)` (FINN's
  Thresholding between Transposes, after finn_front rewrote it) = `Transpose(MultiThreshold
  (NCHW)(x))`, and an NCHW one reading `Transpose(perm 0,3,1,2)(x)` (LowerConvsToMatMul
  alone, before AbsorbTransposeIntoMultiThreshold) = `Transpose(MultiThreshold(NHWC)(x))`:
  thresholds are per channel and elementwise, so they commute with the layout change, and
  the threshold then ends the layer that computes x.

qonnx's channels-last Conv/MaxPool are what conv.py and pool.py lower (and exact/ops.py
evaluates); the Transposes are folded into index permutations (lowering/layout.py).
"""
import numpy as np
from onnx import helper, numpy_helper

from qonnx_c4ml.errors import UnsupportedModelError

CHANNELS_LAST = "qonnx.custom_op.channels_last"
GENERAL = "qonnx.custom_op.general"
TO_NHWC = [0, 2, 3, 1]
TO_NCHW = [0, 3, 1, 2]
IM2COL_HINT = ("call InferLBIR on the streamlined graph before LowerConvsToMatMul (the first part of "
               "FINN's step_streamline / step_convert_to_hw for CNNs)")


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _consumers(model, tensor):
    return [n for n in model.graph.node if tensor in n.input]


def _producer(model, tensor):
    return next((n for n in model.graph.node if tensor in n.output), None)


def _refuse_im2col(node, why, hint=IM2COL_HINT):
    raise UnsupportedModelError(f"is FINN's lowered convolution (Im2Col, LowerConvsToMatMul) {why}", node, hint)


def conv_weights(im2col, matmul, weights, attrs, channels):
    """(channels-last Conv weights (O, KH, KW, C/group), group) of Im2Col -> MatMul(weights)."""
    kh, kw = (int(k) for k in attrs["kernel_size"])
    if weights.ndim != 2 or weights.shape[0] != kh * kw * channels:
        _refuse_im2col(im2col, f"feeding a MatMul whose weights {weights.shape} are not "
                               f"({kh}*{kw}*{channels}, O)")
    n_out = weights.shape[1]
    w = weights.T.reshape(n_out, kh, kw, channels)
    if int(attrs.get("depthwise", 0)) and n_out == channels:
        off = w.copy()
        off[np.arange(n_out), :, :, np.arange(n_out)] = 0
        if not np.any(off):  # block-diagonal: one input channel per output channel
            return w[np.arange(n_out), :, :, np.arange(n_out)][..., None], channels
    return w, 1


def im2col_conv(model, im2col, name):
    """The channels-last Conv node standing for `im2col` and the MatMul it feeds (refused
    with a message when they are not a zero-padded convolution), and that MatMul."""
    users = _consumers(model, im2col.output[0])
    matmul = users[0] if len(users) == 1 and users[0].op_type == "MatMul" else None
    if matmul is None or matmul.input[0] != im2col.output[0] or model.get_initializer(matmul.input[1]) is None:
        _refuse_im2col(im2col, "whose output feeds " + (", ".join(u.op_type for u in users) or "nothing")
                       + ", not one MatMul with constant weights")
    attrs = _attrs(im2col)
    pads = [int(p) for p in attrs.get("pad_amount", [0, 0, 0, 0])]
    pad_value = int(attrs.get("pad_value", 0))
    if any(pads) and pad_value != 0:
        _refuse_im2col(im2col, f"padding with pad_value {pad_value}: a Conv pads with 0",
                       "InferLBIR lowers zero padding only: lower the network with pad_value 0 (a zero-"
                       "padded Conv), or call InferLBIR on the graph with Conv, before LowerConvsToMatMul")
    shape = model.get_tensor_shape(im2col.input[0])
    if shape is None or len(shape) != 4:
        _refuse_im2col(im2col, f"on an input of shape {shape}, not (N, H, W, C)")
    weights = np.asarray(model.get_initializer(matmul.input[1]), np.float32)
    w, group = conv_weights(im2col, matmul, weights, attrs, int(shape[-1]))
    w_name = name(matmul.input[1] + "_c4ml_ohwi")
    model.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(w), w_name))
    conv = helper.make_node(
        "Conv", [im2col.input[0], w_name], [matmul.output[0]], name=name(matmul.name + "_c4ml_conv"),
        domain=CHANNELS_LAST, kernel_shape=[int(k) for k in attrs["kernel_size"]],
        strides=[int(s) for s in attrs["stride"]], dilations=[int(d) for d in attrs.get("dilations", [1, 1])],
        pads=pads, group=group)
    return conv, matmul


def max_pool(node, name):
    """The channels-last MaxPool standing for a MaxPoolNHWC."""
    attrs = _attrs(node)
    if int(attrs.get("ceil_mode", 0)) or any(int(d) != 1 for d in attrs.get("dilations", [1, 1])):
        raise UnsupportedModelError("is a MaxPoolNHWC with ceil_mode=1 or dilation, which InferLBIR does not "
                                    "lower", node, "use MaxPool with ceil_mode=0 and dilation 1")
    return helper.make_node("MaxPool", list(node.input[:1]), list(node.output[:1]), name=name(node.name + "_c4ml_cl"),
                            domain=CHANNELS_LAST, kernel_shape=[int(k) for k in attrs["kernel_shape"]],
                            strides=[int(s) for s in attrs.get("strides", [1, 1])],
                            pads=[int(p) for p in attrs.get("pads", [0, 0, 0, 0])])


def swapped_threshold(model, node, name):
    """[MultiThreshold on x in x's layout, Transpose] for a 4-D MultiThreshold reading a Transpose
    of x between NCHW and NHWC (its data_layout the Transpose's output layout), and that
    Transpose; (None, None) when the pattern does not apply."""
    attrs = _attrs(node)
    layout = attrs.get("data_layout", b"NCHW")
    layout = layout.decode() if isinstance(layout, bytes) else layout
    shape = model.get_tensor_shape(node.input[0])
    transpose = _producer(model, node.input[0])
    if shape is None or len(shape) != 4 or transpose is None or transpose.op_type != "Transpose":
        return None, None
    perm = list(_attrs(transpose).get("perm", []))
    source_layout = {("NHWC", tuple(TO_NHWC)): "NCHW", ("NCHW", tuple(TO_NCHW)): "NHWC"}.get((layout, tuple(perm)))
    if source_layout is None:
        return None, None
    moved = name(node.output[0] + "_c4ml_" + source_layout.lower())
    mt = helper.make_node("MultiThreshold", [transpose.input[0], node.input[1]], [moved],
                          name=name(node.name + "_" + source_layout.lower()), domain=node.domain or GENERAL,
                          **{**attrs, "data_layout": source_layout})
    back = helper.make_node("Transpose", [moved], [node.output[0]], name=name(node.name + "_c4ml_transpose"), perm=perm)
    return [mt, back], transpose


def rewrite_lowered_convs(model, name):
    """Im2Col+MatMul, MaxPoolNHWC and 4-D MultiThresholds after a Transpose of `model` (in
    place) as channels-last Conv/MaxPool and MultiThresholds before the Transpose (module doc); `name(base)`
    gives a fresh tensor/node name. True if anything changed."""
    replaced, dropped = {}, set()
    for node in model.graph.node:
        if node.op_type == "Im2Col":
            conv, matmul = im2col_conv(model, node, name)
            replaced[matmul.output[0]] = [conv]
            dropped.add(node.output[0])
        elif node.op_type == "MaxPoolNHWC":
            replaced[node.output[0]] = [max_pool(node, name)]
        elif node.op_type == "MultiThreshold":
            nodes, transpose = swapped_threshold(model, node, name)
            if nodes is not None:
                replaced[node.output[0]] = nodes
                if len(_consumers(model, transpose.output[0])) == 1 and \
                        transpose.output[0] not in {o.name for o in model.graph.output}:
                    dropped.add(transpose.output[0])
    if not replaced:
        return False
    nodes = []
    for node in model.graph.node:
        if node.output[0] not in dropped:
            nodes.extend(replaced.get(node.output[0], [node]))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    if CHANNELS_LAST not in {o.domain for o in model.model.opset_import}:
        model.model.opset_import.append(helper.make_opsetid(CHANNELS_LAST, 1))
    return True
