"""chisel/hw.py: the builder facade the arithmetic uses is the logic IR's builder and writer."""
import numpy as np

from qonnx_c4ml.chisel import hw
from qonnx_c4ml.chisel.logic import build, netlist, verilog
from qonnx_c4ml.chisel.logic.evaluate import evaluate


def test_facade_names_the_logic_ir():
    assert hw.Module is build.Module and hw.Value is netlist.Value
    assert hw.literal is verilog.literal and hw.operand is verilog.operand
    assert sorted(hw.__all__) == ["Module", "Value", "literal", "operand"]


def test_widths_follow_exact_ranges():
    m = hw.Module("facade")
    a = m.input_element("in_data", 0, 3, False)  # [0, 7]
    b = m.input_element("in_data", 1, 3, True)  # [-4, 3]
    total = m.add(a, b)
    assert isinstance(total, hw.Value) and (total.lo, total.hi) == (-4, 10) and total.signed
    m.output("out_data", 0, total, 5, True)
    x = np.array([[7, -4], [0, 3], [5, -1]])
    assert list(evaluate(m.lowered(), x, check_ranges=True)[:, 0]) == [3, 3, 4]
    assert hw.literal(-4, 5) == "5'h1c"
    assert "module facade" in m.verilog()
