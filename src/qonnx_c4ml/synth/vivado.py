"""A Vivado TCL script for out-of-context synthesis of a generated circuit.

We cannot run Vivado here, but users who have it want the numbers that matter on a real
part: `write_vivado_tcl` writes a non-project batch script (`vivado -mode batch -source
FILE`) that reads the Verilog, constrains the `clock` port (docs/ARCHITECTURE.md §3) and the other
ports against it, synthesizes out of context with retiming, and writes utilization, timing
and logic-level reports next to the script. Paths in the script are relative to the script's
own directory when possible, so the build directory can be copied to the machine with Vivado.

The clock goes into an XDC file the script writes and reads *before* synth_design: a
constraint given only after synthesis would leave retiming and timing-driven optimization
without a clock. Input and output delays of 0 against that clock put the combinational
circuit (pipeline="none") under the clock too; for register-to-register numbers synthesize the
`<top>_registered` wrapper instead.
"""
import os
import re
from pathlib import Path

DEFAULT_PART = "xcvu9p-flga2104-2L-e"
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
PART_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"


def _tcl_word(text):
    """`text` as one brace-quoted Tcl word (no substitution inside)."""
    if any(ch in text for ch in "{}\\\n"):
        raise ValueError(f"cannot quote {text!r} for Tcl (braces, backslash or newline)")
    return "{" + text + "}"


def _script_relative(path, script_dir):
    """`path` as a Tcl expression relative to the script's directory (absolute if it must be)."""
    path = Path(path).resolve()
    try:
        relative = os.path.relpath(path, script_dir)
    except ValueError:  # another drive (Windows)
        return _tcl_word(str(path))
    return f"[file normalize [file join $script_dir {_tcl_word(Path(relative).as_posix())}]]"


def write_vivado_tcl(path, verilog_files, top, part=DEFAULT_PART, clock_ns=5.0, clock_port="clock",
                     report_dir=None):
    """Write the out-of-context synthesis script to `path`; returns `path`.

    Reports go to `report_dir` (relative to the script; default `vivado_<top>`):
    utilization.rpt, timing_summary.rpt, timing.rpt (10 worst paths), logic_levels.rpt,
    post_synth.dcp.
    """
    path = Path(path)
    if clock_ns <= 0:
        raise ValueError(f"clock_ns must be positive, got {clock_ns}")
    # Plain words only: they are written into Tcl strings where $ or [ would substitute.
    for name, value, pattern in (("top", top, IDENTIFIER), ("clock_port", clock_port, IDENTIFIER),
                                 ("part", part, PART_NAME)):
        if not re.fullmatch(pattern, value or ""):
            raise ValueError(f"{name}={value!r} is not a valid {name} name")
    verilog_files = [verilog_files] if isinstance(verilog_files, (str, os.PathLike)) else list(verilog_files)
    if not verilog_files:
        raise ValueError("no Verilog files given")
    script_dir = path.resolve().parent
    report_dir = report_dir or f"vivado_{top}"
    sources = "".join(f"  {_script_relative(f, script_dir)} \\\n" for f in verilog_files)
    period = f"{clock_ns:.3f}"
    text = f"""# Out-of-context synthesis of {top} for {part}, written by qonnx-c4ml.
# Run: vivado -mode batch -source {path.name}
set script_dir [file dirname [file normalize [info script]]]
set top {_tcl_word(top)}
set part {_tcl_word(part)}
set report_dir [file join $script_dir {_tcl_word(str(report_dir))}]
file mkdir $report_dir

set verilog_files [list \\
{sources}]
foreach verilog_file $verilog_files {{
  read_verilog $verilog_file
}}

# Constraints are read before synth_design so that retiming sees the clock.
set xdc_file [file join $report_dir clock.xdc]
set xdc [open $xdc_file w]
puts $xdc "create_clock -name {clock_port} -period {period} \\[get_ports {clock_port}\\]"
puts $xdc "set_input_delay -clock {clock_port} 0.000 \\[get_ports -filter {{DIRECTION == IN && NAME != {clock_port}}}\\]"
puts $xdc "set_output_delay -clock {clock_port} 0.000 \\[get_ports -filter {{DIRECTION == OUT}}\\]"
close $xdc
read_xdc $xdc_file

synth_design -top $top -part $part -mode out_of_context -retiming

report_utilization -file [file join $report_dir utilization.rpt]
report_timing_summary -file [file join $report_dir timing_summary.rpt]
report_timing -max_paths 10 -file [file join $report_dir timing.rpt]
report_design_analysis -logic_level_distribution -file [file join $report_dir logic_levels.rpt]
write_checkpoint -force [file join $report_dir post_synth.dcp]
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
