"""chisel/logic/verilog.py: the one writer's text."""
from qonnx_c4ml.chisel.logic.build import Module
from qonnx_c4ml.chisel.logic.verilog import extended, literal, module_verilog, operand


def test_literal_and_operand():
    assert literal(-1, 4) == "4'hf" and literal(5, 8) == "8'h5"
    m = Module("m")
    u = m.input_element("in_data", 0, 3, False)
    s = m.input_element("in_data", 1, 4, True)
    assert operand(u, 5) == "$signed({1'b0, x0})" and operand(u, 3) == "$signed(x0)"
    assert operand(s, 2) == "$signed(x1[1:0])" and operand(m.const(-2), 4) == "$signed(4'he)"
    # adder operands: unsigned, sign bits repeated explicitly, cut or literal at the width
    assert extended(u, 5) == "{2'b0, x0}" and extended(s, 6) == "{{2{x1[3]}}, x1}"
    assert extended(s, 4) == "x1" and extended(s, 2) == "x1[1:0]" and extended(m.const(-2), 4) == "4'he"


def test_combinational_module_text():
    m = Module("adder")
    m.port("input", "in_data", 6)
    m.port("output", "out_data", 4)
    a = m.input_element("in_data", 0, 3, False)
    b = m.input_element("in_data", 1, 3, False)
    m.comment("one adder")
    s = m.add(a, b, base="acc")
    m.output("out_data", 0, s, 4, False)
    assert m.verilog("// h\n") == (
        "// h\nmodule adder (\n  input wire [5:0] in_data,\n  output wire [3:0] out_data\n);\n"
        "  wire [2:0] x0 = in_data[0 +: 3];\n  wire [2:0] x1 = in_data[3 +: 3];\n  // one adder\n"
        "  wire [3:0] acc = {1'b0, x0} + {1'b0, x1};\n"
        "  assign out_data[0 +: 4] = $signed(acc);\nendmodule\n")


def pipelined():
    m = Module("piped", stage_levels=1)
    m.port("input", "clock", 1)
    m.port("input", "enable", 1)
    m.port("input", "in_data", 8)
    m.port("output", "out_data", 5)
    a = m.input_element("in_data", 0, 4, True)
    b = m.input_element("in_data", 1, 4, True)
    c = m.clamp(m.sub(a, b, base="d"), -4, 3)
    m.output("out_data", 0, m.maximum(c, m.shift_right(a, 2)), 5, True)
    return m


def test_registers_and_enable():
    m = pipelined()
    text = m.verilog()
    assert "  reg signed [4:0] d_q1;" in text and "  always @(posedge clock) begin\n    d_q1 <= d;" in text
    assert "  wire [0:0] clamp_over = ~clamp_over_d[5];" in text  # wiring: same stage as the subtraction
    # the mux is one level later: select and operand both come through their stage-2 registers
    assert "  wire signed [4:0] clamp_hi = clamp_over_q2 ? $signed(5'h3) : $signed(d_q2);" in text
    assert "  wire signed [1:0] shr = x0[3:2];" in text
    gated = module_verilog(m.lowered(), "", enable="enable")
    assert "    if (enable) begin\n      d_q1 <= d;" in gated
    body = lambda t: [line.strip() for line in t.splitlines() if "<=" not in line and "always" not in line
                      and line.strip() not in ("begin", "end", "if (enable) begin")]
    assert body(gated) == body(text)
    assert text.count(" <= ") == len(m.lowered().registers()) == gated.count(" <= ")


def test_select_is_a_ternary_tree_on_the_index_bits():
    m = Module("m")
    x = m.input_element("in_data", 0, 4, False)
    step = m.index_input("step", 3, 1)
    m.output("out_data", 0, m.select(step, [x, m.const(3), m.neg(x)], base="pick"), 6, True)
    text = module_verilog(m.lowered())
    line = next(line for line in text.splitlines() if " pick = " in line)
    s = step.name  # the node reading the `step` bus
    assert line.strip() == (f"wire signed [4:0] pick = ({s}[1] ? $signed(neg) : ({s}[0] ? $signed(5'h3) : "
                            "$signed({1'b0, x0})));"), line
    assert f"wire [1:0] {s} = step[0 +: 2];" in text
    assert "input wire [1:0] step" in text


def test_flip_xors_a_signed_operand():
    m = Module("m")
    x = m.input_element("in_data", 0, 3, False)
    sign = m.select(m.index_input("step", 2, 1), [m.const(0), m.const(1)], base="neg")
    m.output("out_data", 0, m.flip(sign, x, base="t"), 4, True)
    text = module_verilog(m.lowered())
    # both operands signed: x is zero-extended to 4 bits by its {1'b0, x}, never by the XOR
    assert "wire signed [3:0] t = $signed({1'b0, x0}) ^ $signed({4{neg}});" in text, text


def test_wide_select_is_a_table_of_its_distinct_options():
    m = Module("m")
    x = m.input_element("in_data", 0, 3, False)
    step = m.index_input("step", 6, 1)
    pick = m.select(step, [x, m.const(0), x, m.const(0), m.shift_left(x, 1), x], base="pick")
    table = m.select(step, [m.const(v) for v in (3, -1, 0, 2, 2, -4)], base="tab")
    m.output("out_data", 0, m.add(pick, table), 5, True)
    text = module_verilog(m.lowered())
    s = step.name
    # option numbers 0 (x), 1 (0), 2 (x << 1) in 2 bits each, entry r at bits 2r
    assert "localparam [11:0] pick_t = 12'h244;" in text, text
    assert f"wire [1:0] pick_i = pick_t[{s} * 2 +: 2];" in text
    assert "localparam [17:0] tab_t = 18'h2243b;" in text  # 3-bit two's complement values
    assert f"wire signed [2:0] tab = $signed(tab_t[{s} * 3 +: 3]);" in text


def test_mul_extends_both_operands_to_the_product_width():
    m = Module("m")
    x = m.input_element("in_data", 0, 4, False)
    w = m.input_element("in_data", 1, 4, True)
    m.output("out_data", 0, m.mul(x, w, base="p"), 8, True)
    text = module_verilog(m.lowered())
    assert "wire signed [7:0] p = $signed({1'b0, x0}) * $signed(x1);" in text, text
