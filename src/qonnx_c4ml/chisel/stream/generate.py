"""generate_streaming: the streaming circuit of a QConv2D/QMaxPool2D chain, written to files;
format_report: its numbers as a text table."""
import json
from dataclasses import asdict
from pathlib import Path

from qonnx_c4ml.chisel.generator import HEADER, WAIVER
from qonnx_c4ml.chisel.stream.engine import engine_module, engine_verilog
from qonnx_c4ml.chisel.stream.geometry import GlobalPoolLayer, layer_geometry
from qonnx_c4ml.chisel.stream.global_pool_verilog import global_pool_verilog
from qonnx_c4ml.chisel.stream.block_schedule import size_fifos
from qonnx_c4ml.chisel.stream.layer_verilog import stream_layer_verilog
from qonnx_c4ml.chisel.stream.registers import collector_flip_flops, stage_flip_flops
from qonnx_c4ml.chisel.stream.residual import ResidualBlock, ResidualOps, block_geometry
from qonnx_c4ml.chisel.stream.residual_verilog import block_verilog, fifo_verilog
from qonnx_c4ml.chisel.stream.schedule import rate_bound, size_line_buffers
from qonnx_c4ml.chisel.stream.tops import frame_top_verilog, stream_top_verilog
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import Port
from qonnx_c4ml.names import unique_name
from qonnx_c4ml.tables import text_lines

# generator.WAIVER's reasons hold for the engines; in the stream control, address arithmetic
# mixes signed row/column counters with unsigned slots by Verilog's width rules (WIDTH), and
# only the low bits of row counters address slots (UNUSEDSIGNAL).
STREAM_WAIVER = WAIVER


def stream_reuse_factors(ops, reuse_factors):
    """{node name: R} for the QConv2D engines: from a dict (names not in it: 1), or from a list
    with one R per op of a chain without residual blocks (None: all 1); refuses a wrong count."""
    if reuse_factors is None:
        return {}
    if isinstance(reuse_factors, dict):
        return dict(reuse_factors)
    reuse_factors = list(reuse_factors)
    if len(reuse_factors) != len(ops) or any(isinstance(op, ResidualOps) for op in ops):
        raise UnsupportedModelError(f"{len(reuse_factors)} reuse factors for {len(ops)} streaming layers",
                                    hint="give one per layer (1 for QMaxPool2D), or a dict {node name: R}")
    return {op.onnx_node.name: factor for op, factor in zip(ops, reuse_factors)}


def build_stream_layers(ops, stage_levels=None, reuse_factors=None, taken=None, at_input=True, engine_cache=None):
    """(stages, engine modules) for a chain of QConv2D/QMaxPool2D ops (and residual blocks:
    ResidualOps, whose stage is a ResidualBlock with its branches sized) in data-flow order,
    QConv2D engines folded by `reuse_factors` (stream_reuse_factors); `at_input`: the chain
    reads the circuit input (a branch inside a block does not); `taken`: the module names used
    so far; `engine_cache`: an engine.EngineCache to build the engines through (None: built anew)."""
    layers, engines, taken = [], [], set() if taken is None else taken
    factors = stream_reuse_factors(ops, reuse_factors)
    for k, op in enumerate(ops):
        if isinstance(op, ResidualOps):
            layer, block_engines = build_block(op, stage_levels, taken, factors, engine_cache)
        else:
            layer = layer_geometry(op)
            layer.name = unique_name(layer.name, taken)
        if layers:
            prev = layers[-1]
            if prev.out_shape != layer.in_shape or prev.out != layer.inp:
                raise UnsupportedModelError(
                    f"{layer.name} expects {layer.in_shape} pixels of {layer.inp}, but {prev.name} produces "
                    f"{prev.out_shape} of {prev.out}")
        if isinstance(op, ResidualOps):
            engines += block_engines
            layers.append(layer)
            continue
        in_index = [int(i) for i in op.get_nodeattr("in_index")] if "in_index" in op.get_nodeattr_types() else []
        if (layers or not at_input) and in_index and in_index != list(range(len(in_index))):
            # a stream carries whole pixels; only the host can reorder before the first layer
            raise UnsupportedModelError(
                f"{layer.name}: reads its input through an in_index gather; the streaming style supports "
                "that on the first layer only (the host reorders the frame)")
        build = engine_cache.engine if engine_cache is not None else engine_module
        engines.append(build(layer, op, stage_levels, factors.get(op.onnx_node.name, 1)))
        layers.append(layer)
    return layers, engines


