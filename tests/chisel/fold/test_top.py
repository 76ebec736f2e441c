"""chisel/fold/top.py: the chain of folded stages wires each stage's valid/ready/data to the next."""
from qonnx_c4ml.chisel.fold.top import folded_top_verilog


def test_chain_wiring():
    text = folded_top_verilog("top", [("a", 12, 8), ("b", 8, 6), ("c", 6, 20)])
    assert "module top (" in text and "input wire [11:0] in_data," in text and "output wire [19:0] out_data" in text
    assert ("a u_a (.clock(clock), .reset(reset), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data), "
            ".out_valid(a_valid), .out_ready(a_ready), .out_data(a_data));") in text
    assert ".in_valid(a_valid), .in_ready(a_ready), .in_data(a_data), .out_valid(b_valid)" in text
    assert ".in_data(b_data), .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data));" in text
    assert "wire [7:0] a_data;" in text and "wire [5:0] b_data;" in text
    single = folded_top_verilog("top", [("a", 4, 2)])
    assert ".in_data(in_data), .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data));" in single
