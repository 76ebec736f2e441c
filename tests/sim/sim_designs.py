"""Hand-written circuits for tests/sim, all with the top module `top`.

Each design is lint-clean under `verilator --lint-only -Wall` (checked in test_verilator.py).
They share the module name on purpose: libraries of different designs with the same module
name must coexist in one process.
"""
from pathlib import Path

# y_i = 3*x_i - 2 on 40 signed 5-bit elements, purely combinational (latency 0). The ports are
# 200 and 280 bits wide, so both are Verilator VlWide arrays.
COMBINATIONAL = """\
// y_i = 3*x_i - 2 on 40 signed 5-bit elements into signed 7-bit elements; latency 0.
module top (
    input wire clock,
    input wire reset,
    input wire in_valid,
    input wire [199:0] in_data,
    output wire out_valid,
    output wire [279:0] out_data
);
  // A combinational circuit has no use for its clock and reset.
  /* verilator lint_off UNUSEDSIGNAL */
  wire unused = &{1'b0, clock, reset};
  /* verilator lint_on UNUSEDSIGNAL */
  genvar i;
  generate
    for (i = 0; i < 40; i = i + 1) begin : g_elem
      wire signed [6:0] x = {{2{in_data[i*5+4]}}, in_data[i*5+:5]};
      assign out_data[i*7+:7] = x + x + x - 7'sd2;
    end
  endgenerate
  assign out_valid = in_valid;
endmodule
"""

# y_i = x_i*x_i + 1 on 4 unsigned 8-bit elements through three register stages (latency 3):
# 32-bit input (one full word, Verilator IData), 68-bit output (VlWide<3>).
PIPELINED = """\
// y_i = x_i*x_i + 1 on 4 unsigned 8-bit elements into unsigned 17-bit elements.
// Stage 1 registers the input, stage 2 squares, stage 3 adds one; latency 3.
module top (
    input wire clock,
    input wire reset,
    input wire in_valid,
    input wire [31:0] in_data,
    output wire out_valid,
    output wire [67:0] out_data
);
  reg [31:0] x_q;
  reg [63:0] square_q;
  reg [67:0] y_q;
  reg [2:0] valid_q;
  always @(posedge clock) begin
    if (reset) valid_q <= 3'b0;
    else valid_q <= {valid_q[1:0], in_valid};
    x_q <= in_data;
  end
  genvar i;
  generate
    for (i = 0; i < 4; i = i + 1) begin : g_elem
      always @(posedge clock) begin
        square_q[i*16+:16] <= {8'd0, x_q[i*8+:8]} * {8'd0, x_q[i*8+:8]};
        y_q[i*17+:17] <= {1'b0, square_q[i*16+:16]} + 17'd1;
      end
    end
  endgenerate
  assign out_valid = valid_q[2];
  assign out_data = y_q;
endmodule
"""


def inverter(n_elems, elem_bits):
    """Registered bitwise NOT (latency 1): y_i = 2**elem_bits - 1 - x_i on unsigned elements."""
    width = n_elems * elem_bits
    return f"""\
// Registered bitwise NOT of a {width}-bit port ({n_elems} x {elem_bits}-bit elements); latency 1.
module top (
    input wire clock,
    input wire reset,
    input wire in_valid,
    input wire [{width - 1}:0] in_data,
    output reg out_valid,
    output reg [{width - 1}:0] out_data
);
  always @(posedge clock) begin
    out_valid <= reset ? 1'b0 : in_valid;
    out_data <= ~in_data;
  end
endmodule
"""


def write_top(directory, text):
    """Write `text` as top.v (the file name matches the module, as `-Wall` wants)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "top.v"
    path.write_text(text, encoding="utf-8")
    return path
