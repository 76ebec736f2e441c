"""The builder facade the arithmetic uses: `Module` (chisel/logic/build.py) over the logic IR
(chisel/logic/netlist.py: values with exact integer ranges), and `literal` from the one
Verilog writer (chisel/logic/verilog.py).

Every value's bit width and signedness follow from the exact integer range [lo, hi] it can
take, so widths are never guessed: an adder's result range is the sum of its operands'
ranges, and so on.  Names are chosen by the caller (`acc_3`, `x5_mul3`, ...) and are the
wire names of the Verilog.
"""
from qonnx_c4ml.chisel.logic.build import Module
from qonnx_c4ml.chisel.logic.netlist import Value
from qonnx_c4ml.chisel.logic.verilog import literal, operand

__all__ = ["Module", "Value", "literal", "operand"]