def build_block(residual, stage_levels, taken, reuse_factors, engine_cache=None):
    """(ResidualBlock, its branches' engine modules): branches built and their line buffers
    sized as chains of their own, then the FIFOs sized (chisel/stream/residual.py)."""
    branches, engines = [], []
    for ops in (residual.branch_a, residual.branch_b):
        layers, branch_engines = (build_stream_layers(ops, stage_levels, reuse_factors, taken, False, engine_cache)
                                  if ops else ([], []))
        if layers:
            for layer, layer_latency in zip(layers, size_line_buffers(layers).layer_latencies):
                layer.latency_cycles = layer_latency
        branches.append(layers)
        engines += branch_engines
    block = block_geometry(residual, branches, taken)
    size_fifos(block)
    return block, engines


def flat_layers(stages):
    """The StreamLayers of `stages` in build order (a block's branch a, then branch b)."""
    for stage in stages:
        yield from stage.layers if isinstance(stage, ResidualBlock) else [stage]


def layer_rows(stages):
    """The description's per-layer dicts: every StreamLayer, and after a block's branch layers
    a row for its join (FIFO bits counted as its line buffer bits, the FIFOs' and the join's
    registers as its flip-flops)."""
    rows = []
    for stage in stages:
        for layer in stage.layers if isinstance(stage, ResidualBlock) else [stage]:
            rows.append({**asdict(layer), "pixel_latency": layer.pixel_latency, "read_mux_luts": layer.read_mux_luts,
                         "global_pool": isinstance(layer, GlobalPoolLayer), "flip_flops": stage_flip_flops(layer)})
        if isinstance(stage, ResidualBlock):
            rows.append({"name": stage.name, "op_type": "QAdd", "in_shape": stage.in_shape,
                         "out_shape": stage.out_shape, "kernel": [1, 1], "strides": [1, 1], "pads": [0, 0, 0, 0],
                         "inp": asdict(stage.branch_outputs()[0]), "out": asdict(stage.out),
                         "line_buffer_rows": 0, "line_buffer_bits": stage.fifo_bits, "fifo_depths": stage.fifo_depths,
                         "engine_latency": 0, "engine_levels": stage.engine_levels, "adders": stage.adders,
                         "ii_cycles": stage.in_shape[1] * stage.in_shape[2], "latency_cycles": stage.latency_cycles,
                         "file": stage.file, "pixel_latency": 1, "reuse_factor": 1, "units": 1, "steps": 1,
                         "estimated_luts": stage.join_luts, "global_pool": False, "read_mux_luts": stage.read_mux_luts - sum(
                             layer.read_mux_luts for layer in stage.layers), "flip_flops": stage_flip_flops(stage) - sum(
                             stage_flip_flops(layer) for layer in stage.layers)})
    return rows


def first_layer_gather(ops):
    """The first op's in_index (where image element (c, h, w) sits in the input codes), or None."""
    op = ops[0]
    if isinstance(op, ResidualOps) or "in_index" not in op.get_nodeattr_types():
        return None
    in_index = [int(i) for i in op.get_nodeattr("in_index")]
    return in_index if in_index and in_index != list(range(len(in_index))) else None


