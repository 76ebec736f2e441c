"""generate_streaming: the streaming circuit of a QConv2D/QMaxPool2D chain, written to files;
format_report: its numbers as a text table."""
import json
from dataclasses import asdict
from pathlib import Path

from qonnx_c4ml.chisel.generator import HEADER, WAIVER
from qonnx_c4ml.chisel.stream.engine import engine_module, engine_verilog
from qonnx_c4ml.chisel.stream.geometry import layer_geometry
from qonnx_c4ml.chisel.stream.layer_verilog import stream_layer_verilog
from qonnx_c4ml.chisel.stream.schedule import rate_bound, size_line_buffers
from qonnx_c4ml.chisel.stream.tops import frame_top_verilog, stream_top_verilog
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import Port
from qonnx_c4ml.tables import text_lines

# generator.WAIVER's reasons hold for the engines; in the stream control, address arithmetic
# mixes signed row/column counters with unsigned slots by Verilog's width rules (WIDTH), and
# only the low bits of row counters address slots (UNUSEDSIGNAL).
STREAM_WAIVER = WAIVER


def stream_reuse_factors(ops, reuse_factors):
    """One reuse factor per op (None: all 1); refuses a wrong count."""
    if reuse_factors is None:
        return [1] * len(ops)
    reuse_factors = list(reuse_factors)
    if len(reuse_factors) != len(ops):
        raise UnsupportedModelError(f"{len(reuse_factors)} reuse factors for {len(ops)} streaming layers",
                                    hint="give one per layer (1 for QMaxPool2D)")
    return reuse_factors


def build_stream_layers(ops, stage_levels=None, reuse_factors=None):
    """(layers, engine modules) for a chain of QConv2D/QMaxPool2D ops in data-flow order,
    QConv2D engines folded by `reuse_factors` (one per op, None: all 1)."""
    layers, engines, taken = [], [], set()
    for k, (op, reuse_factor) in enumerate(zip(ops, stream_reuse_factors(ops, reuse_factors))):
        layer = layer_geometry(op)
        base = layer.name
        n = 1
        while layer.name in taken:
            n += 1
            layer.name = f"{base}_{n}"
        taken.add(layer.name)
        if layers:
            prev = layers[-1]
            if prev.out_shape != layer.in_shape or prev.out != layer.inp:
                raise UnsupportedModelError(
                    f"{layer.name} expects {layer.in_shape} pixels of {layer.inp}, but {prev.name} produces "
                    f"{prev.out_shape} of {prev.out}")
        in_index = [int(i) for i in op.get_nodeattr("in_index")] if "in_index" in op.get_nodeattr_types() else []
        if layers and in_index and in_index != list(range(len(in_index))):
            # a stream carries whole pixels; only the host can reorder before the first layer
            raise UnsupportedModelError(
                f"{layer.name}: reads its input through an in_index gather; the streaming style supports "
                "that on the first layer only (the host reorders the frame)")
        engines.append(engine_module(layer, op, stage_levels, reuse_factor))
        layers.append(layer)
    return layers, engines


def first_layer_gather(ops):
    """The first op's in_index (where image element (c, h, w) sits in the input codes), or None."""
    op = ops[0]
    if "in_index" not in op.get_nodeattr_types():
        return None
    in_index = [int(i) for i in op.get_nodeattr("in_index")]
    return in_index if in_index and in_index != list(range(len(in_index))) else None


