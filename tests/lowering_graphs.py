"""Small hand-built QONNX graphs for the lowering tests (tests/transformations/lowering/).

`Graph` writes nodes with unique names and constants as initializers; `lower` runs InferLBIR
and returns (LBIR model, activations); `assert_exact` runs qonnx `execute_onnx` on the
original and on the lowered model (numpy LBIR nodes) and wants the same float32 outputs.
Scales are powers of two, so qonnx's float32 arithmetic is exact and equality is the test.
"""
import numpy as np
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.reference import execute
from qonnx_c4ml.verify import random_inputs

Q = "qonnx.custom_op.general"


class Graph:
    """A tiny graph writer: node `op_k` writes `op_k_out`; constants are initializers `c_k`."""

    def __init__(self, seed=0):
        self.nodes, self.inits, self.k = [], [], 0
        self.rng = np.random.default_rng(seed)

    def const(self, value, dtype=np.float32):
        self.k += 1
        name, value = f"c{self.k}", np.asarray(value, dtype=dtype)
        kind = TensorProto.FLOAT if dtype == np.float32 else TensorProto.INT64
        self.inits.append(helper.make_tensor(name, kind, value.shape, value.ravel().tolist()))
        return name

    def node(self, op, inputs, domain="", **attrs):
        self.k += 1
        name = f"{op}_{self.k}"
        self.nodes.append(helper.make_node(op, inputs, [name + "_out"], name=name, domain=domain, **attrs))
        return name + "_out"

    def quant(self, x, scale, bits, signed=True, narrow=False, rounding="ROUND"):
        return self.node("Quant", [x, self.const(scale), self.const(0.0), self.const(float(bits))], Q,
                         signed=int(signed), narrow=int(narrow), rounding_mode=rounding)

    def weights(self, codes, scale=0.25, bits=4):
        """Constant integer `codes` times `scale`, through a Quant (the exporters' weight form)."""
        return self.quant(self.const(np.asarray(codes) * np.asarray(scale)), scale, bits)

    def random_codes(self, shape, bits=3):
        top = 2 ** (bits - 1)
        return self.rng.integers(-top, top, size=shape)

    def model(self, in_shape, out):
        """The model with input `inp` of per-sample shape `in_shape` and output `out`."""
        graph = helper.make_graph(
            self.nodes, "lowering_test", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, *in_shape])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(Q, 2)])
        return ModelWrapper(model).transform(InferShapes())


def lower(model, **options):
    """(LBIR model, {prepared tensor: Activation}) of `model`."""
    return InferLBIR(**options).lower(model)


def lbir_nodes(model, op_type=None):
    return [n for n in model.graph.node if n.domain == DOMAIN and op_type in (None, n.op_type)]


def attr(node, name):
    """A node attribute's value (tensors as numpy arrays, strings decoded)."""
    found = next(a for a in node.attribute if a.name == name)
    value = helper.get_attribute_value(found)
    if isinstance(value, bytes):
        return value.decode()
    if hasattr(value, "dims"):
        return np.array(value.int64_data, dtype=np.int64).reshape(tuple(value.dims))
    return value


def assert_exact(model, lbir, samples=96, seed=0):
    """qonnx on the original == qonnx on the LBIR graph, bit for bit, on inputs covering the
    input quantizer's codes and rounding ties; returns the inputs used."""
    x = random_inputs(model, samples, seed=seed)
    expected, got = execute(model, x), execute(lbir, x)
    assert expected.shape == got.shape
    np.testing.assert_array_equal(got, expected)
    return x
