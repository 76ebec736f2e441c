"""The folded style of GenerateChiselCircuit: every dense layer (QDense) computes its M
outputs over S = ceil(M / ceil(M / R)) <= R cycles with ceil(M / R) constant-weight units
(chisel/fold/); a leading conv/pool chain streams one pixel per cycle (chisel/stream/) into
the first folded stage, each QConv2D of it computing its O output channels over
S = ceil(O / ceil(O / R)) cycles per window (chisel/fold/conv.py; R = 1: the fully parallel
window engine; an int reuse_factor folds the convs and the dense layers, a dict may name
either; target_ii and max_luts choose them: transformations/fold_choice.py).  The circuit
is recorded as a streaming circuit whose frame is one vector, so RTLSim, the stream harness
and `Circuit.package`'s streaming testbench run it unchanged.
"""
from pathlib import Path

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.chisel.fold.conv import estimate_front_operators
from qonnx_c4ml.chisel.fold.datapath import estimate_folded_operators
from qonnx_c4ml.chisel.fold.memory import InMemory, rom_bits_in_file
from qonnx_c4ml.chisel.stream.residual import join_operators
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import CircuitDescription, LayerCircuit, Port
from qonnx_c4ml.metadata import record_circuit
from qonnx_c4ml.output_dir import write_if_changed
from qonnx_c4ml.transformations.fold_choice import (
    calibrated, choose_reuse_factors, foldable_nodes, form_models, is_global_pool_node, lut_models, weight_forms)
from qonnx_c4ml.transformations.stream_front import front_nodes, front_ops, front_output


def check_dense_chain(nodes, circuit_input):
    """Refuse anything but a chain of QDense nodes, naming the first node that is not."""
    tensor = circuit_input
    for node in nodes:
        if node.op_type != "QDense":
            raise UnsupportedModelError(
                f"style='folded' folds dense layers only; {node.op_type} '{node.name}' is not one",
                hint="use style='parallel' or 'streaming' for networks with convolution, pool or add layers")
        if list(node.input) != [tensor]:
            raise UnsupportedModelError(f"style='folded' needs a chain of layers; QDense '{node.name}' does not read "
                                        "the output of the layer before it", hint="use style='parallel'")
        tensor = node.output[0]


def estimate(nodes, factors):
    """The folded circuit's estimated adders/comparators (what max_operators bounds)."""
    total = 0
    for node, factor in zip(nodes, factors):
        op = getCustomOp(node)
        total += estimate_folded_operators(op.weight_codes(), op.threshold_codes(), factor)
    return total


def front_estimate(front, front_factors):
    """The streaming front's estimated adders/comparators with its convs folded by
    `front_factors` (one per front node): the fold estimate on W' (chisel/fold/conv.py), a
    comparator per pool tap, a join's per-channel adder and comparators."""
    layers = [(getCustomOp(n), f) for n, f in zip(front_nodes(front), front_factors) if n.op_type != "QAdd"]
    return (estimate_front_operators([op for op, _ in layers], [f for _, f in layers])
            + sum(join_operators(getCustomOp(n)) for n in front_nodes(front) if n.op_type == "QAdd"))