def generate_streaming(ops, output_dir, top="c4ml_top", stage_levels=None, source="QONNX", reuse_factors=None):
    """Write the streaming circuit of `ops` (QConv2D / QMaxPool2D CustomOps in data-flow order)
    to `output_dir`, each QConv2D's engine folded by its entry of `reuse_factors` (None: all 1,
    the fully parallel engines; 1 for every QMaxPool2D).  Returns a description dict: files,
    top, stream_top, input pixel Port and frame output Port (as dicts), ii_cycles,
    latency_cycles, line_buffer_bits, estimated_luts (of the engines), per-layer stats
    (reuse_factor, units, steps, estimated_luts, adders among them).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    layers, engines = build_stream_layers(ops, stage_levels, reuse_factors)
    schedule = size_line_buffers(layers)  # before the Verilog: it sets the rows
    for layer, layer_latency in zip(layers, schedule.layer_latencies):
        layer.latency_cycles = layer_latency
    header = HEADER.format(source=source) + STREAM_WAIVER
    files = []
    stream_name = f"{top}_stream"
    texts = []  # one module per file, named after it
    for layer, engine in zip(layers, engines):
        texts.append((engine.name, engine_verilog(layer, engine, header)))
        texts.append((layer.name, header + stream_layer_verilog(layer)))
        layer.file = str(output_dir / f"{layer.name}.v")
    texts.append((stream_name, header + stream_top_verilog(stream_name, layers)))
    texts.append((top, header + frame_top_verilog(top, stream_name, layers)))
    for name, text in texts:
        path = output_dir / f"{name}.v"
        path.write_text(text, encoding="utf-8")
        files.append(str(path))
    last = layers[-1]
    channels, oh, ow = last.out_shape
    description = {
        "style": "streaming",
        "top": top,
        "stream_top": stream_name,
        "files": files,
        "in_shape": layers[0].in_shape,
        "in_index": first_layer_gather(ops),  # the host gathers frames through it (channels-last inputs)
        "out_shape": last.out_shape,
        "pixel_in": asdict(layers[0].inp),
        "pixel_out": asdict(last.out),
        "inp": asdict(Port(layers[0].in_shape[0] * layers[0].in_shape[1] * layers[0].in_shape[2],
                           layers[0].inp.bits, layers[0].inp.signed)),
        "out": asdict(Port(channels * oh * ow, last.out.bits, last.out.signed)),
        "ii_cycles": schedule.ii,
        "ii_bound_cycles": rate_bound(layers),
        "latency_cycles": schedule.latency,
        "modelled_input_stalls": schedule.input_stalls,
        "line_buffer_bits": sum(layer.line_buffer_bits for layer in layers),
        "estimated_luts": sum(layer.estimated_luts for layer in layers),
        "stage_levels": stage_levels,
        "layers": [{**asdict(layer), "pixel_latency": layer.pixel_latency} for layer in layers],
    }
    (output_dir / f"{top}.stream.json").write_text(json.dumps(description, indent=2, sort_keys=True),
                                                   encoding="utf-8")
    return description


def format_report(description):
    """The per-layer and total numbers of a streaming description as a text table."""
    rows = [("layer", "op", "in CxHxW", "out CxHxW", "kernel", "strides", "pads t,l,b,r", "lb rows",
             "lb bits", "ii", "latency", "adders", "R", "steps", "est. LUTs")]
    for layer in description["layers"]:
        rows.append((layer["name"], layer["op_type"], "x".join(map(str, layer["in_shape"])),
                     "x".join(map(str, layer["out_shape"])), "x".join(map(str, layer["kernel"])),
                     ",".join(map(str, layer["strides"])), ",".join(map(str, layer["pads"])),
                     str(layer["line_buffer_rows"]), str(layer["line_buffer_bits"]), str(layer["ii_cycles"]),
                     str(layer["latency_cycles"]), str(layer["adders"]), str(layer["reuse_factor"]),
                     str(layer["steps"]), str(layer["estimated_luts"])))
    rows.append(("total", "", "", "", "", "", "", "", str(description["line_buffer_bits"]),
                 str(description["ii_cycles"]), str(description["latency_cycles"]), "", "", "",
                 str(description["estimated_luts"])))
    return "\n".join(text_lines(rows)) + ("\nii and latency in cycles (latency: first input pixel to the frame's out_valid "
                               "for the total, a layer's first input to its last output pixel per layer; R: reuse factor, "
                               "steps: cycles per output pixel; est. LUTs: of the window engines)\n")
