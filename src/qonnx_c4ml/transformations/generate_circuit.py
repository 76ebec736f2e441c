"""GenerateChiselCircuit: Verilog for the LBIR layers of a model.

Matches the LBIR layer nodes InferLBIR produced (QDense, QConv2D, QMaxPool2D, QAdd: a graph
with one input and one output tensor, e.g. a residual block) and writes one Verilog module
per node plus the top module (and a registered wrapper) into `output_dir`.  A layer is fully
parallel (each output element of a convolution its own logic, weights constants) or, for the
leading conv/pool chain with style "streaming"/"auto", one pixel per cycle (chisel/stream/).
It leaves the graph's computation untouched; it records
- on each LBIR node: `verilog_module`, `verilog_file`, `circuit_style` (the style chosen for
  it, FINN-style: the node says how it is implemented);
- in the model metadata (qonnx_c4ml.metadata): the CircuitDescription and the Verilog directory.
"""
from pathlib import Path

import numpy as np

from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation

from qonnx_c4ml.chisel.arith import csd_digits
from qonnx_c4ml.chisel.fold.choose import check_positive
from qonnx_c4ml.chisel.generator import (
    HEADER,
    WAIVER,
    check_pipeline,
    count_adders,
    linear_module,
    max_pool_module,
    output_ranges,
    port_for_dtype,
    registered_wrapper,
    top_module,
)
from qonnx_c4ml.chisel.stream.residual import join_operators
from qonnx_c4ml.chisel.stream.tops import streaming_top
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import CircuitDescription, LayerCircuit, Port
from qonnx_c4ml.lbir.graph import lbir_graph, lbir_submodel
from qonnx_c4ml.metadata import circuit_description, record_circuit
from qonnx_c4ml.output_dir import write_if_changed
from qonnx_c4ml.transformations.generate_folded import apply_folded, front_layers
from qonnx_c4ml.transformations.stream_front import (
    STREAM_OPS, front_nodes, front_ops, front_output, streaming_front, streaming_refusal)

DEFAULT_MAX_OPERATORS = 500_000  # ~ what Verilator and yosys handle on a 2-core machine
# style="folded" without reuse_factor/target_ii/max_luts: this many estimated LUTs (an Artix-7
# 200T/Kintex-7 325T-class device's worth of logic, issue 13's "default target")
DEFAULT_MAX_LUTS = 300_000
STYLES = ("parallel", "streaming", "auto", "folded")
WEIGHT_MEMORY = ("auto", "always", "never")  # the folded style's weight forms (chisel/fold/memory.py)
# style="auto" streams the conv/pool front once its fully parallel form would multiply more
# than this many (input, weight) taps (the 28x28 MNIST CNN's front: ~59k, a 78 s Verilator
# build and 74k images/s simulated fully parallel, against 3.8 s streaming)
AUTO_STREAMING_TAPS = 20_000


def window_taps(op):
    """(input, weight) products a fully parallel conv/pool layer computes per frame."""
    if op.onnx_node.op_type == "QMaxPool2D":
        return sum(len(window) for window in op.windows())
    weights = op.weight_codes()
    return int(np.prod(op.out_shape()[1:])) * int(np.count_nonzero(weights))


def connections_of(op, in_ports):
    """Sparse rows [(input element, weight), ...] of a linear LBIR op over its concatenated inputs."""
    kind = op.onnx_node.op_type
    if kind == "QDense":
        weights = op.weight_codes()
        return [[(int(k), int(row[k])) for k in np.flatnonzero(row)] for row in weights]
    if kind == "QConv2D":
        return op.connections()
    return op.connections(in_ports[0].elements)  # QAdd


