"""qonnx_c4ml.execution.run_model (behind Circuit(x)) against qonnx's execute_onnx (Circuit itself:
test_circuit.py)."""
import warnings
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

from qonnx_c4ml.execution import run_model

JETS = Path(__file__).parent / "fixtures" / "jets_w4a4_po2.onnx"


def _add_model(batch=4):
    """y = x + c with y annotated INT4: execute_onnx rounds y when it is nearly integer."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "c"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])],
        initializer=[helper.make_tensor("c", TensorProto.FLOAT, [3], [0.0, 1.0, 2.0])])
    model = ModelWrapper(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    model.set_tensor_datatype("y", DataType["INT4"])
    return model


@pytest.mark.parametrize("offset", [0.0, 0.004])
def test_sanitization_rounds_like_execute_onnx(offset):
    model = _add_model()
    x = {"x": (np.arange(12, dtype=np.float32).reshape(4, 3) % 5 + offset).astype(np.float32)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = execute_onnx(model, x)["y"]
        got = run_model(model, x)["y"]
    np.testing.assert_array_equal(got, expected)


def test_too_large_a_rounding_error_raises_like_execute_onnx():
    model = _add_model()
    x = {"x": np.full((4, 3), 0.3, dtype=np.float32)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception, match="Rounding error is too high"):
            execute_onnx(model, x)
        with pytest.raises(Exception, match="Rounding error is too high"):
            run_model(model, x)
