"""The flow, once: a QONNX model -> InferLBIR -> GenerateChiselCircuit (-> yosys) -> files.

    result = compile("model.onnx", "out")              # what `qonnx-c4ml compile` writes
    result.report["latency_cycles"], result.description.top, result.model
    result = compile(model, "v", outputs=False)        # the Verilog only, written in place

`compile` is the one path from a model to a circuit: the CLI's `compile` (and `demo`,
`package`), `sweep.run_point` and `Circuit` call it. With `outputs=True` (the CLI) the
directory is written whole or not at all (staged beside it, then renamed), a non-empty one is
refused unless `force`, and it holds, besides the Verilog, `model_lbir.onnx`, `report.json`
(+ `report.md`/`report.html`, see report.py) and `vivado_synth.tcl`. With `outputs=False`
(Circuit, the sweep) only GenerateChiselCircuit writes, directly into `output_dir`.
A model that is already LBIR is not lowered again.
"""
import json
import time
from dataclasses import dataclass
from pathlib import Path

from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.metadata import circuit_description, record_circuit
from qonnx_c4ml.output_dir import check_output_dir, staged
from qonnx_c4ml.transformations.generate_circuit import DEFAULT_MAX_OPERATORS

DEFAULT_TOP = "c4ml_top"
DEFAULT_SYNTH_TIMEOUT_S = 600
STAGES = ("model", "generate", "synthesis")  # the names `on_stage` is called with, in order


@dataclass
class Compiled:
    """What `compile` made: the generated model, its circuit description and the report."""
    model: object  # qonnx ModelWrapper: LBIR nodes + the circuit metadata (metadata.verilog_dir = output_dir)
    description: object  # interface.CircuitDescription
    output_dir: Path
    report: dict  # the content of report.json (also built with outputs=False)
    synthesis: object = None  # synth.SynthReport with synth="yosys"

    @property
    def verilog_files(self):
        """Paths of the Verilog files, top module last."""
        return [self.output_dir / f for f in self.description.files]

    @property
    def adders(self):
        return int(sum(layer.adders for layer in self.description.layers))


def _report(model_path, description, infer_s, generate_s):
    """The report.json dict of a generated circuit (without synthesis numbers)."""
    return {
        "model": None if model_path is None else str(model_path),
        "top": description.top,
        "verilog_files": description.files,
        "registered_wrapper": description.registered_wrapper,
        "pipeline": description.pipeline,
        "style": description.style,
        # streaming: cycles per input frame (one pixel per cycle) and first pixel -> output
        "ii_cycles": description.stream.get("ii_cycles", 1),
        "line_buffer_bits": description.stream.get("line_buffer_bits", 0),
        # style="folded" (a streaming circuit of one vector per frame): each layer's reuse factor
        "reuse_factors": [layer["reuse_factor"] for layer in description.stream["folded_layers"]]
        if description.stream.get("folded") else None,
        # and per layer: R, units, cycles per sample, estimated LUTs and flip-flops, what chose R,
        # constant or memory weights and the ROM bits; the circuit's ROM bits in all (block ROM, not LUTs)
        "folded_layers": [{key: layer.get(key) for key in ("node", "reuse_factor", "units", "steps", "estimated_luts",
                                                            "flip_flops", "chosen_by", "weight_form", "rom_bits")}
                          for layer in description.stream["folded_layers"]] if description.stream.get("folded") else None,
        "rom_bits": description.stream.get("rom_bits", 0),
        "latency_cycles": description.latency_cycles,
        "input": {"elements": description.inp.elements, "bits": description.inp.bits,
                  "signed": description.inp.signed},
        "output": {"elements": description.out.elements, "bits": description.out.bits,
                   "signed": description.out.signed},
        "layers": [{"name": layer.name, "inputs": layer.inp.elements, "outputs": layer.out.elements,
                    "in_bits": layer.inp.bits, "out_bits": layer.out.bits, "adders": layer.adders,
                    "operator_levels": layer.levels, "latency_cycles": layer.latency}
                   for layer in description.layers],
        # pipeline=N: no stage holds more than N operator levels between registers
        "operator_levels_per_stage": int(description.pipeline) if description.pipeline.isdigit() else None,
        "infer_lbir_s": round(infer_s, 4),
        "generate_s": round(generate_s, 4),
    }


