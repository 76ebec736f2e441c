"""Exceptions a user can act on.

Every error the flow raises on a model says which node, which op, what is unsupported and
what to do about it; the CLI prints `str(error)` as one line.
"""


class C4mlError(Exception):
    """Base class of every error qonnx-c4ml raises on purpose."""


class UnsupportedModelError(C4mlError):
    """The model contains something the flow cannot turn into a circuit (exactly)."""

    def __init__(self, reason, node=None, hint=None):
        self.node_name = getattr(node, "name", None) or None
        self.op_type = getattr(node, "op_type", None)
        self.reason = reason
        self.hint = hint
        where = ""
        if node is not None:
            where = f"node '{self.node_name or '<unnamed>'}' ({self.op_type}): "
        message = where + reason
        if hint:
            message += f"; {hint}"
        super().__init__(message)


class ToolError(C4mlError):
    """An external tool (Verilator, yosys, a C++ compiler) is missing or failed."""


class ToolRunError(ToolError, RuntimeError):
    """An external tool ran and failed or ran out of time; `log_path` holds its full log."""

    def __init__(self, message, log_path=None):
        super().__init__(message)
        self.log_path = log_path
