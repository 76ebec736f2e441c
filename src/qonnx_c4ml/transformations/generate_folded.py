"""The folded style of GenerateChiselCircuit: every dense layer (QDense) computes its M
outputs over S = ceil(M / ceil(M / R)) <= R cycles with ceil(M / R) constant-weight units
(chisel/fold/); a leading conv/pool chain streams one pixel per cycle (chisel/stream/) into
the first folded stage.  The circuit is recorded as a streaming circuit whose frame is one vector,
so RTLSim, the stream harness and `Circuit.package`'s streaming testbench run it unchanged.
"""
import math
from pathlib import Path

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.chisel.fold.choose import FoldableLayer, choose_folding, dense_layer, reuse_for_target
from qonnx_c4ml.chisel.fold.datapath import estimate_folded_operators
from qonnx_c4ml.chisel.fold.estimate import DenseLutModel
from qonnx_c4ml.chisel.generator import port_for_dtype
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import CircuitDescription, LayerCircuit, Port
from qonnx_c4ml.metadata import record_circuit
from qonnx_c4ml.output_dir import write_if_changed


def reuse_factors(nodes, reuse_factor):
    """One reuse factor per node from an int (every layer) or a dict {node name: R} (the
    others 1); refuses unknown names and values below 1."""
    names = [node.name for node in nodes]
    if isinstance(reuse_factor, dict):
        unknown = sorted(set(reuse_factor) - set(names))
        if unknown:
            raise UnsupportedModelError(f"reuse_factor names {', '.join(unknown)}, which are not LBIR layers of "
                                        "this circuit", hint=f"the layers are {', '.join(names)}")
        factors = [reuse_factor.get(name, 1) for name in names]
    else:
        factors = [reuse_factor] * len(names)
    for name, factor in zip(names, factors):
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise UnsupportedModelError(f"reuse_factor {factor!r} for layer '{name}' is not an integer >= 1")
    return factors


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


def lut_models(nodes):
    """The chooser's FoldableLayers of the dense chain `nodes`, LUTs from chisel/fold/estimate.py's model."""
    layers = []
    for node in nodes:
        op = getCustomOp(node)
        weights = op.weight_codes()
        lo, hi = port_for_dtype(weights.shape[1], op.get_nodeattr("in_dtype")).code_range
        thresholds = op.threshold_codes() if op.get_nodeattr("requant") == "thresholds" else ()
        layers.append(dense_layer(node.name, weights.shape[0], DenseLutModel(weights, lo, hi, thresholds).luts))
    return layers


def calibrated(layer, reuse_factor, exact_luts):
    """`layer` with its LUT model scaled to meet the exact estimate `exact_luts` at `reuse_factor`
    (the model's error changes slowly with R, so the next choice lands closer)."""
    ratio = exact_luts / max(1, layer.luts(reuse_factor))
    model = layer.luts
    return FoldableLayer(layer.name, layer.max_reuse, layer.cycles, lambda r: math.ceil(model(r) * ratio))


def choose_reuse_factors(transformation, nodes, layers=None, min_ii=1):
    """(reuse factors, which constraint chose each) of the dense chain `nodes`: from
    max_luts and/or target_ii (chisel/fold/choose.py; `layers`: lut_models(nodes), budgets
    from `min_ii` cycles on) or the given reuse_factor."""
    if transformation.max_luts is not None:
        folding = choose_folding(layers or lut_models(nodes), transformation.target_ii, transformation.max_luts, min_ii)
        return folding.reuse_factors, folding.chosen_by
    if transformation.target_ii is not None:  # FINN SetFolding-like: every layer within the target
        outputs = [getCustomOp(n).weight_codes().shape[0] for n in nodes]
        factors = reuse_for_target(outputs, transformation.target_ii)
        return factors, ["target_ii" if r < m else "fully folded" for r, m in zip(factors, outputs)]
    return reuse_factors(nodes, transformation.reuse_factor), ["reuse_factor"] * len(nodes)


