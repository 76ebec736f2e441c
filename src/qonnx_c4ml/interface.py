"""The interface of a generated circuit, as every consumer of the Verilog sees it.

`CircuitDescription` is what GenerateChiselCircuit produced (top module, files, ports, latency,
style, streaming geometry); it is stored as JSON in the model metadata (qonnx_c4ml.metadata)
and is all that simulation (qonnx_c4ml.sim, qonnx_c4ml.rtlsim), synthesis and packaging need
to know about a circuit: they import this module, never the generator.  The port protocol
(clock, reset, valid, element 0 in the LSBs) is docs/ARCHITECTURE.md, "Circuit interface".
This module imports nothing of qonnx_c4ml.
"""
import json
from dataclasses import asdict, dataclass, field


@dataclass
class Port:
    elements: int
    bits: int
    signed: bool

    @property
    def width(self):
        return self.elements * self.bits

    @property
    def code_range(self):
        """(lo, hi) of the integer codes one element can carry."""
        if self.signed:
            return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        return 0, (1 << self.bits) - 1


@dataclass
class LayerCircuit:
    name: str  # module name (== the ONNX node name, sanitized)
    file: str
    inp: Port  # the (first) input
    out: Port
    adders: int  # add/sub operators emitted
    latency: int = 0  # cycles inside the layer module (pipeline=N), 0 if combinational
    levels: int = 0  # operator levels on the layer's longest path (adders, comparators, muxes)
    op: str = "QDense"  # the LBIR op
    inputs: list = field(default_factory=list)  # tensor names read (in_data concatenates them, first in the LSBs)
    output: str = ""  # tensor name written
    in_ports: list = field(default_factory=list)  # Port per input (empty: [inp])

@dataclass
class CircuitDescription:
    """What GenerateChiselCircuit produced; stored as JSON in model metadata."""

    top: str
    pipeline: str
    latency_cycles: int
    inp: Port
    out: Port
    layers: list = field(default_factory=list)
    files: list = field(default_factory=list)
    registered_wrapper: str = ""
    # "parallel": one sample per cycle through the docs/ARCHITECTURE.md §3 interface.
    # "streaming": the leading conv/pool layers take one pixel per cycle (valid/ready, in_ready
    # and out_ready added to the interface; in_data is one pixel); `stream` holds their
    # geometry, initiation interval and latency (chisel.stream.generate.generate_streaming).
    style: str = "parallel"
    stream: dict = field(default_factory=dict)

    def to_json(self):
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text):
        data = json.loads(text)
        data["inp"], data["out"] = Port(**data["inp"]), Port(**data["out"])
        data["layers"] = [LayerCircuit(**{**layer, "inp": Port(**layer["inp"]), "out": Port(**layer["out"]),
                                          "in_ports": [Port(**p) for p in layer.get("in_ports", [])]})
                          for layer in data["layers"]]
        return cls(**data)
