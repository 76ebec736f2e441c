"""The folded style of GenerateChiselCircuit: every dense layer (QDense) computes its M
outputs over S = ceil(M / ceil(M / R)) <= R cycles with ceil(M / R) constant-weight units
(chisel/fold/); a leading conv/pool chain streams one pixel per cycle (chisel/stream/) into
the first folded stage, each QConv2D of it computing its O output channels over
S = ceil(O / ceil(O / R)) cycles per window (chisel/fold/conv.py; R = 1: the fully parallel
window engine; an int reuse_factor folds the convs and the dense layers, a dict may name
either).  The circuit is recorded as a streaming circuit whose frame is one vector,
so RTLSim, the stream harness and `Circuit.package`'s streaming testbench run it unchanged.
"""
from pathlib import Path

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.chisel.fold.choose import reuse_for_target
from qonnx_c4ml.chisel.fold.conv import estimate_front_operators
from qonnx_c4ml.chisel.fold.datapath import estimate_folded_operators
from qonnx_c4ml.chisel.stream.residual import join_operators
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import CircuitDescription, LayerCircuit, Port
from qonnx_c4ml.metadata import record_circuit
from qonnx_c4ml.output_dir import write_if_changed
from qonnx_c4ml.transformations.stream_front import front_nodes, front_ops, front_output


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


def front_reuse_factors(front, rest, reuse_factor):
    """(front factors, one per node of stream_front.front_nodes(front); dense factors): an int
    folds every QConv2D (residual branches too) and QDense layer (QMaxPool2D and a residual
    block's QAdd stay 1); a dict {node name: R} may name the front's QConv2D nodes and the
    dense ones."""
    nodes = front_nodes(front)
    factors = reuse_factors(nodes + rest, reuse_factor)
    front_factors = factors[:len(nodes)]
    for k, node in enumerate(nodes):
        if node.op_type in ("QMaxPool2D", "QAdd"):
            if isinstance(reuse_factor, dict) and front_factors[k] != 1:
                what = "pooling layers" if node.op_type == "QMaxPool2D" else "residual joins"
                raise UnsupportedModelError(f"reuse_factor {front_factors[k]} for {node.op_type} '{node.name}': {what} "
                                            "do not fold", hint="name QConv2D and QDense layers only")
            front_factors[k] = 1
    return front_factors, factors[len(nodes):]


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
    from qonnx_c4ml.chisel.fold.generate import generate_folded
    from qonnx_c4ml.chisel.generator import HEADER
    from qonnx_c4ml.chisel.stream.generate import generate_streaming
    from qonnx_c4ml.chisel.stream.tops import chain_verilog

    if transformation.pipeline != "none":
        raise UnsupportedModelError("the folded style registers its own stages; pipeline must be 'none' with it",
                                    hint="use style='parallel' to pipeline a fully parallel circuit")
    check_dense_chain(rest, front_output(front) if front else circuit_input)
    if not rest:
        raise UnsupportedModelError("style='folded' found no dense layer to fold after the convolution/pool layers",
                                    hint="use style='streaming'")
    if transformation.target_ii is not None:  # FINN SetFolding-like: every layer within the target
        factors = reuse_for_target([getCustomOp(n).weight_codes().shape[0] for n in rest], transformation.target_ii)
        front_factors = [1] * len(front_nodes(front))
    else:
        front_factors, factors = front_reuse_factors(front, rest, transformation.reuse_factor)
    if any(factor > 1 for factor in front_factors):  # folded conv engines: the fold estimate on W'
        layers = [(getCustomOp(n), f) for n, f in zip(front_nodes(front), front_factors) if n.op_type != "QAdd"]
        front_estimate = (estimate_front_operators([op for op, _ in layers], [f for _, f in layers])
                          + sum(join_operators(getCustomOp(n)) for n in front_nodes(front) if n.op_type == "QAdd"))
    transformation.check_operators(front_estimate + estimate(rest, factors),
                                   "folded circuit" + (" (window engines + folded dense layers)" if front else ""))
    source = model.graph.name or "a QONNX model"
    top, prefix, out_dir = transformation.top, transformation.module_prefix, transformation.output_dir
    ops = [getCustomOp(node) for node in rest]
    tail = generate_folded(ops, factors, out_dir, f"{top}_folded" if front else top, source, prefix)
    stream, layers = dict(tail), []
    if front:
        head = generate_streaming(front_ops(front), out_dir, top=f"{prefix}{top}_front", source=source,
                                  reuse_factors={n.name: f for n, f in zip(front_nodes(front), front_factors)})
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
                  "estimated_luts": head["estimated_luts"] + tail["estimated_luts"], "flip_flops": tail["flip_flops"]}
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
