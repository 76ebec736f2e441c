"""chisel/stream/global_pool_verilog.py: the global pool stage's wrapper read as text (ports,
counter, accumulators, handshake); tests/chisel/stream/test_generate.py runs it in Verilator."""
from qonnx_c4ml.chisel.ports import module_header
from qonnx_c4ml.chisel.stream.geometry import layer_geometry
from qonnx_c4ml.chisel.stream.global_pool_verilog import global_pool_verilog

from .stream_ops import global_pool_op


def test_wrapper_accumulates_and_loads_the_output_at_the_last_pixel():
    layer = layer_geometry(global_pool_op((3, 4, 5), [1, 1, 1], [[1, 20, 40]] * 3, in_dtype="UINT3", name="gap"))
    text = global_pool_verilog(layer)
    lines = text.splitlines()
    header = module_header("gap", layer.inp.width, layer.out.width, streaming=True)
    assert lines[:len(header)] == header
    assert "line_buffer" not in text
    assert "  reg [4:0] count;" in lines  # 20 pixels
    assert f"  reg [{3 * layer.accumulator_bits - 1}:0] acc;" in lines
    assert "  wire last = count == 5'h13;" in lines
    assert "  assign in_ready = !(last && out_valid_q);" in lines  # registers only
    a, s = layer.accumulator_bits, layer.sum_bits
    assert all(f"        acc[{c * a} +: {a}] <= sum_data[{c * s} +: {a}];" in lines for c in range(3))
    assert "        out_data_q <= engine_out;" in lines
    assert "gap_engine u_engine" in text and text.rstrip().endswith("endmodule")
    assert global_pool_verilog(layer) == text  # deterministic
