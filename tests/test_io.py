"""io.py: read_model loads a QONNX file as a ModelWrapper and names what is wrong otherwise."""
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper

from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.io import read_model

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "jets_w2a2_po2.onnx"


def test_reads_a_fixture_as_a_model_wrapper():
    model = read_model(FIXTURE)
    assert isinstance(model, ModelWrapper)
    assert model.graph.node and model.graph.input and model.graph.output
    assert any(node.op_type == "Quant" for node in model.graph.node)
    assert isinstance(read_model(str(FIXTURE)), ModelWrapper)  # a str path too


def test_missing_file(tmp_path):
    with pytest.raises(C4mlError, match="no such file"):
        read_model(tmp_path / "absent.onnx")
    with pytest.raises(C4mlError, match="no such file"):
        read_model(tmp_path)  # a directory is not a model file


def test_truncated_file_is_not_readable(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(FIXTURE.read_bytes()[:100])
    with pytest.raises(C4mlError, match="not a readable ONNX model"):
        read_model(broken)


def test_model_without_a_graph(tmp_path):
    empty = tmp_path / "empty.onnx"
    graph = helper.make_graph([], "empty", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(empty))
    with pytest.raises(C4mlError, match="no nodes, inputs or outputs"):
        read_model(empty)
