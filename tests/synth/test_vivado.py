"""The Vivado script, checked without Vivado: Tcl runs it with the Vivado commands it may use
defined as recording stubs; any other command aborts the run (`unknown`), so a typo or a
command outside that list fails the test. The XDC the script writes is run the same way."""
import shutil
import subprocess

import pytest

from qonnx_c4ml.errors import ToolError
from qonnx_c4ml.synth import find_yosys, write_vivado_tcl
from qonnx_c4ml.metadata import circuit_description, verilog_dir


def tcl_interpreter():
    """tclsh, else the Tcl interpreter built into Debian's yosys (`yosys -c`)."""
    if shutil.which("tclsh"):
        return [shutil.which("tclsh")]
    try:
        tool = find_yosys()
    except ToolError:
        return None
    return [*tool.command, "-q", "-c"] if tool.source == "system" else None


TCL = tcl_interpreter()
pytestmark = pytest.mark.skipif(TCL is None, reason="no Tcl interpreter (apt-get install tcl)")

VIVADO_COMMANDS = ("read_verilog", "read_xdc", "synth_design", "report_utilization",
                   "report_timing_summary", "report_timing", "report_design_analysis",
                   "write_checkpoint")
XDC_COMMANDS = ("create_clock", "set_input_delay", "set_output_delay", "get_ports")


def run_with_stubs(script, commands, tmp_path):
    """Source `script` under Tcl with recording stubs; returns the calls as lists of words."""
    stubs = "\n".join(f"proc {name} args {{ record {name} $args }}" for name in commands)
    harness = tmp_path / f"harness_{script.stem}.tcl"
    harness.write_text(f"""
set calls {{}}
proc record {{name words}} {{ lappend ::calls [concat [list $name] $words]; return "<$name>" }}
proc unknown args {{ puts stderr "command outside the stub list: $args"; exit 3 }}
{stubs}
source {{{script}}}
foreach call $calls {{ puts [join $call "\\t"] }}
""")
    result = subprocess.run([*TCL, str(harness)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.splitlines()]


def test_script_runs_with_vivado_stubs(tmp_path, mlp_none):
    description = circuit_description(mlp_none)
    files = [f"{verilog_dir(mlp_none)}/{name}" for name in description.files]
    script = write_vivado_tcl(tmp_path / "synth.tcl", files, description.top, clock_ns=3.2)
    calls = run_with_stubs(script, VIVADO_COMMANDS, tmp_path)

    names = [call[0] for call in calls]
    assert names == ["read_verilog"] * len(files) + ["read_xdc", "synth_design", "report_utilization",
                                                    "report_timing_summary", "report_timing",
                                                    "report_design_analysis", "write_checkpoint"]
    read = [call[1] for call in calls if call[0] == "read_verilog"]
    assert [p.rsplit("/", 1)[1] for p in read] == description.files
    synth = calls[names.index("synth_design")]
    assert synth[1:] == ["-top", description.top, "-part", "xcvu9p-flga2104-2L-e",
                         "-mode", "out_of_context", "-retiming"]
    report_dir = tmp_path / f"vivado_{description.top}"
    assert calls[names.index("report_utilization")] == ["report_utilization", "-file",
                                                        str(report_dir / "utilization.rpt")]

    # the constraints the script wrote before synthesis
    xdc = report_dir / "clock.xdc"
    assert calls[names.index("read_xdc")] == ["read_xdc", str(xdc)]
    xdc_calls = run_with_stubs(xdc, XDC_COMMANDS, tmp_path)
    assert xdc_calls[0:2] == [["get_ports", "clock"],
                              ["create_clock", "-name", "clock", "-period", "3.200", "<get_ports>"]]
    assert [call[0] for call in xdc_calls[2:]] == ["get_ports", "set_input_delay", "get_ports",
                                                   "set_output_delay"]
    assert "NAME != clock" in xdc_calls[2][2]


def test_script_finds_its_files_after_the_directory_moves(tmp_path):
    build = tmp_path / "build"
    (build / "verilog").mkdir(parents=True)
    (build / "verilog" / "top.v").write_text("module top(input wire clock); endmodule\n")
    write_vivado_tcl(build / "synth.tcl", [build / "verilog" / "top.v"], "top", part="xc7a35tcpg236-1")
    moved = shutil.move(str(build), str(tmp_path / "elsewhere"))
    calls = run_with_stubs(tmp_path / "elsewhere" / "synth.tcl", VIVADO_COMMANDS, tmp_path)
    assert calls[0] == ["read_verilog", f"{moved}/verilog/top.v"]
    assert ["-part", "xc7a35tcpg236-1"] == calls[2][3:5]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="clock_ns"):
        write_vivado_tcl(tmp_path / "s.tcl", ["a.v"], "top", clock_ns=0)
    with pytest.raises(ValueError, match="top"):
        write_vivado_tcl(tmp_path / "s.tcl", ["a.v"], "two words")
    with pytest.raises(ValueError, match="clock_port"):
        write_vivado_tcl(tmp_path / "s.tcl", ["a.v"], "top", clock_port="clk[0]")
    with pytest.raises(ValueError, match="Tcl"):
        write_vivado_tcl(tmp_path / "s.tcl", ["we{ird}.v"], "top")
    with pytest.raises(ValueError, match="no Verilog"):
        write_vivado_tcl(tmp_path / "s.tcl", [], "top")
