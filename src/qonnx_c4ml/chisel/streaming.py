"""Streaming circuits for convolutional layers: one pixel per cycle through line buffers.

The fully parallel style (generator.py) computes a whole frame per cycle; this style is the
trade-off hls4ml users rely on: a frame arrives as H*W pixels in raster order (row by row,
all C channels of a pixel in one beat, channel 0 in the LSBs), and each layer owns ONE fully
parallel window engine (`arith.dot_products` over the KH*KW*C window elements, then
`arith.requantize` per output channel; a max tree for QMaxPool2D) that produces one output
pixel per cycle.  Weights stay constants in the logic.

Per layer (`stream_layer_verilog`):

    writer  stores each accepted pixel in a line buffer of R rows x W pixels, rows addressed
            by a global row counter mod R, so frames follow each other without a gap;
    reader  walks the output positions (i, j) in raster order; output (i, j) is issued once
            the last input pixel its window needs has been written (the window's bottom-right
            corner, clipped to the image), which handles zero padding on every side (padded
            taps read code 0; for max pooling the smallest code), asymmetric pads and strides
            without extra cycles;
    engine  window register -> window engine (combinational, or pipelined every
            `stage_levels` operator levels) -> output register.

The writer accepts a pixel while its row does not overwrite the oldest row the reader still
needs (`in_ready` depends on registers only, so ready never ripples combinationally through
the chain).  The engine pipeline advances whenever its output register is empty or being
read (`out_ready`), so a stalled consumer freezes the layer without losing data, and the
layer runs at one pixel per cycle when never stalled.

Rate and sizing.  A frame takes max(H*W, OH*OW) cycles in a layer (one pixel per cycle each
way; more output than input pixels happens only with more padding than 'same'), and the
chain's initiation interval is that bound of its slowest layer.  Reaching it needs the
writer to run ahead of the reader, and the reader to fall behind where bottom/right padding
makes several outputs due at once, so a layer has R >= KH rows where the textbook design has
KH - 1 rows + a window register: R starts at the next power of two >= KH (at least 2) and
`size_line_buffers` doubles it where a cycle model of the control (`model_schedule`, the
same rules as the Verilog) shows the stream missing the bound (a 3x3 'same' convolution keeps
4 rows).  The same model gives the latency the report states; the tests check both against
Verilator.

The chain (`<top>_stream`) connects the layers' pixel streams; the frame top `<top>` adds a
collector that gathers the last layer's output pixels into one packed vector in LBIR flat
order (element (c*OH + i)*OW + j, as QConv2D flattens), with the docs/ARCHITECTURE.md §3 ports
extended for streaming: clock, reset, in_valid, in_ready, in_data (one pixel), out_valid,
out_ready, out_data (one frame).  `out_valid` pulses high with a complete frame and holds
it until `out_ready`.
"""
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from qonnx_c4ml.chisel.arith import dot_products, max_tree, requantize
from qonnx_c4ml.chisel.generator import HEADER, WAIVER, port_for_dtype
from qonnx_c4ml.chisel.hw import Module, literal
from qonnx_c4ml.chisel.logic.cost import adders
from qonnx_c4ml.chisel.logic.passes import logic_levels
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import Port
from qonnx_c4ml.lbir.conv import conv_output_hw
from qonnx_c4ml.lbir.dtypes import bits_for_range, datatype_range

STREAM_OPS = ("QConv2D", "QMaxPool2D")
# generator.WAIVER's reasons hold for the engines; in the stream control, address arithmetic
# mixes signed row/column counters with unsigned slots by Verilog's width rules (WIDTH), and
# only the low bits of row counters address slots (UNUSEDSIGNAL).
STREAM_WAIVER = WAIVER


def sanitize(name):
    name = re.sub(r"[^A-Za-z0-9_]", "_", name or "layer")
    return name if re.match(r"[A-Za-z_]", name) else f"n_{name}"


