"""Synthesis reports: yosys LUT/FF/depth numbers, ECP5 place-and-route timing (nextpnr), a Vivado
script for users who have Vivado."""
from qonnx_c4ml.synth.nextpnr import (
    DesignDoesNotFitError,
    NextpnrNotFoundError,
    PlaceAndRouteError,
    PnrReport,
    find_nextpnr,
    place_and_route_ecp5,
    place_and_route_model,
)
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
    "DesignDoesNotFitError",
    "NextpnrNotFoundError",
    "PlaceAndRouteError",
    "PnrReport",
    "find_nextpnr",
    "place_and_route_ecp5",
    "place_and_route_model",
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
