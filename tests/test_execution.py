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


def _float_values(rng, shape):
    """float32 of every magnitude: normal, subnormal, huge, signed zeros, infinities."""
    bits = rng.integers(0, 1 << 32, size=shape, dtype=np.uint64).astype(np.uint32)
    values = bits.view(np.float32).copy()
    values[np.isnan(values)] = 1.5
    flat = values.reshape(-1)
    flat[:6] = [0.0, -0.0, np.inf, -np.inf, 1e-45, -3.4e38]
    return values


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
def test_elementwise_ops_run_in_numpy_give_onnxruntime_bits(op):
    rng = np.random.default_rng(7)
    graph = helper.make_graph(
        [helper.make_node(op, ["x", "c"], ["y"]), helper.make_node(op, ["y", "x"], ["z"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64, 8])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [64, 8])],
        # against x's first row (0, -0, inf, -inf, ...) every op meets inf - inf, 0 * inf or inf / inf
        initializer=[helper.make_tensor("c", TensorProto.FLOAT, [8],
                                        [np.inf, -np.inf, -np.inf, np.inf, 0.0, -0.0, 1e-45, -3.4e38])],
        value_info=[helper.make_tensor_value_info("y", TensorProto.FLOAT, [64, 8])])
    model = ModelWrapper(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    x = {"x": _float_values(rng, (64, 8))}
    with np.errstate(all="ignore"):
        ours = run_model(model, x)["z"]
    theirs = execute_onnx(model, x)["z"]
    assert ours.dtype == theirs.dtype == np.float32
    nan = np.isnan(theirs)
    assert nan.any() and np.isinf(theirs).any()  # the edge cases were reached
    np.testing.assert_array_equal(np.isnan(ours), nan)
    np.testing.assert_array_equal(ours.view(np.uint32)[~nan], theirs.view(np.uint32)[~nan])
