"""A registered 8-bit adder (`add8`) and a small generated circuit (8 -> 6 -> 3 MLP) in both pipeline modes, and its yosys reports,
made once per test session (per xdist worker): each synthesis takes a second or a few."""
import pytest
from qonnx_builder import LayerSpec, MLPSpec, build_mlp

from qonnx_c4ml.errors import ToolError
from qonnx_c4ml.synth import find_yosys, synthesize_model
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR

# Registered 8-bit adder: 25 flip-flops; on Xilinx one LUT level into a CARRY4 chain.
ADD8 = """module add8(input wire clock, input wire [7:0] a, input wire [7:0] b, output reg [8:0] y);
  reg [7:0] a_q, b_q;
  always @(posedge clock) begin
    a_q <= a;
    b_q <= b;
    y <= a_q + b_q;
  end
endmodule
"""
SMALL_MLP = MLPSpec(8, [LayerSpec(6, w_bits=3, a_bits=2), LayerSpec(3, quantizer="none", relu=False)])


@pytest.fixture(scope="session")
def yosys():
    try:
        return find_yosys()
    except ToolError as error:  # the tests of the missing-tool path need no yosys
        pytest.skip(f"yosys is not installed: {error}")


@pytest.fixture
def add8(tmp_path):
    """ADD8 written to tmp_path/add8.v (top module add8)."""
    path = tmp_path / "add8.v"
    path.write_text(ADD8)
    return path


def _generate(tmp_path_factory, pipeline):
    root = tmp_path_factory.mktemp(f"mlp_{pipeline}")
    model = build_mlp(SMALL_MLP).transform(InferLBIR())
    return model.transform(GenerateChiselCircuit(root / "verilog", pipeline=pipeline))


@pytest.fixture(scope="session")
def mlp_none(tmp_path_factory):
    return _generate(tmp_path_factory, "none")


@pytest.fixture(scope="session")
def mlp_layer(tmp_path_factory):
    return _generate(tmp_path_factory, "layer")


@pytest.fixture(scope="session")
def generic_none(yosys, mlp_none, tmp_path_factory):
    """(report, work_dir) of the generic flow on the combinational circuit."""
    work_dir = tmp_path_factory.mktemp("generic_none")
    return synthesize_model(mlp_none, flow="generic", work_dir=work_dir, yosys=yosys), work_dir


@pytest.fixture(scope="session")
def generic_layer(yosys, mlp_layer, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("generic_layer")
    return synthesize_model(mlp_layer, flow="generic", work_dir=work_dir, yosys=yosys), work_dir
