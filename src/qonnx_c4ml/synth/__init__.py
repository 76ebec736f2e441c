"""Synthesis reports: yosys LUT/FF/depth numbers here, a Vivado script for users who have Vivado."""
from qonnx_c4ml.synth.vivado import write_vivado_tcl
from qonnx_c4ml.synth.yosys import (
    FLOWS,
    ModuleReport,
    SynthesisError,
    SynthReport,
    YosysNotFoundError,
    YosysTool,
    find_yosys,
    logic_depth,
    synthesize,
    synthesize_model,
)

__all__ = [
    "FLOWS",
    "ModuleReport",
    "SynthReport",
    "SynthesisError",
    "YosysNotFoundError",
    "YosysTool",
    "find_yosys",
    "logic_depth",
    "synthesize",
    "synthesize_model",
    "write_vivado_tcl",
]