def generate_within_budget(transformation, front, rest, source):
    """Choose the reuse factors (fold_choice.py) and generate the streaming front (if any) and
    the folded dense chain; with max_luts, when the generated circuit's estimated LUTs (the exact
    unit cost) come out above the budget that the chooser's model met, choose again above that
    II (the model errs by up to ~15 % either way on jets and LFC, so this is rare and bounded by
    the candidate IIs; each layer's model is scaled to its exact estimate first).  Returns
    (front description or None, tail description)."""
    from qonnx_c4ml.chisel.fold.generate import generate_folded
    from qonnx_c4ml.chisel.stream.engine import EngineCache
    from qonnx_c4ml.chisel.stream.generate import generate_streaming

    top, prefix, out_dir = transformation.top, transformation.module_prefix, transformation.output_dir
    ops = [getCustomOp(node) for node in rest]
    policy, nodes = getattr(transformation, "weight_memory", "auto"), foldable_nodes(front, rest)
    models = form_models(nodes, policy) if transformation.max_luts is not None or policy == "auto" else None
    layers = lut_models(nodes, models) if transformation.max_luts is not None else None
    min_ii, engine_cache = 1, EngineCache()  # a retry rebuilds only the engines whose R changed
    tail, tail_key = None, None  # and the dense chain only when its factors or forms changed
    while True:
        front_factors, factors, chosen_by = choose_reuse_factors(transformation, front, rest, layers, min_ii)
        transformation.check_operators((front_estimate(front, front_factors) if front else 0) + estimate(rest, factors),
                                       "folded circuit" + (" (window engines + folded dense layers)" if front else ""))
        chosen = dict(zip((n.name for n in front_nodes(front)), front_factors)) if front else {}
        chosen.update(zip((n.name for n in rest), factors))
        memory = weight_forms(nodes, chosen, policy, models)
        tail_forms = [memory[n.name] for n in rest]
        if (factors, tail_forms) != tail_key:
            tail, tail_key = generate_folded(ops, factors, out_dir, f"{top}_folded" if front else top, source, prefix,
                                             tail_forms), (list(factors), tail_forms)
        head = generate_streaming(front_ops(front), out_dir, top=f"{prefix}{top}_front", source=source,
                                  reuse_factors={n.name: InMemory(f) if memory.get(n.name) else f
                                                 for n, f in zip(front_nodes(front), front_factors)},
                                  engine_cache=engine_cache) if front else None
        if head:
            note_front_roms(head, [memory[n.name] for n in front_nodes(front)
                                   if n.op_type == "QConv2D" and not is_global_pool_node(n)])
        luts, ii = tail["estimated_luts"] + (head["estimated_luts"] if head else 0), max(
            tail["ii_cycles"], head["ii_cycles"] if head else 0)
        if transformation.max_luts is None or luts <= transformation.max_luts:
            break
        if transformation.target_ii is not None and ii >= transformation.target_ii:
            raise UnsupportedModelError(
                f"max_luts={transformation.max_luts}: the folded layers need {luts} estimated LUTs "
                f"at II {ii} (target_ii={transformation.target_ii})", hint="raise max_luts or target_ii")
        min_ii = ii + 1
        rows = folded_rows(head, tail)
        chosen = [f for n, f in zip(front_nodes(front), front_factors)
                  if n.op_type == "QConv2D" and not is_global_pool_node(n)] + factors
        layers = [calibrated(layer, r, row["estimated_luts"]) for layer, r, row in zip(layers, chosen, rows)]
    for row, node in zip(folded_rows(head, tail), foldable_nodes(front, rest)):
        row["chosen_by"] = chosen_by[node.name]
    return head, tail


def note_front_roms(head, memory):
    """Record in the front's description each folding QConv2D row's weight form (`memory`: one bool
    per QConv2D that is not a global pool, in front_nodes order) and ROM bits (read from its generated file: the streaming
    generator writes the rows from the layers' geometry), and the front's total ROM bits."""
    rows = [row for row in head["layers"] if row["op_type"] == "QConv2D" and not row["global_pool"]]
    for row, in_memory in zip(rows, memory):
        in_memory = in_memory and row["steps"] > 1
        row["weight_form"] = "memory" if in_memory else "constant"
        row["rom_bits"] = rom_bits_in_file(row["file"]) if in_memory else 0
    head["rom_bits"] = sum(row.get("rom_bits", 0) for row in head["layers"])


def folded_rows(head, tail):
    """The layer dicts of the foldable layers in fold_choice.foldable_nodes order: the front's
    QConv2D rows (generate_streaming writes them in front_nodes order), then the dense ones."""
    return [row for row in (head["layers"] if head else [])
            if row["op_type"] == "QConv2D" and not row["global_pool"]] + tail["layers"]


