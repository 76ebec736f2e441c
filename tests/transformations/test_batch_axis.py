"""transformations/batch_axis.py: batch-less tensors (torch.flatten(x) of one sample) and the
per-sample view of layout ops."""
import numpy as np
import pytest
from lowering_graphs import Graph
from onnx import helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations.batch_axis import (batched_name, declared_shape_nodes, is_batchless,
                                                   model_is_batchless, per_sample_shape, transpose_axes)

RESHAPE = helper.make_node("Reshape", ["x", "s"], ["y"], name="flatten")


def test_batchless_tensors():
    assert is_batchless([48], 1) and not is_batchless([1, 48], 1) and not is_batchless(None, 1)
    g = Graph()
    flat = g.node("Reshape", ["inp", g.const(np.array([-1]), np.int64)])
    assert model_is_batchless(g.model([3, 4], flat))
    g = Graph()
    assert not model_is_batchless(g.model([12], g.node("Relu", ["inp"])))


def test_per_sample_shapes_of_layout_ops():
    assert per_sample_shape(RESHAPE, [8, 2, 3], [8, 6], 2) == (6,)
    assert per_sample_shape(RESHAPE, [1, 2, 3], [6], 2) == (6,)  # flatten everything, batch 1
    assert per_sample_shape(RESHAPE, [2, 3], [6], 2) == (6,)  # already batch-less
    with pytest.raises(UnsupportedModelError, match="changes the batch axis"):
        per_sample_shape(RESHAPE, [8, 2, 3], [4, 12], 2)


def test_transpose_keeps_the_batch_axis_first():
    node = helper.make_node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])
    assert transpose_axes(node, [1, 2, 3, 4], 3) == [1, 2, 0]
    assert transpose_axes(helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0]), [3, 4], 2) == [1, 0]
    with pytest.raises(UnsupportedModelError, match="move the batch axis"):
        transpose_axes(helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0, 2]), [1, 2, 3], 2)


def test_host_reshape_back_to_the_declared_batchless_shape():
    g = Graph()
    out = g.node("Reshape", ["inp", g.const(np.array([-1]), np.int64)])
    model = g.model([2, 3], out)
    assert batched_name(model, out, lambda name: name + "_1") == out + "_batched_1"
    assert batched_name(model, "inp", lambda name: name + "_1") == "inp"
    assert declared_shape_nodes("t", "t") == []
    nodes = declared_shape_nodes("src", "dst")
    assert [n.op_type for n in nodes] == ["Constant", "Reshape"] and nodes[1].output == ["dst"]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("src", 1, [2, 3])],
                              [helper.make_tensor_value_info("dst", 1, [6])])
    result = execute_onnx(ModelWrapper(helper.make_model(graph)).transform(InferShapes()),
                          {"src": np.arange(6, dtype=np.float32).reshape(2, 3)})
    assert result["dst"].tolist() == list(range(6))  # the samples one after another