@dataclass
class StreamLayer:
    """Geometry and stream ports of one streaming layer (the numbers the report states)."""

    name: str
    op_type: str
    in_shape: list  # [C, H, W]
    out_shape: list  # [O, OH, OW]
    kernel: list
    strides: list
    pads: list  # top, left, bottom, right
    inp: Port  # one input pixel: C elements
    out: Port  # one output pixel: O elements
    line_buffer_rows: int = 0
    line_buffer_bits: int = 0
    engine_latency: int = 0  # register stages inside the window engine
    engine_levels: int = 0
    adders: int = 0
    ii_cycles: int = 0  # this layer's cycles per frame: max(H*W, OH*OW), one pixel per cycle each way
    latency_cycles: int = 0  # its first input pixel -> its first frame's last output pixel, inclusive (modelled)
    file: str = ""

    @property
    def pixel_latency(self):
        """Cycles from issuing a window to its output pixel being valid: window register,
        engine stages, output register."""
        return 2 + self.engine_latency


def _layer_geometry(op):
    node = op.onnx_node
    if node.op_type == "QConv2D":
        in_shape, strides, pads, _ = op.geometry()
        kernel = list(op.weight_codes().shape[2:])
        out_channels = int(op.weight_codes().shape[0])
    elif node.op_type == "QMaxPool2D":
        in_shape, kernel, strides, pads = op.geometry()
        out_channels = in_shape[0]
    else:
        raise UnsupportedModelError(
            f"{node.name}: {node.op_type} has no streaming circuit (streaming supports {', '.join(STREAM_OPS)})")
    oh, ow = conv_output_hw(in_shape, kernel, strides, pads)
    if oh < 1 or ow < 1:
        raise UnsupportedModelError(f"{node.name}: empty output {oh}x{ow}")
    inp = port_for_dtype(in_shape[0], op.get_nodeattr("in_dtype"))
    out = port_for_dtype(out_channels, op.get_nodeattr("out_dtype"))
    rows = 1 << max(1, (kernel[0] - 1).bit_length())  # next power of two >= KH (and >= 2)
    return StreamLayer(
        name=sanitize(node.name), op_type=node.op_type, in_shape=list(in_shape),
        out_shape=[out_channels, oh, ow], kernel=list(kernel), strides=list(strides), pads=list(pads),
        inp=inp, out=out, line_buffer_rows=rows, line_buffer_bits=rows * in_shape[2] * inp.width,
        ii_cycles=max(in_shape[1] * in_shape[2], oh * ow))


# -- window engines ------------------------------------------------------------------------

def window_index(layer, u, v, c):
    """Position of window element (row u, column v, channel c) in the window vector."""
    return (u * layer.kernel[1] + v) * layer.in_shape[0] + c


