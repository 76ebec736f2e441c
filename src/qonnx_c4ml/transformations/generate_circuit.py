"""GenerateChiselCircuit: Verilog for the LBIR layers of a model.

Matches the chain of QDense nodes InferLBIR produced (each feeding the next) and writes one
Verilog module per node plus the top module (and a registered wrapper) into `output_dir`.
It leaves the graph's computation untouched; it records
- on each QDense node: `verilog_module`, `verilog_file`;
- in the model metadata: `c4ml_circuit` (JSON: top, ports, latency, files) and
  `c4ml_verilog_dir`.
"""
import os
from pathlib import Path

import numpy as np

from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation

from qonnx_c4ml.chisel.arith import csd_digits
from qonnx_c4ml.chisel.generator import (
    HEADER,
    WAIVER,
    CircuitDescription,
    LayerCircuit,
    check_pipeline,
    count_adders,
    layer_module,
    registered_wrapper,
    top_module,
)
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir import DOMAIN

METADATA_KEY = "c4ml_circuit"
DEFAULT_MAX_OPERATORS = 500_000  # ~ what Verilator and yosys handle on a 2-core machine


def estimate_operators(op):
    """Upper estimate of a QDense's adders and comparators, from its attributes alone:
    one adder per non-zero weight plus its canonical-signed-digit extras, and one comparator
    per threshold (the generator often needs far fewer)."""
    weights = op.weight_codes()
    nonzero = weights[weights != 0]
    digits = sum(len(csd_digits(int(v))) for v in np.unique(np.abs(nonzero))) * weights.shape[1]
    return int(nonzero.size + digits + op.threshold_codes().size)


def lbir_chain(model):
    """The QDense nodes of `model` in data-flow order; raises unless they form one chain."""
    nodes = [n for n in model.graph.node if n.domain == DOMAIN and n.op_type == "QDense"]
    if not nodes:
        raise UnsupportedModelError("the model has no LBIR layers", hint="apply InferLBIR first")
    for prev, node in zip(nodes, nodes[1:]):
        if node.input[0] != prev.output[0]:
            raise UnsupportedModelError(
                f"LBIR layers do not form a chain ('{prev.name}' does not feed it)", node,
                "only sequential networks are supported")
    return nodes


def write_if_changed(path, text):
    """Write `text` unless the file already holds exactly it (keeps mtimes and caches stable)."""
    path = Path(path)
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


class GenerateChiselCircuit(Transformation):
    """Write the circuit's Verilog to `output_dir` (see module doc)."""

    def __init__(self, output_dir, pipeline="none", top="c4ml_top", module_prefix="",
                 max_operators=DEFAULT_MAX_OPERATORS):
        """`module_prefix` keeps module names unique when several circuits share a design;
        `max_operators` bounds the estimated adders/comparators before anything is generated."""
        super().__init__()
        self.pipeline = check_pipeline(pipeline)
        self.max_operators = max_operators
        self.output_dir = Path(output_dir)
        self.top = top
        self.module_prefix = module_prefix

    def apply(self, model):
        nodes = lbir_chain(model)
        estimate = sum(estimate_operators(getCustomOp(node)) for node in nodes)
        if estimate > self.max_operators:
            raise UnsupportedModelError(
                f"the fully parallel circuit would need about {estimate:,} adders/comparators, "
                f"above the limit of {self.max_operators:,}",
                hint="prune or quantize the model further, or raise the limit "
                "(--max-operators / GenerateChiselCircuit(max_operators=...))")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        source = model.graph.name or "a QONNX model"
        layers, files = [], []
        for node in nodes:
            op = getCustomOp(node)
            stage_levels = int(self.pipeline) if self.pipeline.isdigit() else None
            module, inp, out, layer_latency, levels = layer_module(
                self.module_prefix + node.name, op.weight_codes(), op.get_nodeattr("in_dtype"),
                op.get_nodeattr("out_dtype"), op.get_nodeattr("requant"), op.threshold_codes(),
                op.get_nodeattr("out_base"), stage_levels)
            file = f"{module.name}.v"
            write_if_changed(self.output_dir / file, WAIVER + module.verilog(HEADER.format(source=source)))
            op.set_nodeattr("verilog_module", module.name)
            op.set_nodeattr("verilog_file", str(self.output_dir / file))
            layers.append(LayerCircuit(module.name, file, inp, out, count_adders(module), layer_latency, levels))
            files.append(file)
        if self.top in {layer.name for layer in layers}:
            raise UnsupportedModelError(f"top module name '{self.top}' collides with a layer name")
        if self.pipeline == "none":
            latency = 0
        elif self.pipeline == "layer":
            latency = len(layers) + 1
        else:
            latency = 1 + sum(layer.latency for layer in layers)
        top_file = f"{self.top}.v"
        write_if_changed(self.output_dir / top_file,
                         HEADER.format(source=source) + top_module(self.top, layers, self.pipeline))
        files.append(top_file)
        wrapper_file = f"{self.top}_registered.v"
        write_if_changed(self.output_dir / wrapper_file, HEADER.format(source=source) + registered_wrapper(
            self.top, layers[0].inp, layers[-1].out, latency))
        description = CircuitDescription(self.top, self.pipeline, latency, layers[0].inp, layers[-1].out,
                                         layers, files, wrapper_file)
        model.set_metadata_prop(METADATA_KEY, description.to_json())
        model.set_metadata_prop("c4ml_verilog_dir", str(self.output_dir.resolve()))
        return model, False


def circuit_description(model):
    """The CircuitDescription GenerateChiselCircuit stored in `model`, or raise."""
    text = model.get_metadata_prop(METADATA_KEY)
    if not text:
        raise UnsupportedModelError("the model has no generated circuit", hint="apply GenerateChiselCircuit first")
    return CircuitDescription.from_json(text)
