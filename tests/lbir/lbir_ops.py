"""Shared by the LBIR op tests (test_conv.py, test_pool.py, test_add.py): onnxruntime as the
independent reference, one-node LBIR models run by qonnx's execute_onnx, the direct count of
the threshold requantization."""
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

from qonnx_c4ml.lbir import DOMAIN

CODE_RANGES = {"UINT2": (0, 3), "UINT4": (0, 15), "INT2": (-2, 1), "INT4": (-8, 7), "INT3": (-4, 3)}


# -- onnxruntime references ----------------------------------------------------------------
def _ort_run(node, inputs, inits, out_name="Y"):
    graph = helper.make_graph(
        [node], "ref",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)) for name, value in inputs.items()],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {name: value.astype(np.float32) for name, value in inputs.items()})[0]


def int_tensor(name, value):
    value = np.asarray(value, dtype=np.int64)
    return helper.make_tensor(name, TensorProto.INT64, value.shape, value.ravel().tolist())


def lbir_model(op_type, inputs, out_elems, batch, **attrs):
    """A one-node model: inputs {name: flat element count}, output "Y" of shape (batch, out_elems)."""
    node = helper.make_node(op_type, list(inputs), ["Y"], name=op_type + "_0", domain=DOMAIN, **attrs)
    graph = helper.make_graph(
        [node], "lbir",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, n]) for name, n in inputs.items()],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [batch, out_elems])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(DOMAIN, 1)])
    return ModelWrapper(model)


def run(model, **inputs):
    return execute_onnx(model, {k: np.asarray(v, dtype=np.float32) for k, v in inputs.items()})["Y"]


def threshold_count(acc, thresholds, channel_of, out_base):
    """Direct reference of the requantization: out_base + #{k : acc >= T[c, k]}."""
    t = np.asarray(thresholds)[np.asarray(channel_of)]  # (E, K)
    return out_base + (acc[:, :, None] >= t[None]).sum(axis=2)
