"""The circuit generator: constant-weight arithmetic, requantization and Verilog emission.

It plays the role chisel4ml's Chisel backend plays, in Python: `hw` (values with exact ranges),
`arith` (shift-add dot products, adder trees, requantization), `generator` (layer and top
modules, pipelining).
"""
from qonnx_c4ml.chisel.generator import PIPELINE_MODES, CircuitDescription, Port

__all__ = ["PIPELINE_MODES", "CircuitDescription", "Port"]
