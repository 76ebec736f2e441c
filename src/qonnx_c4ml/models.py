"""Synthetic QONNX models for sweeps and benchmarks.

`random_mlp(topology, bits, prune, seed)` writes the graph a Brevitas/QKeras export of a
quantized MLP has, with random power-of-two-scaled weights:

    inp -> Quant(input, bits, signed)
        -> [MatMul(Quant(W, bits)) -> Add(bias) -> Relu -> Quant(act, bits, unsigned)]  hidden layers
        -> MatMul(Quant(W, bits)) -> Add(bias)                                          last layer, float

All scales are powers of two (so qonnx's float32 execution is exact and the circuit must
match it bit for bit), a fraction `prune` of the weight codes is zero, and everything is
drawn from `numpy.random.default_rng(seed)`: the same arguments give the same graph. It is
the graph tests/qonnx_builder.py builds for the same settings (same draws, names, order).
"""
import numpy as np
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.errors import C4mlError

QONNX_DOMAIN = "qonnx.custom_op.general"


class _Graph:
    def __init__(self):
        self.nodes, self.inits, self.counter = [], [], 0

    def const(self, value):
        self.counter += 1
        name = f"c{self.counter}"
        value = np.asarray(value, dtype=np.float32)
        self.inits.append(helper.make_tensor(name, TensorProto.FLOAT, value.shape, value.ravel().tolist()))
        return name

    def node(self, op, inputs, name, domain="", **attrs):
        out = name + "_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, domain=domain, **attrs))
        return out

    def quant(self, x, scale, bits, name, signed=True):
        return self.node("Quant", [x, self.const(scale), self.const(0.0), self.const(float(bits))], name,
                         QONNX_DOMAIN, signed=int(signed), narrow=0, rounding_mode="ROUND")


def _po2_scale(rng):
    return np.float32(2.0) ** rng.integers(-6, -1, size=()).astype(np.float32)


def _check(topology, bits, prune):
    topology = list(topology)
    if len(topology) < 2 or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0
                                    for n in topology):
        raise C4mlError(f"topology {topology!r}: need at least two positive integer widths (input first)")
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
        raise C4mlError(f"bits={bits!r}: need an integer from 1 to 16")
    if isinstance(prune, bool) or not isinstance(prune, (int, float)) or not 0.0 <= prune < 1.0:
        raise C4mlError(f"prune={prune!r}: need a fraction of zero weights in [0, 1)")
    return [int(n) for n in topology], int(bits), float(prune)


def random_mlp(topology, bits, prune=0.0, seed=0):
    """A random power-of-two-scaled QONNX MLP as a ModelWrapper (shapes inferred, batch 1).

    `topology` lists the layer widths, input first (e.g. [16, 64, 32, 32, 5]); inputs,
    weights and hidden activations are `bits` wide; a fraction `prune` of each layer's
    weight codes is set to zero; the last layer has no quantizer and no ReLU (float
    output). Deterministic in (topology, bits, prune, seed)."""
    topology, bits, prune = _check(topology, bits, prune)
    rng = np.random.default_rng(seed)
    g = _Graph()
    x = g.quant("inp", _po2_scale(rng), bits, "input_quant", signed=True)
    n_in = topology[0]
    last = len(topology) - 2
    for i, n_out in enumerate(topology[1:]):
        shape = (n_in, n_out)
        scale = _po2_scale(rng)
        top = 2 ** (bits - 1)
        codes = rng.integers(-top, top, size=shape)
        codes[rng.random(shape) < prune] = 0
        raw = (codes + rng.uniform(-0.3, 0.3, size=shape)) * scale
        w = g.quant(g.const(raw), scale, bits, f"fc{i}_weight_quant", signed=True)
        b = rng.normal(0, 0.3, n_out).astype(np.float32)
        y = g.node("MatMul", [x, w], f"fc{i}_matmul")
        y = g.node("Add", [y, g.const(b)], f"fc{i}_bias")
        if i != last:
            y = g.node("Relu", [y], f"fc{i}_relu")
            y = g.quant(y, _po2_scale(rng), bits, f"fc{i}_act_quant", signed=False)
        x, n_in = y, n_out
    graph = helper.make_graph(
        g.nodes, "mlp",
        [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, topology[0]])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, n_in])],
        initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid(QONNX_DOMAIN, 1)])
    return ModelWrapper(model).transform(InferShapes())
