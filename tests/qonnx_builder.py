"""Hand-built QONNX graphs for tests: the shapes exporters write, with controlled parameters.

`build_mlp` writes input -> Quant -> (MatMul|Gemm -> [Add bias] -> [BatchNorm] -> [Relu] ->
Quant|BipolarQuant|MultiThreshold)* -> [final float layer] exactly as Brevitas/QKeras-QONNX
graphs look, with every quantizer parameter chosen by the caller or drawn from `rng`.
"""
from dataclasses import dataclass, field

import numpy as np
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_shapes import InferShapes

QONNX_DOMAIN = "qonnx.custom_op.general"


@dataclass
class LayerSpec:
    n_out: int
    w_bits: int = 4
    a_bits: int = 4  # output quantizer bits (ignored when quantizer="none")
    quantizer: str = "quant"  # quant | bipolar | multithreshold | none (float output)
    relu: bool = True
    bias: bool = True
    bias_quantized: bool = False  # bias = integer * (s_in * s_w): exact with po2 scales
    batchnorm: bool = False
    gemm: bool = False
    per_channel: bool = False
    bipolar_weights: bool = False
    signed: bool = False  # output quantizer signedness
    narrow: bool = False
    rounding: str = "ROUND"
    zero_fraction: float = 0.3  # fraction of zero weights (pruning)
    zero_point: object = 0.0  # output Quant zero-point (scalar or one per output channel)
    w_zero_point: object = 0.0  # weight Quant zero-point (scalar or (1, n_out))
    float_format: tuple = (4, 3, 7, 448.0)  # quantizer="floatquant": (E, M, bias, max_val)
    float_weights: bool = False  # FloatQuant weights in float_format


@dataclass
class MLPSpec:
    n_in: int
    layers: list
    in_bits: int = 4
    in_signed: bool = True
    in_rounding: str = "ROUND"
    po2: bool = True  # power-of-two scales everywhere (exact float32 reference)
    seed: int = 0
    input_shape: tuple = None  # per-sample input shape; default (n_in,)
    layout: str = "none"  # none | flatten | transpose_flatten | shape_idiom (before the first layer)
    normalize: bool = False  # host-side input normalization (Sub, Div) before the input quantizer
    softmax: bool = False  # host-side Softmax after the last layer (QKeras jet taggers)
    extra: dict = field(default_factory=dict)
    in_zero_point: float = 0.0
    in_float: tuple = None  # FloatQuant input quantizer (E, M, bias, max_val) instead of Quant


class _Graph:
    def __init__(self):
        self.nodes, self.inits, self.counter = [], [], 0

    def const(self, value, name=None):
        self.counter += 1
        name = name or f"c{self.counter}"
        value = np.asarray(value, dtype=np.float32)
        self.inits.append(helper.make_tensor(name, TensorProto.FLOAT, value.shape, value.ravel().tolist()))
        return name

    def const_int(self, value):
        self.counter += 1
        name = f"c{self.counter}"
        value = np.asarray(value, dtype=np.int64)
        self.inits.append(helper.make_tensor(name, TensorProto.INT64, value.shape, value.ravel().tolist()))
        return name

    def node(self, op, inputs, name, domain="", **attrs):
        out = name + "_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, domain=domain, **attrs))
        return out

    def quant(self, x, scale, bits, name, signed=True, narrow=False, rounding="ROUND", zero_point=0.0):
        return self.node("Quant", [x, self.const(scale), self.const(zero_point), self.const(float(bits))], name,
                         QONNX_DOMAIN, signed=int(signed), narrow=int(narrow), rounding_mode=rounding)

    def floatquant(self, x, scale, fmt, name, rounding="ROUND"):
        """qonnx FloatQuant with fmt = (exponent bits, mantissa bits, bias, max_val)."""
        e, m, bias, max_val = fmt
        return self.node("FloatQuant", [x, self.const(scale), self.const(float(e)), self.const(float(m)),
                                        self.const(float(bias)), self.const(float(max_val))], name,
                         QONNX_DOMAIN, rounding_mode=rounding, has_inf=0, has_nan=1, has_subnormal=1,
                         saturation=1)


