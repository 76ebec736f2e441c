"""Libraries of the circuits in sim_designs.py, built once per test session (per xdist worker)."""
import pytest
from sim.sim_designs import COMBINATIONAL, PIPELINED, write_top

from qonnx_c4ml.sim import build_library


def _build(tmp_path_factory, name, text, in_bits, out_bits):
    root = tmp_path_factory.mktemp(name)
    return build_library([write_top(root / "src", text)], "top", in_bits, out_bits,
                         cache_dir=root / "cache")


@pytest.fixture(scope="session")
def combinational_library(tmp_path_factory):
    return _build(tmp_path_factory, "combinational", COMBINATIONAL, 200, 280)


@pytest.fixture(scope="session")
def pipelined_library(tmp_path_factory):
    return _build(tmp_path_factory, "pipelined", PIPELINED, 32, 68)
