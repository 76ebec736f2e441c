"""Verilator simulation: build a circuit into a cached shared library, run batches through it."""
from qonnx_c4ml.sim.errors import BuildError, SimulationError, ToolNotFoundError
from qonnx_c4ml.sim.packing import pack_codes, unpack_codes, words_for_bits
from qonnx_c4ml.sim.tools import VerilatorTool, find_verilator
from qonnx_c4ml.sim.verilator import CircuitSimulator, build_library, default_cache_dir, simulate

__all__ = [
    "BuildError",
    "CircuitSimulator",
    "SimulationError",
    "ToolNotFoundError",
    "VerilatorTool",
    "build_library",
    "default_cache_dir",
    "find_verilator",
    "pack_codes",
    "simulate",
    "unpack_codes",
    "words_for_bits",
]
