"""chisel/stream/residual_verilog.py: the FIFO and block modules are Verilator lint clean
(-Wall) at the depths the sizing gives and at the edge depth 1; the block wires the fork,
the branch instances and the join as the module doc says.  Behaviour: tests/e2e/test_residual_streaming.py."""
import subprocess

from residual_models import residual_lbir

from qonnx_c4ml.chisel.stream.generate import generate_streaming
from qonnx_c4ml.chisel.stream.residual_verilog import fifo_verilog
from qonnx_c4ml.lbir.graph import lbir_graph
from qonnx_c4ml.transformations.stream_front import front_ops, streaming_front


def lint(files, top):
    result = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", top, *map(str, files)],
                            capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_fifos_of_every_small_depth_are_lint_clean(tmp_path):
    for depth in (1, 2, 3, 8):
        path = tmp_path / f"fifo{depth}.v"
        path.write_text(fifo_verilog(f"fifo{depth}", 12, depth))
        lint([path], f"fifo{depth}")
        assert f"reg [11:0] words [0:{depth - 1}];" in path.read_text()


def test_residual_block_verilog_is_lint_clean_and_wired(tmp_path):
    lbir = residual_lbir()
    nodes, circuit_input, _ = lbir_graph(lbir)
    front, _ = streaming_front(nodes, circuit_input)
    description = generate_streaming(front_ops(front), tmp_path, top="res_top")
    lint(description["files"], "res_top")
    join = next(layer for layer in description["layers"] if layer["op_type"] == "QAdd")
    block = (tmp_path / f"{join['name']}.v").read_text()
    assert "assign in_ready = br0_in_ready && br1_in_ready;" in block
    assert f"{join['name']}_fifoa u_br0_0_{join['name']}_fifoa" in block  # the identity skip's FIFO
    assert "u_br1_0_Conv_0" in block and "u_br1_1_Conv_1" in block and "u_join" in block
    assert join["fifo_depths"][0] > 0 and join["fifo_depths"][1] == 0