def generate_within_budget(transformation, rest, ops, top, source, front_estimate, front):
    """Choose the reuse factors and generate the folded chain (chisel/fold/generate.py); with
    max_luts, when the generated circuit's estimated LUTs (the exact unit cost) come out above
    the budget that the chooser's model met, choose again above that II (the model errs by
    up to ~15 % either way on jets and LFC, so this is rare and bounded by the candidate IIs; each
    layer's model is scaled to the exact estimate first).  Returns the description."""
    from qonnx_c4ml.chisel.fold.generate import generate_folded

    layers = lut_models(rest) if transformation.max_luts is not None else None
    min_ii = 1
    while True:
        factors, chosen_by = choose_reuse_factors(transformation, rest, layers, min_ii)
        transformation.check_operators(front_estimate + estimate(rest, factors),
                                       "folded circuit" + (" (window engines + folded dense layers)" if front else ""))
        tail = generate_folded(ops, factors, transformation.output_dir, top, source, transformation.module_prefix)
        if transformation.max_luts is None or tail["estimated_luts"] <= transformation.max_luts:
            break
        if transformation.target_ii is not None and tail["ii_cycles"] >= transformation.target_ii:
            raise UnsupportedModelError(
                f"max_luts={transformation.max_luts}: the folded layers need {tail['estimated_luts']} estimated LUTs "
                f"at II {tail['ii_cycles']} (target_ii={transformation.target_ii})",
                hint="raise max_luts or target_ii")
        min_ii = tail["ii_cycles"] + 1
        layers = [calibrated(layer, r, real["estimated_luts"]) for layer, r, real in zip(layers, factors, tail["layers"])]
    for layer, reason in zip(tail["layers"], chosen_by):
        layer["chosen_by"] = reason
    return tail


def front_layers(stream):
    """LayerCircuits of a streaming front's layers (the streaming and the folded style record them so)."""
    return [LayerCircuit(layer["name"], Path(layer["file"]).name, Port(**layer["inp"]), Port(**layer["out"]),
                         layer["adders"], layer["latency_cycles"], layer["engine_levels"], layer["op_type"], [], "", [])
            for layer in stream["layers"]]


def apply_folded(transformation, model, front, rest, circuit_input, front_estimate=0):
    """Generate the folded circuit for `transformation` (a GenerateChiselCircuit with style
    'folded'): the dense chain `rest` folded, behind the streaming conv/pool chain `front`
    if there is one (its frame register feeds the first folded stage); records it and
    returns the model."""
    from qonnx_c4ml.chisel.generator import HEADER
    from qonnx_c4ml.chisel.stream.generate import generate_streaming
    from qonnx_c4ml.chisel.stream.tops import chain_verilog

    if transformation.pipeline != "none":
        raise UnsupportedModelError("the folded style registers its own stages; pipeline must be 'none' with it",
                                    hint="use style='parallel' to pipeline a fully parallel circuit")
    check_dense_chain(rest, front[-1].output[0] if front else circuit_input)
    if not rest:
        raise UnsupportedModelError("style='folded' found no dense layer to fold after the convolution/pool layers",
                                    hint="use style='streaming'")
    source = model.graph.name or "a QONNX model"
    top, prefix, out_dir = transformation.top, transformation.module_prefix, transformation.output_dir
    ops = [getCustomOp(node) for node in rest]
    tail = generate_within_budget(transformation, rest, ops, f"{top}_folded" if front else top, source,
                                  front_estimate, front)
    stream, layers = dict(tail), []
    if front:
        head = generate_streaming([getCustomOp(n) for n in front], out_dir, top=f"{prefix}{top}_front", source=source)
        if head["out"] != tail["inp"]:
            raise UnsupportedModelError(f"QDense '{rest[0].name}' reads {tail['inp']}, but the streaming layers before "
                                        f"it produce frames of {head['out']}")
        for node in front:
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
                  "estimated_luts": tail["estimated_luts"], "flip_flops": tail["flip_flops"]}
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