def _scale(rng, po2, shape=()):
    if po2:
        return np.float32(2.0) ** rng.integers(-6, -1, size=shape).astype(np.float32)
    return rng.uniform(0.01, 0.2, size=shape).astype(np.float32)


def build_mlp(spec: MLPSpec, out_path=None):
    """A QONNX MLP as a ModelWrapper (shapes inferred), batch dimension 1."""
    rng = np.random.default_rng(spec.seed)
    g = _Graph()
    in_shape = tuple(spec.input_shape or (spec.n_in,))
    x = "inp"
    if spec.normalize:
        x = g.node("Sub", [x, g.const(np.float32(0.25))], "norm_sub")
        x = g.node("Div", [x, g.const(np.float32(1.5))], "norm_div")
    if spec.in_float:
        x = g.floatquant(x, _scale(rng, spec.po2), spec.in_float, "input_quant", rounding=spec.in_rounding)
    else:
        x = g.quant(x, _scale(rng, spec.po2), spec.in_bits, "input_quant", signed=spec.in_signed,
                    rounding=spec.in_rounding, zero_point=spec.in_zero_point)
    if spec.layout == "flatten":
        x = g.node("Flatten", [x], "flatten", axis=1)
    elif spec.layout == "transpose_flatten":
        perm = [0] + list(range(len(in_shape), 0, -1))
        x = g.node("Flatten", [g.node("Transpose", [x], "transpose", perm=perm)], "flatten", axis=1)
    elif spec.layout == "shape_idiom":  # what older torch exporters write for x.view(N, -1)
        shape = g.node("Shape", [x], "shape")
        batch = g.node("Gather", [shape, g.const_int(0)], "gather", axis=0)
        batch = g.node("Unsqueeze", [batch, g.const_int([0])], "unsqueeze")
        target = g.node("Concat", [batch, g.const_int([-1])], "concat", axis=0)
        x = g.node("Reshape", [x, target], "reshape")
    n_in = int(np.prod(in_shape))
    for i, layer in enumerate(spec.layers):
        w_shape = (n_in, layer.n_out)
        if layer.bipolar_weights:
            w = g.node("BipolarQuant", [g.const(rng.standard_normal(w_shape)), g.const(_scale(rng, spec.po2))],
                       f"fc{i}_weight_quant", QONNX_DOMAIN)
        else:
            scale = _scale(rng, spec.po2, (1, layer.n_out) if layer.per_channel else ())
            top = 2 ** (layer.w_bits - 1)
            codes = rng.integers(-top, top, size=w_shape)
            codes[rng.random(w_shape) < layer.zero_fraction] = 0
            raw = (codes + rng.uniform(-0.3, 0.3, size=w_shape)) * scale
            if layer.float_weights:
                w = g.floatquant(g.const(rng.standard_normal(w_shape) * scale * 4), scale, layer.float_format,
                                 f"fc{i}_weight_quant")
            else:
                w = g.quant(g.const(raw), scale, layer.w_bits, f"fc{i}_weight_quant", signed=True,
                            zero_point=layer.w_zero_point)
        b = rng.normal(0, 0.3, layer.n_out).astype(np.float32)
        if layer.bias_quantized and spec.po2:
            b = np.round(b * 64).astype(np.float32) / np.float32(64)
        if layer.gemm:
            wt = g.node("Transpose", [w], f"fc{i}_weight_t", perm=[1, 0])
            inputs = [x, wt] + ([g.const(b)] if layer.bias else [])
            y = g.node("Gemm", inputs, f"fc{i}_gemm", transB=1)
        else:
            y = g.node("MatMul", [x, w], f"fc{i}_matmul")
            if layer.bias:
                y = g.node("Add", [y, g.const(b)], f"fc{i}_bias")
        if layer.batchnorm:
            y = g.node("BatchNormalization", [y, g.const(rng.uniform(0.5, 2, layer.n_out) * rng.choice([-1, 1], layer.n_out)),
                                              g.const(rng.normal(0, 0.5, layer.n_out)),
                                              g.const(rng.normal(0, 0.5, layer.n_out)),
                                              g.const(rng.uniform(0.5, 2, layer.n_out))], f"fc{i}_bn")
        if layer.relu:
            y = g.node("Relu", [y], f"fc{i}_relu")
        if layer.quantizer == "quant":
            scale = _scale(rng, spec.po2)
            y = g.quant(y, scale, layer.a_bits, f"fc{i}_act_quant", signed=layer.signed,
                        narrow=layer.narrow, rounding=layer.rounding, zero_point=layer.zero_point)
        elif layer.quantizer == "floatquant":
            y = g.floatquant(y, _scale(rng, spec.po2), layer.float_format, f"fc{i}_act_quant", rounding=layer.rounding)
        elif layer.quantizer == "bipolar":
            y = g.node("BipolarQuant", [y, g.const(_scale(rng, spec.po2))], f"fc{i}_act_quant", QONNX_DOMAIN)
        elif layer.quantizer == "multithreshold":
            levels = 2 ** layer.a_bits - 1
            t = np.sort(rng.normal(0, 2, (layer.n_out, levels)), axis=1)
            y = g.node("MultiThreshold", [y, g.const(t)], f"fc{i}_act_mt", QONNX_DOMAIN,
                       out_dtype=f"UINT{layer.a_bits}", out_scale=0.5, out_bias=0.0)
        x, n_in = y, layer.n_out
    if spec.softmax:
        x = g.node("Softmax", [x], "softmax", axis=-1)
    graph = helper.make_graph(
        g.nodes, "mlp",
        [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, *in_shape])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, n_in])],
        initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid(QONNX_DOMAIN, 1)])
    model = ModelWrapper(model).transform(InferShapes())
    if out_path:
        model.save(out_path)
    return model


