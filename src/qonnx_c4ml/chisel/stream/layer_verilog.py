"""The streaming wrapper around a window engine: line buffer writer, window reader, engine
registers (the module doc of qonnx_c4ml.chisel.stream describes the control).

A folded layer (steps S > 1, chisel/fold/conv.py) keeps the writer and reader and replaces
the engine control, as chisel/fold/stage.py does for a dense layer: the window register
holds a window for S cycles while `step` counts 0..S-1 into the engine; the codes of steps
0..S-2 shift into `partial`, and the last step loads the output register with every channel in
order (only this step waits for the register to be free).  The next window is issued when
no window is held or in the cycle the held one finishes, so an unstalled layer computes a
window every S cycles; the writer keeps filling the line buffer meanwhile and is refused
(in_ready low) only when the buffer is full, which is back-pressure upstream.

A folded engine in the memory form (chisel/fold/memory.py; `layer.weight_rom` = (width,
words, step_port)) reads `w_q` (and `step` if its units have input slots): loaded every cycle with ROM[step_next], the step
counter's next value, as fold/stage.py does, so the timing is the same."""
from qonnx_c4ml.chisel.fold.memory import partial_shift, rom_lines
from qonnx_c4ml.chisel.hw import literal
from qonnx_c4ml.chisel.ports import module_header
from qonnx_c4ml.lbir.dtypes import bits_for_range


def _signed_bits(*values):
    return bits_for_range(min(min(values), -1), max(values))[0]


def counter_bits(layer):
    """(coord_bits, row_bits, col_bits) of the wrapper's window corner coordinates, global row
    counters and write column (chisel/stream/registers.py counts them as flip-flops)."""
    _, h, w = layer.in_shape
    _, oh, ow = layer.out_shape
    kh, kw = layer.kernel
    sh, sw = layer.strides
    pt, pl, pb, pr = layer.pads
    rows = layer.line_buffer_rows
    # signed row/column coordinates of window corners, pads included
    coord_bits = _signed_bits(-pt - 1, -pl - 1, h + kh + sh + pb + 1, w + kw + sw + pr + 1,
                              (oh - 1) * sh + kh, (ow - 1) * sw + kw)
    # global row counters wrap; their differences stay within a few frames' rows
    row_bits = max(coord_bits, _signed_bits(-4 * (h + kh + rows + pt + pb + 2), 4 * (h + kh + rows + pt + pb + 2)))
    return coord_bits, row_bits, max(1, (w - 1).bit_length())


def stream_layer_verilog(layer):
    """Verilog text of the streaming wrapper around `<layer>_engine` (see module doc).

    Longer than 80 lines on purpose: it is one linear template of the module, declarations,
    reads and the control block in the order they appear in the file; splitting it would
    scatter the geometry constants every part uses."""
    c_in, h, w = layer.in_shape
    _, oh, ow = layer.out_shape
    kh, kw = layer.kernel
    sh, sw = layer.strides
    pt, pl, pb, pr = layer.pads
    rows = layer.line_buffer_rows
    slot_bits = rows.bit_length() - 1
    pixel = layer.inp.width
    n_window = kh * kw * c_in
    coord_bits, row_bits, col_bits = counter_bits(layer)
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
        *module_header(layer.name, pixel, layer.out.width, streaming=True),
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
        *(_folded_declarations(layer) if layer.steps > 1 else ["  wire issue = window_ready && advance;"]),
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
    write_lines = [f"    if (in_valid && in_ready && write_slot == {lit(slot, slot_bits)}) "
                   f"line_buffer{slot}[write_col] <= in_data;" for slot in range(rows)]
    reset_lines = [
        f"      write_col <= {lit(0, col_bits)};",
        f"      write_row <= {lit(0, rb)};",
        f"      frame_row0 <= {lit(0, rb)};",
        f"      window_top <= {lit(-pt, cb)};",
        f"      window_left <= {lit(-pl, cb)};",
        "      window_valid <= 1'b0;",
        "      out_valid_q <= 1'b0;",
    ]
    counter_lines = [
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
    ]
    window = "{" + ", ".join(reversed(taps)) + "}"
    engine = _folded_engine if layer.steps > 1 else _parallel_engine
    out += engine(layer, window, write_lines, reset_lines, counter_lines)
    out += [
        "  assign out_valid = out_valid_q;",
        "  assign out_data = out_data_q;",
        "endmodule",
    ]
    return "\n".join(out) + "\n"


