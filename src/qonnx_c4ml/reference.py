"""Running a model in qonnx, the float32 reference: loading, fixing the batch size, executing.

Used by verify (the reference stage), layerwise (every tensor of the reference run) and Circuit
(the host part of a model around the simulated circuit).
"""
import copy

import numpy as np

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.change_batchsize import ChangeBatchSize
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.io import read_model
from qonnx_c4ml.transformations.batch_axis import model_is_batchless


def load_model(model):
    """A ModelWrapper from a path or a ModelWrapper (copied, never modified in place)."""
    if isinstance(model, ModelWrapper):
        return ModelWrapper(model.model.__deepcopy__())
    return read_model(model)


def with_batch(model, batch):
    """A copy of `model` whose batch dimension is `batch` (qonnx executes fixed shapes).

    qonnx's ChangeBatchSize drops every intermediate shape, which its channels-last ops
    cannot re-infer; so the batch axis of each tensor that depends on the graph input is
    rewritten in place when the model has such ops, and so is the batch entry of constant
    Reshape targets (as ChangeBatchSize does)."""
    if not any(n.domain == "qonnx.custom_op.channels_last" for n in model.graph.node):
        model = model.transform(ChangeBatchSize(batch))
        return model.transform(InferShapes())
    model = ModelWrapper(copy.deepcopy(model.model))
    graph = model.graph
    dynamic, changed = {graph.input[0].name}, True
    while changed:
        changed = False
        for node in graph.node:
            if any(i in dynamic for i in node.input) and not set(node.output) <= dynamic:
                dynamic.update(node.output)
                changed = True
    for info in list(graph.input) + list(graph.output) + list(graph.value_info):
        dims = info.type.tensor_type.shape.dim
        if info.name in dynamic and len(dims):
            dims[0].dim_value = batch
    for node in graph.node:  # a constant Reshape target names the batch too (FINN: (1, -1) folded to (1, 16))
        target = model.get_initializer(node.input[1]) if node.op_type == "Reshape" else None
        if target is not None and node.input[0] in dynamic and target.size and target[0] > 0:
            target = target.copy()
            target[0] = batch
            model.set_initializer(node.input[1], target)
    return model.transform(InferShapes())


def execute(model, x):
    """Outputs of `model` (qonnx execute_onnx) for the batch `x`, as one numpy array (a batch-less
    model, e.g. torch.flatten(x), runs one sample at a time: its outputs one after another)."""
    if x.shape[0] != 1 and model_is_batchless(model):
        return np.concatenate([execute(model, x[i:i + 1]) for i in range(x.shape[0])])
    batch_model, context = execute_context(model, x)
    return context[batch_model.graph.output[0].name]


def execute_context(model, x):
    """(batch-sized model, every tensor of qonnx's float32 execution of it) for the batch `x`."""
    if model.get_tensor_shape(model.graph.input[0].name)[0] != x.shape[0]:
        model = with_batch(model, x.shape[0])
    elif not model.check_all_tensor_shapes_specified():  # a raw export: qonnx needs shapes to execute
        model = model.transform(InferShapes())
    context = execute_onnx(model, {model.graph.input[0].name: x.astype(np.float32)},
                           return_full_exec_context=True)
    return model, context
