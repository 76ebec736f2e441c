"""sim/errors.py: the simulation layer's errors are the project's errors and RuntimeErrors."""
import pytest

from qonnx_c4ml.errors import C4mlError, ToolError
from qonnx_c4ml.sim.errors import BuildError, SimulationError, ToolNotFoundError


def test_hierarchy():
    assert issubclass(ToolNotFoundError, ToolError) and issubclass(ToolNotFoundError, RuntimeError)
    assert issubclass(BuildError, ToolError) and issubclass(BuildError, RuntimeError)
    assert issubclass(SimulationError, C4mlError) and issubclass(SimulationError, RuntimeError)
    assert not issubclass(SimulationError, ToolError)  # the circuit, not a tool, is at fault


def test_build_error_keeps_its_log(tmp_path):
    log = tmp_path / "build.log"
    error = BuildError("make failed", log)
    assert str(error) == "make failed" and error.log_path == log
    assert BuildError("no log").log_path is None
    with pytest.raises(RuntimeError, match="make failed"):
        raise error
