"""The memory form of a folded layer's units: the same G units and S steps as the constant
form (chisel/fold/datapath.py: unit u computes row rows[u][r] over all K inputs at step r,
same ports but `step`, same stage timing), but every per-step constant comes from one word
of a weight ROM instead of a select over the step:

    w_data = ROM[step]  (G units x their used inputs' weights, and the thresholds, per step)
    unit u:  acc_u = sum_k x_k * w_data[u, k]    (`mul`: variable x variable)
             code_u = requantize(acc_u, thresholds from w_data)   (datapath.requantize_unit)

An input whose weight is the same in all of a unit's rows keeps its constant multiple
(shared CSD shift-adds, no ROM field); an input that is zero in all of them costs nothing.
A unit whose rows each use few of many inputs (a depthwise or grouped conv's W': 9 taps of
9*C window elements per row) has input slots instead (`use_slots`): slot t multiplies the
t-th non-zero input of the step's row, chosen by a select over `step` (then a `step` port
too), by its ROM field -- 9 multipliers and selects instead of 9*S multipliers.
Each ROM field holds its per-step values in two's complement at the width of their range
[min, max] (the Value is narrowed to that range, so widths stay exact).  The stage
(fold/stage.py, stream/layer_verilog.py) holds the word in a register loaded with the next
step's word (`rom_lines`): a registered read, which yosys/Vivado map to block ROM, and the
word always matches `step`, so the II and latency are the constant form's.

Why: the constant form's select over S steps grows with S (a 1024-step select of 16 distinct
multiples is ~100 LUTs per term); the memory form's term is a multiplier whose size does not
depend on S, and the weights become ROM bits (MobileNet-v1 4-bit: 4.2 M weights)."""
import numpy as np

from qonnx_c4ml.chisel.arith import balanced_sum
from qonnx_c4ml.chisel.fold.datapath import _Multiples, fold_geometry, requantize_unit, unit_rows
from qonnx_c4ml.chisel.hw import Module, literal
from qonnx_c4ml.chisel.logic.cost import mul_luts
from qonnx_c4ml.interface import Port
from qonnx_c4ml.lbir.dense import accumulator_range
from qonnx_c4ml.lbir.dtypes import bits_for_range, datatype_range


class InMemory(int):
    """A reuse factor whose layer is folded in the memory form: an int everywhere else (the
    streaming generator passes reuse factors through to fold/conv.folded_conv_engine)."""
    weight_memory = True

    def __repr__(self):
        return f"InMemory({int(self)})"


class WeightRom:
    """The fields of a unit's ROM word, allocated LSB first: `field(values, base)` is the Value
    of a new field that reads values[r] at step r (a constant when all are equal).  Its
    evaluator column is `first_column` + the field's number."""

    def __init__(self, module, steps, first_column, bus="w_data"):
        self.module, self.steps, self.first_column, self.bus = module, steps, first_column, bus
        self.fields = []  # (offset, bits, values)
        self.width = 0

    def field(self, values, base):
        values = [int(v) for v in values]
        if len(values) != self.steps:
            raise ValueError(f"{base}: {len(values)} values for {self.steps} steps")
        lo, hi = min(values), max(values)
        if lo == hi:
            return self.module.const(lo)
        bits, signed = bits_for_range(lo, hi)
        value = self.module.input_element(self.bus, self.first_column + len(self.fields), bits, signed,
                                          bit_offset=self.width)
        self.fields.append((self.width, bits, values))
        self.width += bits
        return self.module.narrow(value, lo, hi) if (lo, hi) != (value.lo, value.hi) else value

    def words(self):
        """The ROM contents: one integer per step (field 0 in the LSBs)."""
        words = [0] * self.steps
        for offset, bits, values in self.fields:
            mask = (1 << bits) - 1
            for r, v in enumerate(values):
                words[r] |= (v & mask) << offset
        return words

    def columns(self, step):
        """The fields' values at `step`, in field order (the evaluator's input columns)."""
        return [values[step] for _, _, values in self.fields]

    @property
    def bits(self):
        """ROM bits: word width x depth."""
        return self.width * self.steps


