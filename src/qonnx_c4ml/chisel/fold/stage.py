"""The Verilog of one folded dense layer as a valid/ready stage (docs/ARCHITECTURE.md §3's
streaming handshake, one beat = one whole vector).

    in_valid/in_ready/in_data (K codes) -> x_q, busy, step -> unit (G codes per step)
    -> partial results of steps 0..S-2 (a shift register) -> result (M codes, held until out_ready)

A vector is taken when the stage is idle, or in the cycle its last step moves to the
result register (so a stream of vectors runs at one per S cycles); steps 0..S-2 never
wait, the last waits until the result register is free (empty, or read this cycle).
Latency S + 1 cycles from in_valid && in_ready to out_valid.  in_ready depends on
out_ready combinationally (through the finishing step), like a chain of pipeline stages.

With a weight ROM (the memory form, chisel/fold/memory.py) the unit reads `w_q` instead of
`step`: a register loaded every cycle with ROM[step_next], the step counter's next value
(0 on reset, take or finish; step + 1 while a vector is in its steps), so it always holds
the current step's word and the timing above is unchanged.
"""
from qonnx_c4ml.chisel.fold.memory import partial_shift, rom_lines
from qonnx_c4ml.chisel.hw import literal
from qonnx_c4ml.chisel.ports import module_header


def _result(out_width, order):
    """The expression loaded into the result register: the codes in output order."""
    if order is None:
        return f"codes[{out_width - 1}:0]"
    slots, bits = order
    return "{" + ", ".join(f"codes[{slot * bits} +: {bits}]" for slot in reversed(slots)) + "}"


def stage_verilog(name, unit, in_width, unit_width, out_width, steps, order=None, rom=None):
    """`name`: the stage around the unit module `unit` (in_data in_width bits, out_data
    unit_width bits per step, `steps` steps); out_data is the low out_width bits of the
    steps' results, step 0 in the LSBs, or with `order` = (slots, bits) output element m is
    the `bits`-bit code in slot slots[m] of them (the units computed rows out of order).
    `rom` = (width, words, step_port): the unit's weight ROM (memory form, steps > 1; width 0:
    no w_data) and whether the unit also reads `step` (its input slots)."""
    lines = [
        *module_header(name, in_width, out_width, streaming=True),
        "  reg busy;",
        f"  reg [{in_width - 1}:0] x_q;",
        f"  reg [{out_width - 1}:0] result;",
        "  reg result_valid;",
        f"  wire [{unit_width - 1}:0] unit_out;",
    ]
    if steps > 1:
        step_bits = max(1, (steps - 1).bit_length())
        lines += [
            f"  reg [{step_bits - 1}:0] step;",
            f"  reg [{(steps - 1) * unit_width - 1}:0] partial;",
            f"  wire last = step == {literal(steps - 1, step_bits)};",
            f"  wire [{steps * unit_width - 1}:0] codes = {{unit_out, partial}};",
        ]
        if rom is None:
            lines.append(f"  {unit} u_unit (.in_data(x_q), .step(step), .out_data(unit_out));")
        elif not rom[0]:
            step_port = ".step(step), " if rom[2] else ""
            lines.append(f"  {unit} u_unit (.in_data(x_q), {step_port}.out_data(unit_out));")
    else:
        lines += ["  wire last = 1'b1;", f"  wire [{unit_width - 1}:0] codes = unit_out;",
                  f"  {unit} u_unit (.in_data(x_q), .out_data(unit_out));"]
    lines += [
        "  wire finish = busy && last && (!result_valid || out_ready);",
        "  assign in_ready = !busy || finish;",
        "  wire take = in_valid && in_ready;",
    ]
    if rom is not None and rom[0]:
        lines += [f"  wire [{step_bits - 1}:0] step_next = reset || take || finish ? {literal(0, step_bits)} : "
                  f"busy && !last ? step + {literal(1, step_bits)} : step;",
                  *rom_lines(steps, rom[0], rom[1], "step_next"),
                  f"  {unit} u_unit (.in_data(x_q), {'.step(step), ' if rom[2] else ''}.w_data(w_q), "
                  ".out_data(unit_out));"]
    lines += [
        "  always @(posedge clock) begin",
        "    if (take) x_q <= in_data;",
        f"    if (finish) result <= {_result(out_width, order)};",
    ]
    if steps > 1:
        lines.append(partial_shift("busy && !last", (steps - 1) * unit_width, unit_width, "unit_out"))
    lines += [
        "    if (reset) begin",
        "      busy <= 1'b0;",
        "      result_valid <= 1'b0;",
    ]
    if steps > 1:
        lines.append(f"      step <= {literal(0, step_bits)};")
    lines += [
        "    end else begin",
        "      if (take) busy <= 1'b1;",
        "      else if (finish) busy <= 1'b0;",
    ]
    if steps > 1:
        lines += [f"      if (take || finish) step <= {literal(0, step_bits)};",
                  f"      else if (busy && !last) step <= step + {literal(1, step_bits)};"]
    lines += [
        "      if (finish) result_valid <= 1'b1;",
        "      else if (out_ready) result_valid <= 1'b0;",
        "    end",
        "  end",
        "  assign out_valid = result_valid;",
        "  assign out_data = result;",
        "endmodule",
    ]
    return "\n".join(lines) + "\n"