def _generate(model, infer, verilog_dir, output_dir, model_path, **options):
    """InferLBIR (unless the model is LBIR already) + GenerateChiselCircuit into `verilog_dir`;
    the model records `output_dir` as its Verilog directory. Returns a Compiled."""
    from qonnx_c4ml.lbir import DOMAIN
    from qonnx_c4ml.transformations import GenerateChiselCircuit

    start = time.perf_counter()
    lbir = model if any(n.domain == DOMAIN for n in model.graph.node) else model.transform(infer)
    infer_s = time.perf_counter() - start
    generated = lbir.transform(GenerateChiselCircuit(verilog_dir, **options))
    generate_s = time.perf_counter() - start
    description = circuit_description(generated)
    record_circuit(generated, description, output_dir)  # where the Verilog is (after the staged move)
    return Compiled(generated, description, Path(output_dir), _report(model_path, description, infer_s, generate_s))


def synthesize(result, flow="generic-fast", timeout_s=DEFAULT_SYNTH_TIMEOUT_S, verilog_dir=None):
    """yosys on a Compiled's Verilog (in `verilog_dir`, default its output_dir): sets
    `result.synthesis`, adds luts/ffs/depth/flow/carry/synth_tool/synth_s to `result.report`
    and returns the SynthReport."""
    from qonnx_c4ml.synth import synthesize as yosys

    files = [Path(verilog_dir or result.output_dir) / f for f in result.description.files]
    synthesis = yosys(files, result.description.top, flow=flow, per_module=False, timeout_s=timeout_s)
    result.synthesis = synthesis
    result.report.update({"luts": synthesis.luts, "ffs": synthesis.ffs, "depth": synthesis.depth,
                          "flow": synthesis.flow, "carry": synthesis.carry, "synth_tool": synthesis.tool,
                          "synth_s": round(synthesis.seconds, 2)})
    return synthesis


def compile(model, output_dir, pipeline="none", top=DEFAULT_TOP, style="auto", max_operators=DEFAULT_MAX_OPERATORS,
            input_datatype=None, reuse_factor=None, target_ii=None, max_luts=None, weight_memory="auto", synth=None, synth_flow="generic-fast", synth_timeout_s=DEFAULT_SYNTH_TIMEOUT_S,
            force=False, outputs=True, on_stage=None):
    """Compile `model` (a path or a qonnx ModelWrapper) into `output_dir`; returns a Compiled.

    `pipeline`, `top`, `style`, `max_operators`, `reuse_factor`, `target_ii`, `max_luts`, `weight_memory`: GenerateChiselCircuit's; `input_datatype`:
    InferLBIR's (a bad type string fails before the model is read). `synth="yosys"` adds
    LUTs/FFs/depth (`synth_flow`, `synth_timeout_s`) to the report. `outputs`, `force`: see the
    module doc. `on_stage(name)` is called as each of STAGES begins (the sweep names the stage
    a failure happened in)."""
    from qonnx_c4ml.io import read_model
    from qonnx_c4ml.transformations import InferLBIR

    if synth not in (None, "yosys"):
        raise C4mlError(f"synth={synth!r}: the only synthesis tool is \"yosys\"")
    stage = on_stage or (lambda name: None)
    output_dir = Path(output_dir)
    if outputs:
        check_output_dir(output_dir, force)
    stage("model")
    infer = InferLBIR(input_datatype=input_datatype)
    model_path = model if isinstance(model, (str, Path)) else None
    if model_path is not None:
        model = read_model(model_path)
    options = dict(pipeline=pipeline, top=top, style=style, max_operators=max_operators, reuse_factor=reuse_factor,
                   target_ii=target_ii, max_luts=max_luts, weight_memory=weight_memory)
    if not outputs:
        stage("generate")
        result = _generate(model, infer, output_dir, output_dir, model_path, **options)
        if synth:
            stage("synthesis")
            synthesize(result, synth_flow, synth_timeout_s)
        return result
    with staged(output_dir) as staging:
        stage("generate")
        result = _generate(model, infer, staging, output_dir, model_path, **options)
        _write_circuit_files(result, staging)
        if synth:
            stage("synthesis")
            synthesize(result, synth_flow, synth_timeout_s, staging)
        _write_reports(result, staging)
    return result


def _write_circuit_files(result, staging):
    """model_lbir.onnx and vivado_synth.tcl beside the Verilog in `staging`."""
    from qonnx_c4ml.synth import write_vivado_tcl

    result.model.save(str(staging / "model_lbir.onnx"))
    write_vivado_tcl(staging / "vivado_synth.tcl", [staging / f for f in result.description.files],
                     result.description.top)


def _write_reports(result, staging):
    """report.json, report.md and report.html (+ plots) into `staging`."""
    from qonnx_c4ml.report import write_report

    (staging / "report.json").write_text(json.dumps(result.report, indent=2, sort_keys=True) + "\n")
    write_report(staging, result.report)
