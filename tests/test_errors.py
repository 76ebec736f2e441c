"""errors.py: the exception hierarchy and the one-line message of UnsupportedModelError."""
import pytest
from onnx import helper

from qonnx_c4ml.errors import C4mlError, ToolError, ToolRunError, UnsupportedModelError


def test_every_error_is_a_c4ml_error():
    assert issubclass(UnsupportedModelError, C4mlError) and issubclass(ToolError, C4mlError)
    assert issubclass(C4mlError, Exception) and not issubclass(ToolError, UnsupportedModelError)
    with pytest.raises(C4mlError, match="verilator not found"):
        raise ToolError("verilator not found")


def test_unsupported_model_error_names_node_op_reason_and_hint():
    node = helper.make_node("Softsign", ["x"], ["y"], name="act_3")
    error = UnsupportedModelError("not a supported activation", node=node, hint="run it on the host")
    assert str(error) == "node 'act_3' (Softsign): not a supported activation; run it on the host"
    assert (error.node_name, error.op_type, error.reason, error.hint) == (
        "act_3", "Softsign", "not a supported activation", "run it on the host")


def test_unsupported_model_error_without_node_or_hint():
    error = UnsupportedModelError("no layers")
    assert str(error) == "no layers"
    assert error.node_name is None and error.op_type is None and error.hint is None


def test_unnamed_node_is_marked():
    error = UnsupportedModelError("odd", node=helper.make_node("Relu", ["x"], ["y"]))
    assert str(error) == "node '<unnamed>' (Relu): odd"
    assert error.node_name is None and error.op_type == "Relu"


def test_tool_run_error_keeps_the_log_path():
    """SynthesisError and PlaceAndRouteError share it: a failed run names its full log."""
    from qonnx_c4ml.synth import PlaceAndRouteError, SynthesisError

    error = ToolRunError("yosys failed", log_path="/tmp/flat.log")
    assert isinstance(error, ToolError) and isinstance(error, RuntimeError) and error.log_path == "/tmp/flat.log"
    assert ToolRunError("no log").log_path is None
    assert issubclass(SynthesisError, ToolRunError) and issubclass(PlaceAndRouteError, ToolRunError)