def generate_streaming(ops, output_dir, top="c4ml_top", stage_levels=None, source="QONNX", reuse_factors=None,
                       engine_cache=None):
    """Write the streaming circuit of `ops` (QConv2D / QMaxPool2D CustomOps in data-flow order)
    to `output_dir`, each QConv2D's engine folded by `reuse_factors` (stream_reuse_factors; None: all 1,
    the fully parallel engines; 1 for every QMaxPool2D).  Returns a description dict: files,
    top, stream_top, input pixel Port and frame output Port (as dicts), ii_cycles,
    latency_cycles, line_buffer_bits, estimated_luts (the engines' engine_luts + the reads'
    read_mux_luts), flip_flops (chisel/stream/registers.py: the stages' and the frame top's
    registers, line buffers and FIFO words included), per-layer stats
    (reuse_factor, units, steps, estimated_luts, adders among them).  `engine_cache` (an
    engine.EngineCache) reuses the engines of an earlier call with the same ops.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    layers, engines = build_stream_layers(ops, stage_levels, reuse_factors, engine_cache=engine_cache)
    schedule = size_line_buffers(layers)  # before the Verilog: it sets the rows
    for layer, layer_latency in zip(layers, schedule.layer_latencies):
        layer.latency_cycles = layer_latency
    header = HEADER.format(source=source) + STREAM_WAIVER
    files = []
    stream_name = f"{top}_stream"
    texts = []  # one module per file, named after it
    for layer, engine in zip(flat_layers(layers), engines):
        text = engine_cache.verilog(layer, engine, header) if engine_cache is not None else engine_verilog(
            layer, engine, header)
        texts.append((engine.name, text))
        wrapper = global_pool_verilog if isinstance(layer, GlobalPoolLayer) else stream_layer_verilog
        texts.append((layer.name, header + wrapper(layer)))
        layer.file = str(output_dir / f"{layer.name}.v")
    for block in (stage for stage in layers if isinstance(stage, ResidualBlock)):
        texts.append((block.join.name, block.join.verilog(header)))
        for x, depth in enumerate(block.fifo_depths):
            if depth:
                name = f"{block.name}_fifo{'ab'[x]}"
                texts.append((name, header + fifo_verilog(name, block.branch_outputs()[x].width, depth)))
        texts.append((block.name, header + block_verilog(block)))
        block.file = str(output_dir / f"{block.name}.v")
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
        # the engines' netlist cost plus the line-buffer and FIFO read muxes (a formula)
        "engine_luts": sum(layer.estimated_luts for layer in layers),
        "read_mux_luts": sum(layer.read_mux_luts for layer in layers),
        "estimated_luts": sum(layer.estimated_luts + layer.read_mux_luts for layer in layers),
        "flip_flops": sum(stage_flip_flops(stage) for stage in layers) + collector_flip_flops(last),
        "stage_levels": stage_levels,
        "layers": layer_rows(layers),
    }
    (output_dir / f"{top}.stream.json").write_text(json.dumps(description, indent=2, sort_keys=True),
                                                   encoding="utf-8")
    return description


def format_report(description):
    """The per-layer and total numbers of a streaming description as a text table."""
    rows = [("layer", "op", "in CxHxW", "out CxHxW", "kernel", "strides", "pads t,l,b,r", "lb rows",
             "lb bits", "ii", "latency", "adders", "R", "steps", "est. LUTs", "read mux LUTs", "FFs")]
    for layer in description["layers"]:
        rows.append((layer["name"], layer["op_type"], "x".join(map(str, layer["in_shape"])),
                     "x".join(map(str, layer["out_shape"])), "x".join(map(str, layer["kernel"])),
                     ",".join(map(str, layer["strides"])), ",".join(map(str, layer["pads"])),
                     str(layer["line_buffer_rows"]), str(layer["line_buffer_bits"]), str(layer["ii_cycles"]),
                     str(layer["latency_cycles"]), str(layer["adders"]), str(layer["reuse_factor"]),
                     str(layer["steps"]), str(layer["estimated_luts"]), str(layer.get("read_mux_luts", "")),
                     str(layer.get("flip_flops", ""))))
    rows.append(("total", "", "", "", "", "", "", "", str(description["line_buffer_bits"]),
                 str(description["ii_cycles"]), str(description["latency_cycles"]), "", "", "",
                 str(description.get("engine_luts", description["estimated_luts"])),
                 str(description.get("read_mux_luts", "")), str(description.get("flip_flops", ""))))
    return "\n".join(text_lines(rows)) + (
        "\nii and latency in cycles (latency: first input pixel to the frame's out_valid for the total, a layer's "
        "first input to its last output pixel per layer; R: reuse factor, steps: cycles per output pixel; est. LUTs: "
        "of the window engines (netlist cost), read mux LUTs: of the line-buffer and FIFO reads (a formula); the "
        "circuit's estimate is their sum; FFs: registers, line buffer and FIFO words included, the total with the "
        "frame top's)\n")