def memory_unit_module(name, weights, in_port, out_dtype, requant, thresholds, out_base, reuse_factor,
                       threshold_weights=()):
    """The memory-form unit netlist of one folded layer (see module doc).  Returns (Module,
    out Port of one unit's code, units G, steps S, rows, WeightRom): ports in_data (K codes),
    w_data (the ROM word of the current step, WeightRom.width bits; absent when nothing varies),
    out_data (G codes).  Needs S > 1 (at one step every weight is a constant: the constant form)."""
    weights = np.asarray(weights, dtype=np.int64)
    outputs, n_in = weights.shape
    units, steps = fold_geometry(outputs, reuse_factor)
    if steps < 2:
        raise ValueError(f"{name}: the memory form needs at least 2 steps (R = {reuse_factor}, {outputs} rows)")
    rows = unit_rows(outputs, units, steps)  # in order: the ROM, not grouping, absorbs the differences
    dlo, dhi = datatype_range(out_dtype)
    out = Port(1, *bits_for_range(dlo, dhi))
    module = Module(name)
    module.port("input", "in_data", n_in * in_port.bits)
    module.port("output", "out_data", units * out.bits)
    rom = WeightRom(module, steps, n_in + 1)  # evaluator columns: inputs, step, fields
    used = sorted(int(k) for k in np.flatnonzero(np.any(weights != 0, axis=0)))
    inputs = {k: module.input_element("in_data", k, in_port.bits, in_port.signed) for k in used}
    multiples = _Multiples(module, inputs)
    xlo, xhi = in_port.code_range
    row_lo, row_hi = accumulator_range(weights, xlo, xhi)
    thresholds = np.asarray(thresholds, dtype=np.int64)
    module.comment(f"memory form: {units} units x {steps} steps for {outputs} rows, weights from the ROM word")
    layer_bits = bits_for_range(min(int(weights.min()), 0), max(int(weights.max()), 0))[0]
    step = None
    for u, unit in enumerate(rows):
        nonzero = [[int(k) for k in np.flatnonzero(weights[m])] for m in unit]
        if use_slots(len({k for ks in nonzero for k in ks}), max(map(len, nonzero)), steps, in_port.bits, layer_bits):
            if step is None:
                step = module.index_input("step", steps, n_in)
            terms = _slot_terms(module, inputs, rom, step, weights, unit, nonzero, f"u{u}")
        else:
            terms = _column_terms(module, inputs, multiples, rom, weights, unit, used, f"u{u}")
        acc = balanced_sum(module, terms, base=f"acc{u}")
        ranges = [(int(row_lo[m]), int(row_hi[m])) for m in unit]
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        if not acc.is_constant and acc.lo <= lo <= hi <= acc.hi:
            acc = module.narrow(acc, lo, hi)
        if requant == "thresholds":
            code = requantize_unit(module, acc, rom.field, thresholds[unit], ranges, int(out_base),
                                   list(threshold_weights), f"out{u}")
        else:
            code = acc
        if not code.is_constant and (code.lo < dlo or code.hi > dhi):
            code = module.narrow(code, max(code.lo, dlo), min(code.hi, dhi))
        module.output("out_data", u * out.bits, code, out.bits, out.signed)
    if rom.width:
        module.port("input", "w_data", rom.width)
    rom.step_port = step is not None
    return module, out, units, steps, rows, rom


def use_slots(union, per_row, steps, in_bits, weight_bits):
    """True when a unit whose rows use `union` inputs in all, at most `per_row` in any one, is
    smaller with per_row input slots (an S:1 select of the input and a multiplier each) than
    with a multiplier per input (a depthwise conv's window: 9 per row, 9 * S in all)."""
    multiplier = mul_luts(in_bits, weight_bits)
    return per_row * (multiplier + in_bits * -(-(steps - 1) // 3)) < union * multiplier


def _column_terms(module, inputs, multiples, rom, weights, unit, used, name):
    """A term per used input k: x_k * (its ROM field), or its shared constant multiple when the
    weight is the same in every step."""
    terms = []
    for k in used:
        column = [int(weights[m, k]) for m in unit]
        if not any(column):
            continue
        if len(set(column)) == 1:
            terms.append((multiples.of(k, column[0]), 1))
        else:
            terms.append((module.mul(inputs[k], rom.field(column, f"{name}_w{k}"), base=f"{name}_p{k}"), 1))
    return terms


def _slot_terms(module, inputs, rom, step, weights, unit, nonzero, name):
    """A term per input slot t: the t-th non-zero input of the step's row (the select over the
    steps; a row with fewer keeps the previous step's input at weight 0) times its ROM field."""
    terms = []
    for t in range(max(map(len, nonzero))):
        chosen, factors = [], []
        for m, ks in zip(unit, nonzero):
            k = ks[t] if t < len(ks) else (chosen[-1] if chosen else ks[0] if ks else None)
            chosen.append(k)
            factors.append(int(weights[m, k]) if t < len(ks) else 0)
        if not any(factors):
            continue
        first = next(k for k in chosen if k is not None)
        x = module.select(step, [inputs[first if k is None else k] for k in chosen], base=f"{name}_x{t}")
        terms.append((module.mul(x, rom.field(factors, f"{name}_w{t}"), base=f"{name}_p{t}"), 1))
    return terms


def partial_shift(condition, partial_width, unit_width, value):
    """The line that keeps the codes of steps 0..S-2 in `partial` (step 0 in the LSBs at the last
    step): a shift register taking `value` in at the top while `condition` (a step before the
    last) -- one statement for any S, where a write per step slot made S decoders (and, at
    S = 1024, a 48 MB C++ file in Verilator)."""
    shifted = value if partial_width == unit_width else f"{{{value}, partial[{partial_width - 1}:{unit_width}]}}"
    return f"    if ({condition}) partial <= {shifted};"


ROM_COMMENT = "  // {name}: {steps} words x {width} bits = {bits} bits (registered read)"


def rom_bits_in_file(path, name="weight_rom"):
    """The ROM bits a generated layer file declares (its rom_lines comment; 0 without one): what
    the report states for a streaming layer, whose description is written from its geometry."""
    prefix = f"  // {name}: "
    with open(path, encoding="utf-8") as text:
        for line in text:
            if line.startswith(prefix) and line.rstrip().endswith("bits (registered read)"):
                return int(line.split(" = ")[1].split()[0])
    return 0


def rom_lines(steps, width, words, step_next, register="w_q", name="weight_rom"):
    """Verilog lines of the registered ROM read `register` <= ROM[step_next] (a case statement
    in a clocked block: Verilator builds 4 Mbit of it in ~6 s, yosys's proc_rom infers a ROM).
    `step_next` is the expression of the step counter's next value, so `register` always holds
    the word of the current step."""
    bits = max(1, (steps - 1).bit_length())
    lines = [ROM_COMMENT.format(name=name, steps=steps, width=width, bits=steps * width),
             f"  reg [{width - 1}:0] {register};",
             "  always @(posedge clock) begin",
             f"    case ({step_next})"]
    lines += [f"      {literal(r, bits)}: {register} <= {literal(word, width)};" for r, word in enumerate(words)]
    lines += [f"      default: {register} <= {literal(words[0], width)};" if (1 << bits) > steps else None,
              "    endcase", "  end"]
    return [line for line in lines if line is not None]
