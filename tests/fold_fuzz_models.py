"""Random graphs and random foldings for the folding fuzz (tests/e2e/test_fold_fuzz.py and
benchmarks/fold_fuzz.py): small dense nets (qonnx_builder.random_mlp_spec, power-of-two
scales) and small CNNs (Quant -> Conv -> Relu -> Quant [-> MaxPool] [-> second Conv] ->
Flatten -> dense layers), every bit width drawn; a reuse factor per foldable LBIR node drawn
by its op type (FOLDABLE) and the weight form policy (weight_memory: auto, always -- the
weight ROM of chisel/fold/memory.py wherever a layer has steps -- or never); one case = build, InferLBIR, GenerateChiselCircuit(style="folded"),
RTLSim, qonnx execute_onnx on the circuit model against qonnx on the raw model."""
import numpy as np
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.infer_shapes import InferShapes
from qonnx_builder import QONNX_DOMAIN, _Graph, build_mlp, random_mlp_spec

from qonnx_c4ml.lbir.graph import lbir_chain
from qonnx_c4ml.metadata import circuit_description
from qonnx_c4ml.reference import execute
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim
from qonnx_c4ml.transformations.generate_circuit import WEIGHT_MEMORY
from qonnx_c4ml.verify import random_inputs


def _po2(rng, lo=-5, hi=-1):
    return np.float32(2.0) ** np.float32(rng.integers(lo, hi))


def _weight(g, rng, shape, bits, name, zero_fraction):
    scale = _po2(rng, -4, -1)
    top = 2 ** (bits - 1)
    codes = rng.integers(-top, top, size=shape)
    codes[rng.random(shape) < zero_fraction] = 0
    return g.quant(g.const((codes + rng.uniform(-0.3, 0.3, size=shape)) * scale), scale, bits, name), scale


def random_cnn(rng):
    """A random small CNN (NCHW, batch 1, power-of-two scales so qonnx is exact)."""
    g = _Graph()
    channels, size = int(rng.integers(1, 3)), int(rng.integers(4, 7))
    in_bits = int(rng.integers(2, 6))
    x = g.quant("inp", _po2(rng), in_bits, "input_quant", signed=bool(rng.random() < 0.5))
    shape = (channels, size, size)
    for i in range(int(rng.integers(1, 3))):
        out_channels, kernel = int(rng.integers(1, 4)), int(rng.choice([1, 2, 3]))
        if kernel > shape[1]:
            kernel = shape[1]
        w, _ = _weight(g, rng, (out_channels, shape[0], kernel, kernel), int(rng.integers(2, 5)), f"conv{i}_wq",
                       float(rng.choice([0.0, 0.3])))
        x = g.node("Conv", [x, w], f"conv{i}", kernel_shape=[kernel, kernel], pads=[0, 0, 0, 0], strides=[1, 1])
        x = g.node("Relu", [x], f"conv{i}_relu")
        x = g.quant(x, _po2(rng), int(rng.integers(2, 5)), f"conv{i}_aq", signed=False)
        shape = (out_channels, shape[1] - kernel + 1, shape[2] - kernel + 1)
        if shape[1] >= 2 and rng.random() < 0.5:
            x = g.node("MaxPool", [x], f"pool{i}", kernel_shape=[2, 2], strides=[2, 2])
            shape = (shape[0], shape[1] // 2, shape[2] // 2)
    x = g.node("Flatten", [x], "flatten", axis=1)
    n_in = int(np.prod(shape))
    depth = int(rng.integers(1, 3))
    for i in range(depth):
        n_out = int(rng.integers(2, 11))
        w, w_scale = _weight(g, rng, (n_in, n_out), int(rng.integers(2, 5)), f"fc{i}_wq",
                             float(rng.choice([0.0, 0.3, 0.8])))
        x = g.node("MatMul", [x, w], f"fc{i}_matmul")
        if i < depth - 1 or rng.random() < 0.5:
            x = g.node("Relu", [x], f"fc{i}_relu")
            x = g.quant(x, _po2(rng), int(rng.integers(1, 5)), f"fc{i}_aq", signed=False)
        n_in = n_out
    graph = helper.make_graph(g.nodes, "cnn", [helper.make_tensor_value_info("inp", TensorProto.FLOAT,
                                                                               [1, channels, size, size])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, n_in])], initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(QONNX_DOMAIN, 1)])
    return ModelWrapper(model).transform(InferShapes())


def random_dense(rng):
    """A random small dense net (power-of-two scales: qonnx is exact)."""
    return build_mlp(random_mlp_spec(rng, max_width=12, max_depth=3, float_scales=0.0))


def rows_reuse(rng, node):
    """R for a QDense node of M rows or a QConv2D of M output channels: 1..M+1 (above M folds it
    fully, as M does)."""
    return int(rng.integers(1, getCustomOp(node).weight_codes().shape[0] + 2))


# op type -> draw(rng, LBIR node) of a reuse factor
FOLDABLE = {"QDense": rows_reuse, "QConv2D": rows_reuse}


def random_reuse(rng, lbir):
    """{LBIR node name: R} for every foldable node of `lbir`, drawn by op type (FOLDABLE)."""
    return {node.name: FOLDABLE[node.op_type](rng, node) for node in lbir_chain(lbir) if node.op_type in FOLDABLE}


def run_case(kind, seed, work_dir, samples=32):
    """One fuzz case: (mismatching output elements, elements, description text).  Deterministic in
    (kind, seed); `kind` is "dense" or "cnn"."""
    rng = np.random.default_rng(seed)
    raw = random_dense(rng) if kind == "dense" else random_cnn(rng)
    lbir = raw.transform(InferLBIR())
    reuse = random_reuse(rng, lbir)
    form = str(rng.choice(WEIGHT_MEMORY))  # drawn last: the net and R are those of the seed before
    model = lbir.transform(GenerateChiselCircuit(work_dir, style="folded", reuse_factor=reuse, weight_memory=form))
    stream = circuit_description(model).stream
    x = random_inputs(raw, samples, seed=seed)
    got, want = execute(model.transform(RTLSim()), x), execute(raw, x)
    mismatches = int(np.count_nonzero(got != want)) if got.shape == want.shape else want.size
    forms = [layer.get("weight_form") for layer in stream.get("layers", []) + stream.get("folded_layers", [])
             if layer.get("weight_form")]
    text = (f"{kind} seed {seed}: layers {[n.op_type for n in lbir_chain(lbir)]}, R {reuse}, "
            f"weight_memory {form} {forms}, "
            f"ii {stream['ii_cycles']}, {samples} inputs")
    return mismatches, want.size, text