def estimate_stream_operators(op):
    """Upper estimate of the adders and comparators of a streaming layer's one window engine
    (it computes one output pixel per cycle: every weight once, not once per output pixel)."""
    if op.onnx_node.op_type == "QMaxPool2D":
        kh, kw = op.geometry()[1]
        return int(op.geometry()[0][0]) * kh * kw
    weights = op.weight_codes()
    if op.onnx_node.op_type == "QAdd":  # a residual join: one adder and one threshold row per channel
        return join_operators(op)
    nonzero = weights[weights != 0]
    digits = sum(len(csd_digits(int(v))) for v in np.unique(np.abs(nonzero))) * int(weights.shape[1])
    return int(nonzero.size + digits + op.threshold_codes().size)


def estimate_operators(op):
    """Upper estimate of a layer's adders and comparators, from its attributes alone: one
    adder per non-zero weight use plus canonical-signed-digit extras, one comparator per
    threshold and output (the generator often needs far fewer)."""
    kind = op.onnx_node.op_type
    if kind == "QMaxPool2D":
        return sum(len(window) for window in op.windows())
    weights = op.weight_codes()
    nonzero = weights[weights != 0]
    thresholds = op.threshold_codes()
    if kind == "QDense":
        digits = sum(len(csd_digits(int(v))) for v in np.unique(np.abs(nonzero))) * weights.shape[1]
        return int(nonzero.size + digits + thresholds.size)
    if kind == "QConv2D":
        outputs = int(np.prod(op.out_shape()))
        per_output = nonzero.size / max(1, weights.shape[0])
        digits = sum(len(csd_digits(int(v))) for v in np.unique(np.abs(nonzero))) * op.geometry()[0][0]
        return int(outputs * per_output + digits + outputs * thresholds.shape[-1])
    return int(2 * weights.shape[0] + thresholds.size)