def engine_module(layer, op, stage_levels=None):
    """The window engine: window vector (KH*KW*C elements) -> one output pixel (O elements)."""
    c_in = layer.in_shape[0]
    kh, kw = layer.kernel
    n_window = kh * kw * c_in
    module = Module(f"{layer.name}_engine", stage_levels)
    if stage_levels:
        module.port("input", "clock", 1)
        module.port("input", "enable", 1)
    module.port("input", "in_data", n_window * layer.inp.bits)
    module.port("output", "out_data", layer.out.width)
    inputs = [module.input_element("in_data", k, layer.inp.bits, layer.inp.signed) for k in range(n_window)]
    out_lo, out_hi = datatype_range(op.get_nodeattr("out_dtype"))
    codes = []
    if layer.op_type == "QConv2D":
        weights = op.weight_codes()
        group = int(op.get_nodeattr("group"))
        out_channels, per_group = weights.shape[:2]
        connections = []
        for o in range(out_channels):
            first = (o // (out_channels // group)) * per_group
            connections.append([(window_index(layer, u, v, first + g_c), int(weights[o, g_c, u, v]))
                                for g_c in range(per_group) for u in range(kh) for v in range(kw)
                                if weights[o, g_c, u, v]])
        module.comment(f"{out_channels} dot products over a {kh}x{kw}x{c_in} window "
                       f"({np.count_nonzero(weights)} non-zero weights)")
        accs = dot_products(module, inputs, connections)
        requant = op.get_nodeattr("requant")
        thresholds = op.threshold_codes()
        for m, acc in enumerate(accs):
            if requant == "thresholds":
                code = requantize(module, acc, [int(t) for t in thresholds[m]], int(op.get_nodeattr("out_base")),
                                  f"out{m}", op.get_nodeattr("threshold_weights"))
            else:
                code = acc
            codes.append(code)
    else:
        module.comment(f"max over a {kh}x{kw} window, {c_in} channels (padding enters as the smallest code)")
        for c in range(c_in):
            window = [inputs[window_index(layer, u, v, c)] for u in range(kh) for v in range(kw)]
            codes.append(max_tree(module, window, base=f"max{c}"))
    for m, code in enumerate(codes):
        if code.lo < out_lo or code.hi > out_hi:
            raise AssertionError(f"{layer.name}: channel {m} range [{code.lo}, {code.hi}] exceeds "
                                 f"{op.get_nodeattr('out_dtype')}")
    for m, code in enumerate(codes):
        module.output("out_data", m * layer.out.bits, code, layer.out.bits, layer.out.signed)
    layer.engine_latency, layer.engine_levels = module.latency, logic_levels(module.netlist)
    layer.adders = adders(module.lowered())
    return module


def module_verilog_with_enable(module, header=""):
    """Like Module.verilog, but pipeline registers load only while `enable` is high, so a
    stalled stream freezes the engine's stages together with their valid bits."""
    return module.verilog(header, enable="enable")


# -- the streaming layer -------------------------------------------------------------------

def _signed_bits(*values):
    return bits_for_range(min(min(values), -1), max(values))[0]


def stream_layer_verilog(layer):
    """Verilog text of the streaming wrapper around `<layer>_engine` (see module doc)."""
    c_in, h, w = layer.in_shape
    _, oh, ow = layer.out_shape
    kh, kw = layer.kernel
    sh, sw = layer.strides
    pt, pl, pb, pr = layer.pads
    rows = layer.line_buffer_rows
    slot_bits = rows.bit_length() - 1
    pixel = layer.inp.width
    n_window = kh * kw * c_in
    # signed row/column coordinates of window corners, pads included
    coord_bits = _signed_bits(-pt - 1, -pl - 1, h + kh + sh + pb + 1, w + kw + sw + pr + 1,
                              (oh - 1) * sh + kh, (ow - 1) * sw + kw)
    # global row counters wrap; their differences stay within a few frames' rows
    row_bits = max(coord_bits, _signed_bits(-4 * (h + kh + rows + pt + pb + 2), 4 * (h + kh + rows + pt + pb + 2)))
    col_bits = max(1, (w - 1).bit_length())
    if layer.op_type == "QMaxPool2D":
        pad_code = layer.inp.code_range[0]
    else:
        pad_code = 0
    pad_pixel = "{" + ", ".join([literal(pad_code, layer.inp.bits)] * c_in) + "}"
    last_left, last_top = (ow - 1) * sw - pl, (oh - 1) * sh - pt
    cb, rb = coord_bits, row_bits

    def lit(value, width):
        return literal(value, width)

    out = [
        f"module {layer.name} (",
        "  input wire clock,",
        "  input wire reset,",
        "  input wire in_valid,",
        "  output wire in_ready,",
        f"  input wire [{pixel - 1}:0] in_data,",
        "  output wire out_valid,",
        "  input wire out_ready,",
        f"  output wire [{layer.out.width - 1}:0] out_data",
        ");",
        f"  // {layer.op_type} {c_in}x{h}x{w} -> {layer.out_shape[0]}x{oh}x{ow}, kernel {kh}x{kw}, "
        f"strides {sh},{sw}, pads {pt},{pl},{pb},{pr}",
        f"  // line buffer: {rows} rows x {w} pixels x {pixel} bits = {layer.line_buffer_bits} bits",
        *(f"  reg [{pixel - 1}:0] line_buffer{slot} [0:{w - 1}];" for slot in range(rows)),
        f"  reg [{col_bits - 1}:0] write_col;",
        f"  reg [{rb - 1}:0] write_row;  // global row count (mod 2^{rb}); slot = write_row mod {rows}",
        f"  reg [{rb - 1}:0] frame_row0;  // global row of row 0 of the frame being read",
        f"  reg signed [{cb - 1}:0] window_top;  // i*{sh} - {pt}",
        f"  reg signed [{cb - 1}:0] window_left;  // j*{sw} - {pl}",
        "  reg window_valid;",
        f"  reg [{n_window * layer.inp.bits - 1}:0] window_data;",
        "  reg out_valid_q;",
        f"  reg [{layer.out.width - 1}:0] out_data_q;",
        "  // the last input pixel the window needs: its bottom-right corner clipped to the image",
        f"  wire signed [{cb - 1}:0] window_bottom = window_top + {kh - 1};",
        f"  wire signed [{cb - 1}:0] window_right = window_left + {kw - 1};",
        f"  wire signed [{cb - 1}:0] need_row = window_bottom > {h - 1} ? {lit(h - 1, cb)} : "
        f"(window_bottom < 0 ? {lit(0, cb)} : window_bottom);",
        f"  wire signed [{cb - 1}:0] need_col = window_right > {w - 1} ? {lit(w - 1, cb)} : "
        f"(window_right < 0 ? {lit(0, cb)} : window_right);",
        f"  wire signed [{cb - 1}:0] first_row = window_top < 0 ? {lit(0, cb)} : "
        f"(window_top > {h - 1} ? {lit(h - 1, cb)} : window_top);",
        f"  wire signed [{rb - 1}:0] rows_ahead = write_row - frame_row0 - need_row;",
        "  wire window_ready = rows_ahead > 0 || (rows_ahead == 0 && $signed({1'b0, write_col}) > need_col);",
        "  // the writer may not overwrite the oldest row the reader still needs",
        f"  wire signed [{rb - 1}:0] rows_held = write_row - frame_row0 - first_row;",
        f"  assign in_ready = rows_held < {rows};",
        "  wire advance = !out_valid_q || out_ready;",
        "  wire issue = window_ready && advance;",
        f"  wire [{slot_bits - 1}:0] write_slot = write_row[{slot_bits - 1}:0];",
        "  // reads: per window column v, the pixel in every row slot (shared by the KH taps of",
        "  // the column), then per tap the slot of its row",
    ]
    taps = []
    for u in range(kh):
        out += [
            f"  wire signed [{cb - 1}:0] row{u} = window_top + {u};",
            f"  wire row{u}_inside = row{u} >= 0 && row{u} < {h};",
            f"  wire [{slot_bits - 1}:0] slot{u} = frame_row0[{slot_bits - 1}:0] + row{u}[{slot_bits - 1}:0];",
        ]
    for v in range(kw):
        out += [
            f"  wire signed [{cb - 1}:0] col{v} = window_left + {v};",
            f"  wire col{v}_inside = col{v} >= 0 && col{v} < {w};",
            f"  wire [{col_bits - 1}:0] col{v}_index = col{v}[{col_bits - 1}:0];",
            f"  wire [{pixel - 1}:0] column{v} [0:{rows - 1}];",
            *(f"  assign column{v}[{slot}] = line_buffer{slot}[col{v}_index];" for slot in range(rows)),
        ]
    for u in range(kh):
        for v in range(kw):
            out.append(f"  wire [{pixel - 1}:0] tap{u}_{v} = row{u}_inside && col{v}_inside ? "
                       f"column{v}[slot{u}] : {pad_pixel};")
            taps.append(f"tap{u}_{v}")
    engine_stages = layer.engine_latency
    clock = ".clock(clock), .enable(advance), " if engine_stages else ""
    out += [
        f"  wire [{layer.out.width - 1}:0] engine_out;",
        f"  {layer.name}_engine u_engine ({clock}.in_data(window_data), .out_data(engine_out));",
    ]
    engine_valid = "window_valid"
    if engine_stages:
        out.append(f"  reg [{engine_stages - 1}:0] engine_valid;")
        engine_valid = f"engine_valid[{engine_stages - 1}]"
    out += [
        "  always @(posedge clock) begin",
        *(f"    if (in_valid && in_ready && write_slot == {lit(slot, slot_bits)}) line_buffer{slot}[write_col] <= in_data;"
          for slot in range(rows)),
        "    if (advance) begin",
        "      window_data <= {" + ", ".join(reversed(taps)) + "};",
        "      out_data_q <= engine_out;",
        "    end",
        "    if (reset) begin",
        f"      write_col <= {lit(0, col_bits)};",
        f"      write_row <= {lit(0, rb)};",
        f"      frame_row0 <= {lit(0, rb)};",
        f"      window_top <= {lit(-pt, cb)};",
        f"      window_left <= {lit(-pl, cb)};",
        "      window_valid <= 1'b0;",
        "      out_valid_q <= 1'b0;",
    ]
    if engine_stages:
        out.append(f"      engine_valid <= {engine_stages}'b0;")
    out += [
        "    end else begin",
        "      if (in_valid && in_ready) begin",
        f"        if (write_col == {lit(w - 1, col_bits)}) begin",
        f"          write_col <= {lit(0, col_bits)};",
        f"          write_row <= write_row + {lit(1, rb)};",
        "        end else begin",
        f"          write_col <= write_col + {lit(1, col_bits)};",
        "        end",
        "      end",
        "      if (issue) begin",
        f"        if (window_left == {lit(last_left, cb)}) begin",
        f"          window_left <= {lit(-pl, cb)};",
        f"          if (window_top == {lit(last_top, cb)}) begin",
        f"            window_top <= {lit(-pt, cb)};",
        f"            frame_row0 <= frame_row0 + {lit(h, rb)};",
        "          end else begin",
        f"            window_top <= window_top + {lit(sh, cb)};",
        "          end",
        "        end else begin",
        f"          window_left <= window_left + {lit(sw, cb)};",
        "        end",
        "      end",
        "      if (advance) begin",
        "        window_valid <= issue;",
    ]
    if engine_stages == 1:
        out.append("        engine_valid <= window_valid;")
    elif engine_stages > 1:
        out.append(f"        engine_valid <= {{engine_valid[{engine_stages - 2}:0], window_valid}};")
    out += [
        f"        out_valid_q <= {engine_valid};",
        "      end",
        "    end",
        "  end",
        "  assign out_valid = out_valid_q;",
        "  assign out_data = out_data_q;",
        "endmodule",
    ]
    return "\n".join(out) + "\n"


# -- chain and frame top -------------------------------------------------------------------

def stream_top_verilog(name, layers):
    inp, out = layers[0].inp, layers[-1].out
    lines = [
        f"module {name} (",
        "  input wire clock,",
        "  input wire reset,",
        "  input wire in_valid,",
        "  output wire in_ready,",
        f"  input wire [{inp.width - 1}:0] in_data,",
        "  output wire out_valid,",
        "  input wire out_ready,",
        f"  output wire [{out.width - 1}:0] out_data",
        ");",
    ]
    valid, ready, data = "in_valid", "in_ready", "in_data"
    for k, layer in enumerate(layers):
        last = k == len(layers) - 1
        out_valid = "out_valid" if last else f"{layer.name}_valid"
        out_ready = "out_ready" if last else f"{layer.name}_ready"
        out_data = "out_data" if last else f"{layer.name}_data"
        if not last:
            lines += [f"  wire {out_valid};", f"  wire {out_ready};", f"  wire [{layer.out.width - 1}:0] {out_data};"]
        lines.append(f"  {layer.name} u_{layer.name} (.clock(clock), .reset(reset), .in_valid({valid}), "
                     f".in_ready({ready}), .in_data({data}), .out_valid({out_valid}), .out_ready({out_ready}), "
                     f".out_data({out_data}));")
        valid, ready, data = out_valid, out_ready, out_data
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def frame_top_verilog(name, stream_name, layers):
    """The frame adapter: pixels in, the last layer's whole output frame out (LBIR order)."""
    inp, last = layers[0].inp, layers[-1]
    channels, oh, ow = last.out_shape
    bits = last.out.bits
    n_pixels = oh * ow
    frame_bits = channels * n_pixels * bits
    index_bits = max(1, (n_pixels - 1).bit_length())
    lines = [
        f"module {name} (",
        "  input wire clock,",
        "  input wire reset,",
        "  input wire in_valid,",
        "  output wire in_ready,",
        f"  input wire [{inp.width - 1}:0] in_data,",
        "  output wire out_valid,",
        "  input wire out_ready,",
        f"  output wire [{frame_bits - 1}:0] out_data",
        ");",
        "  wire pixel_valid;",
        "  wire pixel_ready;",
        f"  wire [{last.out.width - 1}:0] pixel_data;",
        f"  {stream_name} u_stream (.clock(clock), .reset(reset), .in_valid(in_valid), .in_ready(in_ready), "
        ".in_data(in_data), .out_valid(pixel_valid), .out_ready(pixel_ready), .out_data(pixel_data));",
        f"  // collector: output pixel p = i*{ow} + j, channel c -> frame element c*{n_pixels} + p",
        f"  reg [{index_bits - 1}:0] pixel_index;",
        f"  reg [{frame_bits - 1}:0] collect;",
        f"  reg [{frame_bits - 1}:0] frame_data;",
        "  reg frame_valid;",
        f"  wire last_pixel = pixel_index == {literal(n_pixels - 1, index_bits)};",
        "  // a finished frame waits in frame_data until it is read; only its successor's last",
        "  // pixel has to wait for that",
        "  assign pixel_ready = !(last_pixel && frame_valid && !out_ready);",
        "  wire take = pixel_valid && pixel_ready;",
        f"  reg [{frame_bits - 1}:0] collect_next;",
        "  always @(*) begin",
        "    collect_next = collect;",
        "    if (take) begin",
    ]
    for c in range(channels):
        lines.append(f"      collect_next[({c * n_pixels} + pixel_index) * {bits} +: {bits}] = "
                     f"pixel_data[{c * bits} +: {bits}];")
    lines += [
        "    end",
        "  end",
        "  always @(posedge clock) begin",
        "    if (take) collect <= collect_next;",
        "    if (take && last_pixel) frame_data <= collect_next;",
        "    if (reset) begin",
        f"      pixel_index <= {literal(0, index_bits)};",
        "      frame_valid <= 1'b0;",
        "    end else begin",
        f"      if (take) pixel_index <= last_pixel ? {literal(0, index_bits)} : pixel_index + "
        f"{literal(1, index_bits)};",
        "      if (take && last_pixel) frame_valid <= 1'b1;",
        "      else if (out_ready) frame_valid <= 1'b0;",
        "    end",
        "  end",
        "  assign out_valid = frame_valid;",
        "  assign out_data = frame_data;",
        "endmodule",
    ]
    return "\n".join(lines) + "\n"


# -- schedule model ------------------------------------------------------------------------

class _LayerSchedule:
    """Cycle model of one layer's control (the same rules as the Verilog, without data)."""

    def __init__(self, layer):
        self.layer = layer
        self.write_row = self.write_col = self.frame_row0 = 0
        self.top, self.left = -layer.pads[0], -layer.pads[1]
        self.pipe = [False] * (1 + layer.engine_latency)  # window register + engine stages
        self.out_valid = False

    def in_ready(self):
        h = self.layer.in_shape[1]
        first_row = min(max(self.top, 0), h - 1)
        return self.write_row - self.frame_row0 - first_row < self.layer.line_buffer_rows

    def step(self, in_take, out_ready):
        """One clock edge; returns whether an output pixel left (out_valid and out_ready)."""
        layer = self.layer
        _, h, w = layer.in_shape
        kh, kw = layer.kernel
        need_row = min(max(self.top + kh - 1, 0), h - 1)
        need_col = min(max(self.left + kw - 1, 0), w - 1)
        ahead = self.write_row - self.frame_row0 - need_row
        window_ready = ahead > 0 or (ahead == 0 and self.write_col > need_col)
        advance = not self.out_valid or out_ready
        left = self.out_valid and out_ready
        issue = window_ready and advance
        if in_take:
            self.write_col += 1
            if self.write_col == w:
                self.write_col, self.write_row = 0, self.write_row + 1
        if issue:
            _, oh, ow = layer.out_shape
            if self.left == (ow - 1) * layer.strides[1] - layer.pads[1]:
                self.left = -layer.pads[1]
                if self.top == (oh - 1) * layer.strides[0] - layer.pads[0]:
                    self.top, self.frame_row0 = -layer.pads[0], self.frame_row0 + h
                else:
                    self.top += layer.strides[0]
            else:
                self.left += layer.strides[1]
        if advance:
            self.out_valid = self.pipe[-1]
            self.pipe = [issue] + self.pipe[:-1]
        return left


@dataclass
class Schedule:
    """What the control model measured (cycles)."""

    latency: int  # first pixel of frame 0 accepted -> the collector's out_valid
    ii: int  # largest gap between consecutive frames
    input_stalls: int  # cycles a pending input pixel was refused
    refusals: list  # per layer: cycles its upstream offered a pixel it refused
    layer_latencies: list  # per layer: its first input pixel -> its frame 0's last output pixel, inclusive


def rate_bound(layers):
    """Fewest cycles per frame any one-pixel-per-cycle chain can take: every layer reads its
    input frame and writes its output frame at one pixel per cycle."""
    return max(max(l.in_shape[1] * l.in_shape[2], l.out_shape[1] * l.out_shape[2]) for l in layers)


def model_schedule(layers, n_frames=6):
    """Continuous streaming of `n_frames` frames (a pixel offered every cycle, output always
    read) through the control model (the rules of the Verilog, without data)."""
    schedules = [_LayerSchedule(layer) for layer in layers]
    pixels = layers[0].in_shape[1] * layers[0].in_shape[2]
    out_pixels = layers[-1].out_shape[1] * layers[-1].out_shape[2]
    sent, collected, frames, cycle = 0, 0, [], 0
    refusals = [0] * len(layers)
    layer_done = [None] * len(layers)
    layer_start = [None] * len(layers)
    layer_count = [0] * len(layers)
    limit = 100 * (n_frames + 2) * rate_bound(layers) + 1000
    while len(frames) < n_frames and cycle < limit:
        # readies come from registers only (the collector is always ready here)
        readies = [s.in_ready() for s in schedules] + [True]
        offers = [sent < n_frames * pixels] + [s.out_valid for s in schedules]
        for k, schedule in enumerate(schedules):
            take = offers[k] and readies[k]
            refusals[k] += offers[k] and not readies[k]
            if take and layer_start[k] is None:
                layer_start[k] = cycle
            if schedule.step(take, readies[k + 1]):
                layer_count[k] += 1
                per_frame = layers[k].out_shape[1] * layers[k].out_shape[2]
                if layer_count[k] == per_frame and layer_done[k] is None:
                    layer_done[k] = cycle
        sent += offers[0] and readies[0]
        if offers[-1]:
            collected += 1
            if collected == out_pixels:
                frames.append(cycle + 1)  # frame_valid rises at the next edge
                collected = 0
        cycle += 1
    if len(frames) < n_frames:
        raise AssertionError(f"streaming control model deadlocked after {cycle} cycles")
    return Schedule(latency=frames[0], ii=int(np.diff(frames).max()) if n_frames > 1 else pixels,
                    input_stalls=refusals[0], refusals=refusals,
                    layer_latencies=[done - start + 1 for start, done in zip(layer_start, layer_done)])


def size_line_buffers(layers, max_rounds=24):
    """Grow line buffers (doubling rows) until the modelled stream runs at the rate bound.

    R = the next power of two >= KH + 1 rows suffices for 'same'-like padding; heavy bottom
    padding makes several output rows due after the last input row, and the reader then needs
    more rows of slack to keep the writer going.  The layer grown is the most downstream one
    that refused input (upstream refusals are often its back-pressure)."""
    for _ in range(max_rounds):
        schedule = model_schedule(layers)
        if schedule.ii <= rate_bound(layers):
            return schedule
        refused = [layer for layer, count in zip(layers, schedule.refusals) if count
                   and layer.line_buffer_rows < 4 * (layer.in_shape[1] + layer.kernel[0])]
        if not refused:
            return schedule
        layer = refused[-1]
        layer.line_buffer_rows *= 2
        layer.line_buffer_bits = layer.line_buffer_rows * layer.in_shape[2] * layer.inp.width
    return model_schedule(layers)


# -- entry point ---------------------------------------------------------------------------

def build_stream_layers(ops, stage_levels=None):
    """(layers, engine modules) for a chain of QConv2D/QMaxPool2D ops in data-flow order."""
    layers, engines, taken = [], [], set()
    for k, op in enumerate(ops):
        layer = _layer_geometry(op)
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
        engines.append(engine_module(layer, op, stage_levels))
        layers.append(layer)
    return layers, engines


def first_layer_gather(ops):
    """The first op's in_index (where image element (c, h, w) sits in the input codes), or None."""
    op = ops[0]
    if "in_index" not in op.get_nodeattr_types():
        return None
    in_index = [int(i) for i in op.get_nodeattr("in_index")]
    return in_index if in_index and in_index != list(range(len(in_index))) else None


def generate_streaming(ops, output_dir, top="c4ml_top", stage_levels=None, source="QONNX"):
    """Write the streaming circuit of `ops` (QConv2D / QMaxPool2D CustomOps in data-flow order)
    to `output_dir`.  Returns a description dict: files, top, stream_top, input pixel Port and
    frame output Port (as dicts), ii_cycles, latency_cycles, line_buffer_bits, per-layer stats.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    layers, engines = build_stream_layers(ops, stage_levels)
    schedule = size_line_buffers(layers)  # before the Verilog: it sets the rows
    for layer, layer_latency in zip(layers, schedule.layer_latencies):
        layer.latency_cycles = layer_latency
    header = HEADER.format(source=source) + STREAM_WAIVER
    files = []
    stream_name = f"{top}_stream"
    texts = []  # one module per file, named after it
    for layer, engine in zip(layers, engines):
        texts.append((engine.name, module_verilog_with_enable(engine, header) if layer.engine_latency
                      else engine.verilog(header)))
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
        "stage_levels": stage_levels,
        "layers": [{**asdict(layer), "pixel_latency": layer.pixel_latency} for layer in layers],
    }
    (output_dir / f"{top}.stream.json").write_text(json.dumps(description, indent=2, sort_keys=True),
                                                   encoding="utf-8")
    return description


def format_report(description):
    """The per-layer and total numbers of a streaming description as a text table."""
    rows = [("layer", "op", "in CxHxW", "out CxHxW", "kernel", "strides", "pads t,l,b,r", "lb rows",
             "lb bits", "ii", "latency", "adders")]
    for layer in description["layers"]:
        rows.append((layer["name"], layer["op_type"], "x".join(map(str, layer["in_shape"])),
                     "x".join(map(str, layer["out_shape"])), "x".join(map(str, layer["kernel"])),
                     ",".join(map(str, layer["strides"])), ",".join(map(str, layer["pads"])),
                     str(layer["line_buffer_rows"]), str(layer["line_buffer_bits"]), str(layer["ii_cycles"]),
                     str(layer["latency_cycles"]), str(layer["adders"])))
    rows.append(("total", "", "", "", "", "", "", "", str(description["line_buffer_bits"]),
                 str(description["ii_cycles"]), str(description["latency_cycles"]), ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines) + ("\nii and latency in cycles (latency: first input pixel to the frame's out_valid "
                               "for the total, a layer's first input to its last output pixel per layer)\n")
