"""QONNX as users bring it (issue 10): legacy exports, no input quantizer, batch-less flattens.

- `to_legacy(model)`: a cleaned QONNX model rewritten the way older Brevitas/FINN exporters
  wrote it: quantizers in a legacy domain, every initializer also a graph input, no
  value_info or annotations, IR version 6, and the flatten as Shape -> Gather -> Unsqueeze ->
  Concat -> Reshape (the model's own ONNX opset is kept: its ops need it).  The result is
  what a user loads; the tests give it to InferLBIR raw.
- `qkeras_mlp(...)`: `MatMul(global_in, Quant(W))` first, as qonnx's Keras converter writes a
  QKeras model, optionally with host preprocessing (Add, Div) before the first layer.
- `batchless_cnn(...)`: chisel4ml's Brevitas test shape, `Reshape(x, [-1])` from [1, C, H, W].
All scales are powers of two, so qonnx's float32 execution is exact and results must be bit-exact.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.infer_shapes import InferShapes

GENERAL = "qonnx.custom_op.general"


def to_legacy(model, domain="onnx.brevitas", ir_version=6, shape_idiom=True):
    """A ModelProto copy of `model` (ModelWrapper or ModelProto) in legacy export form."""
    proto = onnx.ModelProto()
    proto.CopyFrom(model.model if isinstance(model, ModelWrapper) else model)
    graph = proto.graph
    for node in graph.node:
        if node.domain == GENERAL:
            node.domain = domain
    del graph.value_info[:]
    del graph.quantization_annotation[:]
    inputs = {i.name for i in graph.input}
    for init in graph.initializer:
        if init.name not in inputs:
            graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    if shape_idiom:
        for node in [n for n in graph.node if n.op_type == "Reshape"]:
            _shape_idiom(graph, node, opset)
    del proto.opset_import[:]
    proto.opset_import.extend([helper.make_opsetid("", opset), helper.make_opsetid(domain, 1)])
    proto.ir_version = ir_version
    return proto


def _shape_idiom(graph, reshape, opset):
    """Reshape(x, const) -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): x.view(x.shape[0], -1)."""
    p = reshape.name.replace("/", "_") or "flatten"
    at = list(graph.node).index(reshape)
    def constant(name, dims, values):
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, TensorProto.INT64, dims, values))

    nodes = [helper.make_node("Shape", [reshape.input[0]], [f"{p}_shape"]),
             constant(f"{p}_zero", [], [0]),
             helper.make_node("Gather", [f"{p}_shape", f"{p}_zero"], [f"{p}_batch"], axis=0),
             constant(f"{p}_axes", [1], [0]),
             helper.make_node("Unsqueeze", [f"{p}_batch", f"{p}_axes"], [f"{p}_batch1"]) if opset >= 13 else
             helper.make_node("Unsqueeze", [f"{p}_batch"], [f"{p}_batch1"], axes=[0]),
             constant(f"{p}_rest", [1], [-1]),
             helper.make_node("Concat", [f"{p}_batch1", f"{p}_rest"], [f"{p}_target"], axis=0)]
    for k, node in enumerate(nodes):
        graph.node.insert(at + k, node)
    reshape.input[1] = f"{p}_target"


class _Builder:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, value, dtype=TensorProto.FLOAT):
        self.n += 1
        value = np.asarray(value, np.float32 if dtype == TensorProto.FLOAT else np.int64)
        self.inits.append(helper.make_tensor(f"c{self.n}", dtype, value.shape, value.ravel().tolist()))
        return f"c{self.n}"

    def node(self, op, inputs, name, domain="", **attrs):
        self.nodes.append(helper.make_node(op, inputs, [name + "_out"], name=name, domain=domain, **attrs))
        return name + "_out"

    def quant(self, x, scale, bits, name, signed=True):
        return self.node("Quant", [x, self.const(scale), self.const(0.0), self.const(float(bits))], name, GENERAL,
                         signed=int(signed), narrow=0, rounding_mode="ROUND")

    def weights(self, shape, name, bits=4):
        scale = np.float32(2.0) ** -int(self.rng.integers(2, 5))
        codes = self.rng.integers(-2 ** (bits - 1), 2 ** (bits - 1), size=shape)
        codes[self.rng.random(shape) < 0.3] = 0
        return self.quant(self.const(codes * scale), scale, bits, name)

    def dense(self, x, n_in, n_out, name, act_bits=4, out_quant=True):
        y = self.node("MatMul", [x, self.weights((n_in, n_out), name + "_wq")], name)
        y = self.node("Add", [y, self.const(self.rng.integers(-8, 8, n_out) / 16)], name + "_bias")
        if not out_quant:
            return y
        y = self.node("Relu", [y], name + "_relu")
        return self.quant(y, np.float32(2.0) ** -2, act_bits, name + "_act", signed=False)

    def model(self, in_shape, out, out_shape, name="wild"):
        graph = helper.make_graph(self.nodes, name,
                                  [helper.make_tensor_value_info("global_in", TensorProto.FLOAT, in_shape)],
                                  [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
                                  initializer=self.inits)
        proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(GENERAL, 1)])
        return ModelWrapper(proto).transform(InferShapes())


def qkeras_mlp(n_in=12, hidden=10, n_out=4, annotation=None, preprocess=False, seed=0):
    """[Add(-0.5) -> Div(0.5): x in {0, 1} -> +-1] -> MatMul(x, Quant(W)) + bias -> Relu -> Quant ->
    MatMul -> float output; `annotation` (a qonnx DataType name) on the tensor the first layer reads."""
    b = _Builder(seed)
    x = "global_in"
    if preprocess:
        x = b.node("Div", [b.node("Add", [x, b.const(np.float32(-0.5))], "pre_add"), b.const(np.float32(0.5))],
                   "pre_div")
    first = x
    y = b.dense(x, n_in, hidden, "dense0")
    y = b.dense(y, hidden, n_out, "dense1", out_quant=False)
    model = b.model([1, n_in], y, [1, n_out], "qkeras_mlp")
    if annotation is not None:
        from qonnx.core.datatype import DataType

        model.set_tensor_datatype(first, DataType[annotation])
    return model


def batchless_cnn(channels=2, size=4, n_out=5, seed=0, final_quant=True):
    """chisel4ml's Brevitas test shape: [1, C, H, W] -> Quant -> Conv -> Relu -> Quant ->
    Reshape(x, [-1]) -> [C*H*W] -> MatMul + bias -> Quant (or float) -> output [n_out]."""
    b = _Builder(seed)
    x = b.quant("global_in", np.float32(2.0) ** -3, 6, "input_quant")
    w = b.weights((3, channels, 3, 3), "conv_wq")
    y = b.node("Conv", [x, w], "conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = b.quant(b.node("Relu", [y], "conv_relu"), np.float32(2.0) ** -1, 4, "conv_act", signed=False)
    y = b.node("Reshape", [y, b.const([-1], TensorProto.INT64)], "flatten")
    y = b.dense(y, 3 * size * size, n_out, "fc", out_quant=False)
    if final_quant:
        y = b.quant(y, np.float32(2.0) ** -2, 8, "fc_out_quant")
    return b.model([1, channels, size, size], y, [n_out], "batchless_cnn")


def reference(model_proto_or_wrapper, x):
    """qonnx execute_onnx on the raw model: only InferShapes, which qonnx itself requires before
    executing ("Found unspecified tensor shapes, try infer_shapes"); batch 1 at a time."""
    model = model_proto_or_wrapper
    model = ModelWrapper(model.model if isinstance(model, ModelWrapper) else model).transform(InferShapes())
    name, out = model.graph.input[0].name, model.graph.output[0].name
    return np.stack([execute_onnx(model, {name: sample[None]})[out] for sample in x])


def lbir_outputs(lbir_model, x):
    """execute_onnx on the lowered model (numpy LBIR nodes or RTL), batch 1 at a time like the reference."""
    name, out = lbir_model.graph.input[0].name, lbir_model.graph.output[0].name
    return np.stack([execute_onnx(lbir_model, {name: sample[None]})[out] for sample in x])


def forked_input_mlp(n_in=8, hidden=6, n_out=3, annotation="INT4", seed=0):
    """The graph input read by two MatMuls whose quantized outputs meet in a residual Add (QAdd):
    global_in -> dense_a | dense_b -> Add -> Quant -> MatMul -> float output."""
    b = _Builder(seed)
    a = b.dense("global_in", n_in, hidden, "dense_a")
    c = b.dense("global_in", n_in, hidden, "dense_b")
    y = b.quant(b.node("Add", [a, c], "residual"), np.float32(2.0) ** -1, 5, "residual_act", signed=False)
    y = b.dense(y, hidden, n_out, "dense_out", out_quant=False)
    model = b.model([1, n_in], y, [1, n_out], "forked_input_mlp")
    if annotation is not None:
        from qonnx.core.datatype import DataType

        model.set_tensor_datatype("global_in", DataType[annotation])
    return model


def padded_input_cnn(channels=2, size=4, n_out=3, annotation="UINT4", seed=0):
    """A Pad first: global_in [1, C, H, W] -> Pad -> Conv -> Relu -> Quant -> Flatten -> MatMul -> float."""
    b = _Builder(seed)
    x = b.node("Pad", ["global_in", b.const([0, 0, 1, 1, 0, 0, 1, 1], TensorProto.INT64)], "pad", mode="constant")
    y = b.node("Conv", [x, b.weights((3, channels, 3, 3), "conv_wq")], "conv", kernel_shape=[3, 3])
    y = b.quant(b.node("Relu", [y], "conv_relu"), np.float32(2.0) ** -1, 4, "conv_act", signed=False)
    y = b.node("Flatten", [y], "flatten", axis=1)
    y = b.dense(y, 3 * size * size, n_out, "fc", out_quant=False)
    model = b.model([1, channels, size, size], y, [1, n_out], "padded_input_cnn")
    if annotation is not None:
        from qonnx.core.datatype import DataType

        model.set_tensor_datatype("global_in", DataType[annotation])
    return model
