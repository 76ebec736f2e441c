"""chisel/ports.py: the port list of every generated top (parallel and streaming)."""
from qonnx_c4ml.chisel.ports import module_header


def test_parallel_header():
    assert module_header("top", 8, 12) == [
        "module top (",
        "  input wire clock,",
        "  input wire reset,",
        "  input wire in_valid,",
        "  input wire [7:0] in_data,",
        "  output wire out_valid,",
        "  output wire [11:0] out_data",
        ");",
    ]


def test_streaming_header_adds_the_handshake_and_reg_outputs():
    lines = module_header("s", 1, 3, streaming=True, out_kind="reg")
    assert lines[0] == "module s (" and lines[-1] == ");"
    assert lines.index("  output wire in_ready,") == lines.index("  input wire in_valid,") + 1
    assert "  input wire [0:0] in_data," in lines
    assert lines.index("  input wire out_ready,") == lines.index("  output reg out_valid,") + 1
    assert lines[-2] == "  output reg [2:0] out_data"
    # every port but the last ends with a comma
    assert all(line.endswith(",") for line in lines[1:-2])