def _parallel_engine(layer, window, write_lines, reset_lines, counter_lines):
    """The fully parallel engine (one window per cycle, `engine_latency` register stages) and
    the control block around it."""
    engine_stages = layer.engine_latency
    clock = ".clock(clock), .enable(advance), " if engine_stages else ""
    out = [
        f"  wire [{layer.out.width - 1}:0] engine_out;",
        f"  {layer.name}_engine u_engine ({clock}.in_data(window_data), .out_data(engine_out));",
    ]
    engine_valid = "window_valid"
    if engine_stages:
        out.append(f"  reg [{engine_stages - 1}:0] engine_valid;")
        engine_valid = f"engine_valid[{engine_stages - 1}]"
    out += [
        "  always @(posedge clock) begin",
        *write_lines,
        "    if (advance) begin",
        f"      window_data <= {window};",
        "      out_data_q <= engine_out;",
        "    end",
        "    if (reset) begin",
        *reset_lines,
    ]
    if engine_stages:
        out.append(f"      engine_valid <= {engine_stages}'b0;")
    out += [
        "    end else begin",
        *counter_lines,
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
    ]
    return out


def _step_bits(layer):
    return max(1, (layer.steps - 1).bit_length())


def _folded_declarations(layer):
    """The folded layer's step counter and handshake: window_valid means a window is held;
    the next one is issued when none is, or in the cycle the held one finishes (its last
    step moves to the output register, which must be empty or read this cycle)."""
    bits = _step_bits(layer)
    return [
        f"  // folded engine: {layer.units} units x {layer.steps} steps per window (reuse factor {layer.reuse_factor})",
        f"  reg [{bits - 1}:0] step;",
        f"  wire last_step = step == {literal(layer.steps - 1, bits)};",
        "  wire finish = window_valid && last_step && advance;",
        "  wire issue = window_ready && (!window_valid || finish);",
    ]


def _folded_engine(layer, window, write_lines, reset_lines, counter_lines):
    """The folded engine (G codes per step) and the control block around it: steps 0..S-2
    never wait and store their codes in `partial`; the last step waits for the output
    register and loads it with every channel in order."""
    bits, steps = _step_bits(layer), layer.steps
    unit_width = layer.units * layer.out.bits
    code_bits = layer.out.bits
    order = getattr(layer, "result_order", None) or list(range(layer.out.elements))
    result = "{" + ", ".join(f"codes[{slot * code_bits} +: {code_bits}]" for slot in reversed(order)) + "}"
    out = [
        f"  reg [{(steps - 1) * unit_width - 1}:0] partial;",
        f"  wire [{unit_width - 1}:0] engine_out;",
        f"  wire [{steps * unit_width - 1}:0] codes = {{engine_out, partial}};",
    ]
    rom = getattr(layer, "weight_rom", None)
    if rom is None:
        out.append(f"  {layer.name}_engine u_engine (.in_data(window_data), .step(step), .out_data(engine_out));")
    else:
        width, words, step_port = rom
        if width:
            out += [f"  wire [{bits - 1}:0] step_next = reset || issue || finish ? {literal(0, bits)} : "
                    f"window_valid && !last_step ? step + {literal(1, bits)} : step;",
                    *rom_lines(steps, width, words, "step_next")]
        ports = (".step(step), " if step_port else "") + (".w_data(w_q), " if width else "")
        out.append(f"  {layer.name}_engine u_engine (.in_data(window_data), {ports}.out_data(engine_out));")
    out += [
        "  always @(posedge clock) begin",
        *write_lines,
        f"    if (issue) window_data <= {window};",
        partial_shift("window_valid && !last_step", (steps - 1) * unit_width, unit_width, "engine_out"),
        f"    if (finish) out_data_q <= {result};",
        "    if (reset) begin",
        *reset_lines,
        f"      step <= {literal(0, bits)};",
        "    end else begin",
        *counter_lines,
        "      if (issue) window_valid <= 1'b1;",
        "      else if (finish) window_valid <= 1'b0;",
        f"      if (issue || finish) step <= {literal(0, bits)};",
        f"      else if (window_valid && !last_step) step <= step + {literal(1, bits)};",
        "      if (finish) out_valid_q <= 1'b1;",
        "      else if (out_ready) out_valid_q <= 1'b0;",
        "    end",
        "  end",
    ]
    return out
