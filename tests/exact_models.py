"""Hand-built QONNX graphs whose float32 execution is noisy: exact rounding ties.

`tie_heavy_mlp()`: binary (BipolarQuant) weights of scale 0.1 and activations quantized with
scale 0.125, so y / 0.125 = 0.1 * acc for an integer accumulator acc: every acc = 5 (mod 10)
is an exact tie, which qonnx's float32 sums (0.1 is not a float32) round either way.
"""
import numpy as np
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_builder import QONNX_DOMAIN, _Graph


def tie_heavy_mlp(widths=(16, 32, 32, 10), seed=0, act_scale=0.125, weight_scale=0.1, bits=4):
    rng = np.random.default_rng(seed)
    g = _Graph()
    x = g.quant("inp", np.float32(act_scale), bits, "input_quant")
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        w = g.node("BipolarQuant", [g.const(rng.standard_normal((n_in, n_out))), g.const(np.float32(weight_scale))],
                   f"fc{i}_weight_quant", QONNX_DOMAIN)
        x = g.node("MatMul", [x, w], f"fc{i}")
        if i < len(widths) - 2:
            x = g.node("Relu", [x], f"fc{i}_relu")
        x = g.quant(x, np.float32(act_scale), bits, f"fc{i}_act_quant", signed=i == len(widths) - 2)
    graph = helper.make_graph(
        g.nodes, "tie_heavy_mlp", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, widths[0]])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, widths[-1]])], initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return ModelWrapper(model).transform(InferShapes())