def front_layers(stream):
    """LayerCircuits of a streaming front's layers (the streaming and the folded style record them so)."""
    return [LayerCircuit(layer["name"], Path(layer["file"]).name, Port(**layer["inp"]), Port(**layer["out"]),
                         layer["adders"], layer["latency_cycles"], layer["engine_levels"], layer["op_type"], [], "", [])
            for layer in stream["layers"]]


def apply_folded(transformation, model, front, rest, circuit_input):
    """Generate the folded circuit for `transformation` (a GenerateChiselCircuit with style
    'folded'): the dense chain `rest` folded, behind the streaming front `front` (conv/pool
    chains and residual blocks) if there is one (its frame register feeds the first folded
    stage); records it and returns the model."""
    from qonnx_c4ml.chisel.generator import HEADER
    from qonnx_c4ml.chisel.stream.tops import chain_verilog

    if transformation.pipeline != "none":
        raise UnsupportedModelError("the folded style registers its own stages; pipeline must be 'none' with it",
                                    hint="use style='parallel' to pipeline a fully parallel circuit")
    check_dense_chain(rest, front_output(front) if front else circuit_input)
    if not rest:
        raise UnsupportedModelError("style='folded' found no dense layer to fold after the convolution/pool layers",
                                    hint="use style='streaming'")
    source = model.graph.name or "a QONNX model"
    top, out_dir = transformation.top, transformation.output_dir
    ops = [getCustomOp(node) for node in rest]
    head, tail = generate_within_budget(transformation, front, rest, source)
    stream, layers = dict(tail), []
    if front:
        if head["out"] != tail["inp"]:
            raise UnsupportedModelError(f"QDense '{rest[0].name}' reads {tail['inp']}, but the streaming layers before "
                                        f"it produce frames of {head['out']}")
        for node in front_nodes(front):
            getCustomOp(node).set_nodeattr("verilog_module", head["top"])
            getCustomOp(node).set_nodeattr("circuit_style", "streaming")
        text = chain_verilog(top, [(head["top"], head["pixel_in"]["elements"] * head["pixel_in"]["bits"],
                                         Port(**head["out"]).width), (tail["top"], Port(**tail["inp"]).width,
                                                                      Port(**tail["out"]).width)])
        write_if_changed(Path(out_dir) / f"{top}.v", HEADER.format(source=source) + text)
        stream = {**head, "folded": True, "files": head["files"] + tail["files"] + [str(Path(out_dir) / f"{top}.v")],
                  "out_shape": tail["out_shape"], "out": tail["out"], "pixel_out": tail["out"],
                  "ii_cycles": max(head["ii_cycles"], tail["ii_cycles"]),
                  "latency_cycles": head["latency_cycles"] + tail["latency_cycles"],
                  "estimated_luts": head["estimated_luts"] + tail["estimated_luts"],
                  "engine_luts": head["engine_luts"] + tail["estimated_luts"],
                  "flip_flops": head["flip_flops"] + tail["flip_flops"], "rom_bits": head["rom_bits"] + tail["rom_bits"]}
        layers = front_layers(head)
    for node, op, layer in zip(rest, ops, tail["layers"]):
        op.set_nodeattr("verilog_module", layer["name"])
        op.set_nodeattr("verilog_file", layer["file"])
        op.set_nodeattr("circuit_style", "folded")
        inp = Port(**layer["inp"])
        layers.append(LayerCircuit(layer["name"], Path(layer["file"]).name, inp, Port(**layer["out"]), layer["adders"],
                                   layer["latency_cycles"], layer["levels"], "QDense", list(node.input),
                                   node.output[0], [inp]))
    files = [Path(f).name for f in stream["files"]]
    stream = {**stream, "top": top, "stream_top": top, "files": files,
              "layers": [{**layer, "file": Path(layer["file"]).name} for layer in stream["layers"]] if front else [],
              "folded_layers": [{**layer, "file": Path(layer["file"]).name} for layer in tail["layers"]]}
    description = CircuitDescription(top, "none", stream["latency_cycles"], Port(**stream["inp"]),
                                     Port(**stream["out"]), layers, files, "", "streaming", stream)
    record_circuit(model, description, out_dir)
    return model
