"""generate_folded: the folded circuit of a chain of QDense ops, written to files, and its
description (the dict of a streaming circuit whose frame is one vector: in_shape [K, 1, 1],
so `sim.stream_simulator`, RTLSim and `Circuit.package`'s streaming testbench run it as
they are); format_report: the per-layer numbers as a text table."""
import json
from dataclasses import asdict
from pathlib import Path

from qonnx_c4ml.chisel.fold.datapath import fold_geometry, slot_order, step_counter_bits, unit_module
from qonnx_c4ml.chisel.fold.estimate import control_luts
from qonnx_c4ml.chisel.fold.memory import memory_unit_module
from qonnx_c4ml.chisel.fold.stage import stage_verilog
from qonnx_c4ml.chisel.generator import HEADER, WAIVER, port_for_dtype
from qonnx_c4ml.chisel.logic.cost import cost
from qonnx_c4ml.chisel.stream.tops import chain_verilog
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import Port
from qonnx_c4ml.output_dir import write_if_changed
from qonnx_c4ml.tables import text_lines


def fold_layer(op, name, in_port, reuse_factor, header, memory=False):
    """(unit Module, stage text, layer dict) of one QDense op folded by `reuse_factor`, in the
    memory form (chisel/fold/memory.py) when `memory` and it has more than one step."""
    arguments = (op.weight_codes(), in_port, op.get_nodeattr("out_dtype"), op.get_nodeattr("requant"),
                 op.threshold_codes(), op.get_nodeattr("out_base"), reuse_factor, op.get_nodeattr("threshold_weights"))
    outputs = op.weight_codes().shape[0]
    rom = None
    if memory and fold_geometry(outputs, reuse_factor)[1] > 1:
        unit, code, units, steps, rows, rom = memory_unit_module(f"{name}_unit", *arguments)
    else:
        unit, code, units, steps, rows = unit_module(f"{name}_unit", *arguments)
    out = Port(outputs, code.bits, code.signed)
    unit_cost = cost(unit.lowered())
    order = slot_order(rows, units, outputs)
    stage = stage_verilog(name, unit.name, in_port.width, units * code.bits, out.width, steps,
                          None if order == list(range(outputs)) else (order, code.bits),
                          None if rom is None else (rom.width, rom.words(), rom.step_port))
    step_bits = step_counter_bits(steps)
    rom_width = rom.width if rom is not None else 0
    flip_flops = 2 + step_bits + in_port.width + (steps - 1) * units * code.bits + out.width + rom_width
    layer = {"name": name, "unit": unit.name, "op_type": "QDense", "node": op.onnx_node.name,
             "reuse_factor": int(reuse_factor), "units": units, "steps": steps, "rows": outputs,
             "inputs": in_port.elements, "inp": asdict(in_port), "out": asdict(out),
             "adders": unit_cost.adders, "levels": unit_cost.levels,
             "estimated_luts": unit_cost.luts + control_luts(steps, rom is not None), "flip_flops": flip_flops,
             "weight_form": "memory" if rom is not None else "constant", "rom_bits": rom.bits if rom else 0,
             "ii_cycles": steps, "latency_cycles": steps + 1}
    return unit, header + WAIVER + stage, layer


def generate_folded(ops, reuse_factors, output_dir, top="c4ml_top", source="QONNX", module_prefix="",
                    weight_memory=None):
    """Write the folded circuit of `ops` (QDense CustomOps, a chain in data-flow order) with
    `reuse_factors` (one per op) to `output_dir`, layer i in the memory form when
    weight_memory[i] (None: none); returns its description dict."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    header = HEADER.format(source=source)
    files, layers, stages = [], [], []
    in_port = port_for_dtype(ops[0].weight_codes().shape[1], ops[0].get_nodeattr("in_dtype"))
    first = in_port
    memory = [False] * len(ops) if weight_memory is None else list(weight_memory)
    for op, reuse_factor, in_memory in zip(ops, reuse_factors, memory):
        name = module_prefix + op.onnx_node.name
        if op.weight_codes().shape[1] != in_port.elements:
            raise UnsupportedModelError(f"QDense '{op.onnx_node.name}' reads {op.weight_codes().shape[1]} inputs, "
                                        f"but the layer before it produces {in_port.elements}")
        unit, stage, layer = fold_layer(op, name, in_port, reuse_factor, header, in_memory)
        for module_name, text in ((unit.name, header + WAIVER + unit.verilog()), (name, stage)):
            write_if_changed(output_dir / f"{module_name}.v", text)
            files.append(str(output_dir / f"{module_name}.v"))
        layer["file"] = str(output_dir / f"{name}.v")
        layers.append(layer)
        stages.append((name, in_port.width, layer["out"]["elements"] * layer["out"]["bits"]))
        in_port = Port(**layer["out"])
    if top in {layer["name"] for layer in layers} | {layer["unit"] for layer in layers}:
        raise UnsupportedModelError(f"top module name '{top}' collides with a layer name")
    write_if_changed(output_dir / f"{top}.v", header + chain_verilog(top, stages))
    files.append(str(output_dir / f"{top}.v"))
    description = {
        "style": "streaming", "folded": True, "top": top, "stream_top": top, "files": files,
        "in_shape": [first.elements, 1, 1], "in_index": None, "out_shape": [in_port.elements, 1, 1],
        "pixel_in": asdict(first), "pixel_out": asdict(in_port), "inp": asdict(first), "out": asdict(in_port),
        "ii_cycles": max(layer["steps"] for layer in layers),
        "latency_cycles": sum(layer["latency_cycles"] for layer in layers),
        "line_buffer_bits": 0, "stage_levels": None,
        "estimated_luts": sum(layer["estimated_luts"] for layer in layers),
        "flip_flops": sum(layer["flip_flops"] for layer in layers),
        "rom_bits": sum(layer["rom_bits"] for layer in layers),
        "layers": layers,
    }
    write_if_changed(output_dir / f"{top}.fold.json", json.dumps(description, indent=2, sort_keys=True))
    return description


def format_report(description):
    """Per layer: reuse factor, units, cycles, weight form (constant selects or memory: ROM
    bits), estimated LUTs and flip-flops, and which
    constraint chose R (`chosen_by`, set by the folded style: reuse_factor, target_ii,
    max_luts, max_luts+target_ii or fully folded); and the total."""
    rows = [("layer", "rows x inputs", "R", "chosen by", "units", "cycles", "weights", "adders", "est. LUTs", "FFs",
             "ROM bits")]
    for layer in description["layers"]:
        rows.append((layer["node"], f"{layer['rows']}x{layer['inputs']}", str(layer["reuse_factor"]),
                     layer.get("chosen_by", "reuse_factor"), str(layer["units"]), str(layer["steps"]),
                     layer.get("weight_form", "constant"), str(layer["adders"]), str(layer["estimated_luts"]),
                     str(layer["flip_flops"]), str(layer.get("rom_bits", 0))))
    rows.append(("total (ii, latency)", "", "", "", "", f"{description['ii_cycles']}, {description['latency_cycles']}",
                 "", "", str(description["estimated_luts"]), str(description["flip_flops"]),
                 str(description.get("rom_bits", 0))))
    return "\n".join(text_lines(rows)) + "\n"