class GenerateChiselCircuit(Transformation):
    """Write the circuit's Verilog to `output_dir` (see module doc)."""

    def __init__(self, output_dir, pipeline="none", top="c4ml_top", module_prefix="",
                 max_operators=DEFAULT_MAX_OPERATORS, style="auto", reuse_factor=None,
                 target_ii=None, max_luts=None, weight_memory="auto"):
        """`module_prefix` keeps module names unique when several circuits share a design;
        `max_operators` bounds the estimated adders/comparators before anything is generated.
        `style`: "parallel" (every layer fully parallel, one sample per cycle), "streaming"
        (the leading conv/pool layers stream one pixel per cycle through line buffers, the
        rest stays fully parallel after them) or "auto" (streaming when the conv/pool front
        would be large fully parallel and pipeline is "none") or "folded" (the streaming front's
        convolutions and the dense chain after it, each computing its outputs over
        `reuse_factor` cycles: an int for every layer or a dict {LBIR node name: R}, or chosen
        from `target_ii` cycles per frame and/or `max_luts`, a budget of estimated LUTs (the
        smallest II that fits; with none of the three, max_luts=DEFAULT_MAX_LUTS):
        transformations/fold_choice.py, chisel/fold/choose.py).  `weight_memory` (folded):
        "auto" puts a folded layer's weights in a ROM (chisel/fold/memory.py) when that form's
        estimated LUTs are smaller, "always" whenever it has more than one step, "never" keeps
        every weight a constant of the logic."""
        super().__init__()
        if style not in STYLES:
            raise UnsupportedModelError(f"style={style!r} is not one of {', '.join(STYLES)}")
        for option, value, defaults in (("reuse_factor", reuse_factor, (None, 1)), ("target_ii", target_ii, (None,)),
                                        ("max_luts", max_luts, (None,))):
            if style != "folded" and value not in defaults:
                raise UnsupportedModelError(f"{option}={value!r} applies to style='folded' only, not {style!r}",
                                            hint="pass style='folded' (--style folded) with it")
        if reuse_factor is not None and (target_ii is not None or max_luts is not None):
            raise UnsupportedModelError("give reuse_factor or target_ii/max_luts, not both",
                                        hint="target_ii and max_luts choose every layer's reuse factor")
        for option, value in (("target_ii", target_ii), ("max_luts", max_luts)):
            if value is not None:
                check_positive(option, value)
        if weight_memory not in WEIGHT_MEMORY:
            raise UnsupportedModelError(f"weight_memory={weight_memory!r} is not one of {', '.join(WEIGHT_MEMORY)}")
        if style != "folded" and weight_memory != "auto":
            raise UnsupportedModelError(f"weight_memory={weight_memory!r} applies to style='folded' only, not {style!r}",
                                        hint="pass style='folded' (--style folded) with it")
        self.weight_memory = weight_memory
        self.style = style
        self.pipeline = check_pipeline(pipeline)
        self.max_operators = max_operators
        self.output_dir = Path(output_dir)
        self.top = top
        self.module_prefix = module_prefix
        if style == "folded" and reuse_factor is None and target_ii is None and max_luts is None:
            max_luts = DEFAULT_MAX_LUTS  # the default target: the fastest circuit that fits, folded as far as it is free
        self.reuse_factor = 1 if reuse_factor is None else reuse_factor
        self.target_ii = target_ii
        self.max_luts = max_luts

    def apply(self, model):
        nodes, circuit_input, circuit_output = lbir_graph(model)
        if self.style == "folded":  # a leading conv/pool chain streams, the dense layers after it fold
            front, rest = streaming_front(nodes, circuit_input)
            return apply_folded(self, model, front, rest, circuit_input), False
        front, rest = streaming_front(nodes, circuit_input)
        taps = sum(window_taps(getCustomOp(node)) for node in front_nodes(front) if node.op_type in STREAM_OPS)
        streaming = bool(front) and (self.style == "streaming" or (
            self.style == "auto" and self.pipeline == "none" and taps > AUTO_STREAMING_TAPS))
        if self.style == "streaming" and not front:
            raise streaming_refusal(nodes, circuit_input)
        if streaming:  # the whole circuit, front and tail, is checked before anything is generated
            estimate = (sum(estimate_stream_operators(getCustomOp(node)) for node in front_nodes(front))
                        + sum(estimate_operators(getCustomOp(node)) for node in rest))
            self.check_operators(estimate, "streaming circuit (window engines + parallel tail)")
            return self.apply_streaming(model, front, rest, circuit_output)
        self.check_operators(sum(estimate_operators(getCustomOp(node)) for node in nodes), "fully parallel circuit")
        self.output_dir.mkdir(parents=True, exist_ok=True)
        source = model.graph.name or "a QONNX model"
        layers, files, ports = [], [], {}
        ranges = {}  # tensor -> exact per-element code ranges of the layer that computes it
        stage_levels = int(self.pipeline) if self.pipeline.isdigit() else None
        for node in nodes:
            op = getCustomOp(node)
            in_ports = [ports.get(name) for name in node.input]
            for i, name in enumerate(node.input):
                if in_ports[i] is None:  # the circuit input (any operand of a QAdd may be it)
                    dtype = op.get_nodeattr("in_dtype" if i == 0 else "in_dtype_b")
                    in_ports[i] = port_for_dtype(int(np.prod(model.get_tensor_shape(name)[1:])), dtype)
            name = self.module_prefix + node.name
            if node.op_type == "QMaxPool2D":
                module, inp, out, layer_latency, levels = max_pool_module(name, in_ports[0], op.windows(), stage_levels)
            else:
                channel_of = op.channel_of_outputs() if node.op_type != "QDense" else np.arange(op.weight_codes().shape[0])
                module, inp, out, layer_latency, levels = linear_module(
                    name, in_ports, connections_of(op, in_ports), op.get_nodeattr("out_dtype"),
                    op.get_nodeattr("requant"), op.threshold_codes(), channel_of, op.get_nodeattr("out_base"),
                    stage_levels, op.get_nodeattr("threshold_weights"),
                    [r for t, p in zip(node.input, in_ports) for r in ranges.get(t, [None] * p.elements)])
                ranges[node.output[0]] = output_ranges(module)
            ports[node.output[0]] = out
            file = f"{module.name}.v"
            write_if_changed(self.output_dir / file, WAIVER + module.verilog(HEADER.format(source=source)))
            op.set_nodeattr("verilog_module", module.name)
            op.set_nodeattr("circuit_style", "parallel")
            op.set_nodeattr("verilog_file", str(self.output_dir / file))
            layers.append(LayerCircuit(module.name, file, inp, out, count_adders(module), layer_latency, levels,
                                       node.op_type, list(node.input), node.output[0], in_ports))
            files.append(file)
        if self.top in {layer.name for layer in layers}:
            raise UnsupportedModelError(f"top module name '{self.top}' collides with a layer name")
        inp = layers[0].inp
        top_text, latency = top_module(self.top, layers, self.pipeline, circuit_input, circuit_output, inp)
        out = ports[circuit_output]
        top_file = f"{self.top}.v"
        write_if_changed(self.output_dir / top_file, HEADER.format(source=source) + top_text)
        files.append(top_file)
        wrapper_file = f"{self.top}_registered.v"
        write_if_changed(self.output_dir / wrapper_file, HEADER.format(source=source) + registered_wrapper(
            self.top, inp, out, latency))
        description = CircuitDescription(self.top, self.pipeline, latency, inp, out, layers, files, wrapper_file)
        record_circuit(model, description, self.output_dir)
        return model, False

    def check_operators(self, estimate, what):
        """Refuse before generating anything when the estimate exceeds `max_operators`."""
        if estimate > self.max_operators:
            raise UnsupportedModelError(
                f"the {what} would need about {estimate:,} adders/comparators, "
                f"above the limit of {self.max_operators:,}",
                hint="prune or quantize the model further, or raise the limit "
                "(--max-operators / GenerateChiselCircuit(max_operators=...))")

    def apply_streaming(self, model, front, rest, circuit_output):
        """Streaming conv/pool front + fully parallel (combinational) tail behind its frame register."""
        from qonnx_c4ml.chisel.stream.generate import generate_streaming

        if self.pipeline != "none":
            raise UnsupportedModelError(
                "the streaming style pipelines its own layers; pipeline must be 'none' with it",
                hint="use style='parallel' to pipeline a fully parallel circuit")
        source = model.graph.name or "a QONNX model"
        stream = generate_streaming(front_ops(front), self.output_dir,
                                    top=f"{self.module_prefix}{self.top}_front", source=source)
        files = [Path(f).name for f in stream["files"]]
        for node in front_nodes(front):
            getCustomOp(node).set_nodeattr("verilog_module", stream["top"])
            getCustomOp(node).set_nodeattr("circuit_style", "streaming")
        tail_top, out, layers = "", Port(**stream["out"]), []
        if rest:  # the tail's layers are generated as a parallel circuit of their own
            tail = GenerateChiselCircuit(self.output_dir, "none", f"{self.top}_tail", self.module_prefix,
                                         self.max_operators, "parallel")
            sub = lbir_submodel(model, rest, front_output(front), circuit_output)
            tail.apply(sub)
            tail_description = circuit_description(sub)
            for node in rest:  # carry the Verilog paths back to the model's nodes
                done = next(n for n in sub.graph.node if n.name == node.name)
                for attr in ("verilog_module", "verilog_file", "circuit_style"):
                    getCustomOp(node).set_nodeattr(attr, getCustomOp(done).get_nodeattr(attr))
            files += [f for f in tail_description.files]
            tail_top, out, layers = tail_description.top, tail_description.out, tail_description.layers
        top_file = f"{self.top}.v"
        write_if_changed(self.output_dir / top_file,
                         HEADER.format(source=source) + streaming_top(self.top, stream, tail_top, out))
        files.append(top_file)
        stream_layers = front_layers(stream)
        stream = {**stream, "files": [Path(f).name for f in stream["files"]], "top": self.top,
                  "front_top": stream["top"], "out": {"elements": out.elements, "bits": out.bits,
                                                      "signed": out.signed}}
        description = CircuitDescription(self.top, "none", stream["latency_cycles"], Port(**stream["inp"]), out,
                                         stream_layers + layers, files, "", "streaming", stream)
        record_circuit(model, description, self.output_dir)
        return model, False
