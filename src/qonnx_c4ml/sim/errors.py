"""Errors of the Verilator simulation layer.

They derive from the project's base classes (so the CLI reports them as one line) and from
RuntimeError (so callers that only know "the simulator failed" can catch that).
"""
from qonnx_c4ml.errors import C4mlError, ToolError


class ToolNotFoundError(ToolError, RuntimeError):
    """Verilator (or a C++ toolchain it needs) is missing or too old."""


class BuildError(ToolError, RuntimeError):
    """Verilating or compiling a circuit failed; `log_path` holds the full output."""

    def __init__(self, message, log_path=None):
        super().__init__(message)
        self.log_path = log_path


class SimulationError(C4mlError, RuntimeError):
    """The circuit broke the port contract: wrong number of outputs or wrong latency."""