def input_range(spec: MLPSpec):
    """A float input range that exercises the input quantizer's whole code range and clipping."""
    return 2.0 ** (spec.in_bits - 1) * 0.3


ROUNDING = ("ROUND", "CEIL", "FLOOR", "UP", "DOWN", "HALF_UP", "HALF_DOWN")


def random_mlp_spec(rng, max_width=12, max_depth=3, float_scales=0.0):
    """A random small MLP spec drawn from a numpy Generator (every option varies).

    `float_scales` is the probability of arbitrary (non-power-of-two) scales; such graphs
    also get BatchNorm now and then, and are compared by the tolerance rule, not bit for bit.
    Exactness of the float32 reference is kept where docs/ARCHITECTURE.md §2.4 promises it: power-of-two
    graphs get quantized (dyadic) biases and accumulators below 2**24; float-scale graphs
    always get a float bias, so no accumulator sits exactly on a rounding boundary (a
    bias-free layer whose integer terms cancel to 0 would, and the reference's float32
    summation noise would then pick the side).
    """
    po2 = bool(rng.random() >= float_scales)
    depth = int(rng.integers(1, max_depth + 1))
    layers = []
    for i in range(depth):
        last = i == depth - 1
        quantizer = "none" if last and rng.random() < 0.4 else str(
            rng.choice(["quant", "quant", "quant", "bipolar", "multithreshold"]))
        wide = rng.random() < 0.05  # now and then 9-12 bit weights (x 8-bit codes x 12 < 2**24)
        layers.append(LayerSpec(
            n_out=int(rng.integers(1, max_width + 1)),
            w_bits=int(rng.integers(9, 13)) if wide else int(rng.integers(2, 9)),
            a_bits=int(rng.integers(1, 9)) if quantizer == "quant" else int(rng.integers(1, 4)),
            quantizer=quantizer, relu=bool(rng.random() < 0.5), bias=not po2 or bool(rng.random() < 0.7),
            bias_quantized=po2,
            gemm=bool(rng.random() < 0.3), per_channel=bool(rng.random() < 0.3),
            signed=bool(rng.random() < 0.5), narrow=bool(rng.random() < 0.3),
            rounding=str(rng.choice(ROUNDING)), zero_fraction=float(rng.choice([0.0, 0.3, 0.8])),
            bipolar_weights=bool(rng.random() < 0.15),
            batchnorm=not po2 and bool(rng.random() < 0.3)))
    return MLPSpec(n_in=int(rng.integers(1, max_width + 1)), layers=layers, in_bits=int(rng.integers(2, 9)),
                   in_signed=bool(rng.random() < 0.5), in_rounding=str(rng.choice(ROUNDING)),
                   po2=po2, seed=int(rng.integers(0, 2**31)))
