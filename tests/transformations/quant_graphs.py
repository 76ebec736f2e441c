"""One-layer QONNX graphs for the tests of transformations/ helpers (quantized constants,
zero-points, quantizer levels)."""
import numpy as np
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_builder import _Graph


def weight_model(weight, scale, bits=4, zero_point=0.0, signed=True, narrow=False, rounding="ROUND",
                 transpose=False):
    """inp [1, K] -> MatMul with Quant(weight) (optionally through a Transpose) -> out [1, M].
    Returns (model, name of the quantized weight tensor the MatMul reads, the Quant node)."""
    g = _Graph()
    w = g.quant(g.const(weight), scale, bits, "w_quant", signed=signed, narrow=narrow, rounding=rounding,
                zero_point=zero_point)
    if transpose:
        w = g.node("Transpose", [w], "w_transpose", perm=[1, 0])
    k, m = np.shape(weight)[::-1] if transpose else np.shape(weight)
    y = g.node("MatMul", ["inp", w], "fc")
    graph = helper.make_graph(g.nodes, "one_layer", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, k])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, m])], initializer=g.inits)
    model = ModelWrapper(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    return model.transform(InferShapes()), w, g.nodes[0]
