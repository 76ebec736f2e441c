"""The folded style of GenerateChiselCircuit: every layer a QDense, each computing its M
outputs over S = ceil(M / ceil(M / R)) <= R cycles with ceil(M / R) constant-weight units
(chisel/fold/).  The circuit is recorded as a streaming circuit whose frame is one vector,
so RTLSim, the stream harness and `Circuit.package`'s streaming testbench run it unchanged.
"""
from pathlib import Path

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.chisel.fold.choose import reuse_for_target
from qonnx_c4ml.chisel.fold.datapath import estimate_folded_operators
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import CircuitDescription, LayerCircuit, Port
from qonnx_c4ml.metadata import record_circuit


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


def apply_folded(transformation, model, nodes, circuit_input):
    """Generate the folded circuit for `transformation` (a GenerateChiselCircuit with
    style 'folded') and record it; returns the model."""
    from qonnx_c4ml.chisel.fold.generate import generate_folded

    if transformation.pipeline != "none":
        raise UnsupportedModelError("the folded style registers its own stages; pipeline must be 'none' with it",
                                    hint="use style='parallel' to pipeline a fully parallel circuit")
    check_dense_chain(nodes, circuit_input)
    if transformation.target_ii is not None:  # FINN SetFolding-like: every layer within the target
        factors = reuse_for_target([getCustomOp(n).weight_codes().shape[0] for n in nodes], transformation.target_ii)
    else:
        factors = reuse_factors(nodes, transformation.reuse_factor)
    transformation.check_operators(estimate(nodes, factors), "folded circuit")
    ops = [getCustomOp(node) for node in nodes]
    stream = generate_folded(ops, factors, transformation.output_dir, transformation.top,
                             model.graph.name or "a QONNX model", transformation.module_prefix)
    layers = []
    for node, op, layer in zip(nodes, ops, stream["layers"]):
        op.set_nodeattr("verilog_module", layer["name"])
        op.set_nodeattr("verilog_file", layer["file"])
        op.set_nodeattr("circuit_style", "folded")
        inp = Port(**layer["inp"])
        layers.append(LayerCircuit(layer["name"], Path(layer["file"]).name, inp, Port(**layer["out"]), layer["adders"],
                                   layer["latency_cycles"], layer["levels"], "QDense", list(node.input),
                                   node.output[0], [inp]))
    files = [Path(f).name for f in stream["files"]]
    stream = {**stream, "files": files, "layers": [{**layer, "file": Path(layer["file"]).name}
                                                   for layer in stream["layers"]]}
    description = CircuitDescription(transformation.top, "none", stream["latency_cycles"], Port(**stream["inp"]),
                                     Port(**stream["out"]), layers, files, "", "streaming", stream)
    record_circuit(model, description, transformation.output_dir)
    return model
