"""The units of one folded dense layer: G = ceil(M / R) constant-weight dot products that
compute the layer's M outputs over S = ceil(M / G) <= R steps.

At step r (the `step` input, 0..S-1) unit u computes row m = r*G + u; a row past M repeats
the unit's previous row (its result is never stored).  The weights stay constants of the
logic: x_k * c is built once per (input k, weight c) from canonical signed digits
(`arith.ConstantMultipliers`) and shared by every unit and step, and unit u's term for input
k is the select over r of x_k * W[row(u, r), k] (no term when all are zero, no select when
all are equal).  Weights of both signs select the magnitude's multiple and flip it (~v =
-v - 1, an XOR per bit) in the negative steps; the +1s that complete those negations are a
per-step constant ones[r], folded into the thresholds (T - ones[r]) or, without
requantization, added once per unit -- no negated copies of the inputs, no mux between x
and -x.  Terms are summed by `arith.balanced_sum`; the accumulator's range is the union of
its rows' exact ranges (`lbir.dense.accumulator_range`), so requantization stays exact:
- shift form: when every row's reachable thresholds are an evenly spaced power-of-two
  staircase with the same count n >= 3 and the same shift s,
  code = base_r + clamp((acc - (T_r0 - 2**s)) >> s, 0, n), with the offset and base_r
  selected by the step;
- comparator form otherwise: for each threshold column j, acc >= select_r(T'[row, j]),
  where T' is T clamped into the row's own reachable range (a column no row can decide
  is a constant), and code = out_base + sum_j w_j [acc >= T'_j].
Ports: `in_data` (K codes), `step` (when S > 1), `out_data` (G codes, unit 0 in the LSBs).
"""
import hashlib

import numpy as np

from qonnx_c4ml.chisel.arith import (
    ConstantMultipliers, balanced_sum, csd_digits, split_power_of_two, staircase_as_shift)
from qonnx_c4ml.chisel.hw import Module
from qonnx_c4ml.interface import Port
from qonnx_c4ml.lbir.dense import accumulator_range
from qonnx_c4ml.lbir.dtypes import bits_for_range, datatype_range


def fold_geometry(outputs, reuse_factor):
    """(units G, steps S) for M = `outputs` rows folded by `reuse_factor` R: G = ceil(M/R),
    S = ceil(M/G) (<= R; R above M is M)."""
    if int(reuse_factor) < 1:
        raise ValueError(f"reuse factor must be >= 1, got {reuse_factor}")
    units = -(-outputs // min(int(reuse_factor), outputs))
    return units, -(-outputs // units)


def step_counter_bits(steps):
    """Bits of a folded stage's step counter (0: one step, no counter)."""
    return max(1, (steps - 1).bit_length()) if steps > 1 else 0


def slot_order(rows, units, outputs):
    """order[m]: the slot r * G + u (step r, unit u) whose code is output row m, for the
    rows[u][r] that unit_module returns (a row past M repeats an earlier one: its first slot counts)."""
    slots = {}
    for u, row in enumerate(rows):
        for r, m in enumerate(row):
            slots.setdefault(m, r * units + u)
    return [slots[m] for m in range(outputs)]


# Grouping compares every candidate row with every row of a unit; above this many weight
# comparisons per layer (M * M * K) it compares with the unit's first row only.
MAX_GROUPING_COMPARISONS = 50_000_000


# unit_rows' groupings by (outputs, units, steps, the weights' shape and digest): the folded
# style's chooser, its operator estimate and the datapath ask for the same layers' rows again
_GROUPINGS = {}
MAX_GROUPINGS = 512


def unit_rows(outputs, units, steps, weights=None):
    """rows[u][r]: the weight row unit u computes at step r (a row past M repeats r-1's).

    Without `weights`, row r*G + u.  With them, rows that look alike share a unit (greedy:
    each unit starts from the lowest free row and takes, one by one, the free row with the
    fewest weights the unit does not have yet for the same input), so fewer terms need a
    select or a flip; the stage puts the outputs back in order.  Groupings are kept
    (_GROUPINGS): the same layer and fold get the same rows without grouping again."""
    if weights is None or steps == 1:
        return _group_rows(outputs, units, steps, weights)
    weights = np.ascontiguousarray(weights, dtype=np.int64)
    key = (outputs, units, steps, weights.shape, hashlib.sha256(weights.tobytes()).hexdigest())
    if key not in _GROUPINGS:
        if len(_GROUPINGS) >= MAX_GROUPINGS:
            _GROUPINGS.clear()
        _GROUPINGS[key] = _group_rows(outputs, units, steps, weights)
    return [list(row) for row in _GROUPINGS[key]]


def _group_rows(outputs, units, steps, weights):
    """unit_rows without the kept groupings."""
    if weights is None or steps == 1:
        order = [[r * units + u for r in range(steps)] for u in range(units)]
    else:
        weights = np.asarray(weights)
        free = list(range(outputs))
        seed_only = outputs * outputs * weights.shape[1] > MAX_GROUPING_COMPARISONS
        order = []
        for _ in range(units):
            group = [free.pop(0)] if free else []
            if seed_only and free and len(group) < steps:  # the nearest rows to the first
                distance = np.count_nonzero(weights[free] != weights[group[0]], axis=1)
                nearest = sorted(np.argsort(distance, kind="stable")[:steps - 1].tolist(), reverse=True)
                group += [free.pop(i) for i in nearest]
            while free and len(group) < steps:
                members = weights[group]  # (g, K)
                candidates = weights[free]  # (F, K)
                new = np.all(candidates[:, None, :] != members[None, :, :], axis=1).sum(axis=1)
                group.append(free.pop(int(np.argmin(new))))
            order.append(group)
    rows = []
    for group in order:
        row = []
        for r in range(steps):
            m = group[r] if r < len(group) else None
            row.append(m if m is not None and m < outputs else row[-1])
        rows.append(row)
    return rows


class _Multiples:
    """x_k * c for every (k, c), built once: CSD constant multiples, negated once per negative c."""

    def __init__(self, module, inputs):
        self.module, self.inputs = module, inputs
        self.products = ConstantMultipliers(module)
        self.cache = {}

    def of(self, k, c):
        if c == 0:
            return self.module.const(0)
        if (k, c) not in self.cache:
            if c < 0:
                value = self.module.neg(self.of(k, -c), base=f"x{k}_neg{-c}")
            else:
                odd, e = split_power_of_two(c)
                value = self.module.shift_left(self.products.times_odd(self.inputs[k], odd), e, base=f"x{k}_mul{c}")
            self.cache[(k, c)] = value
        return self.cache[(k, c)]


def _select_multiples(module, multiples, step, k, factors, name):
    """The select over steps of x_k * factors[r] (non-negative factors)."""
    distinct = sorted(set(factors))
    number = {c: i for i, c in enumerate(distinct)}
    return module.select_table(step, [multiples.of(k, c) for c in distinct], [number[c] for c in factors], base=name)


def _term(module, multiples, step, k, weights, name):
    """(value, sign, ones) of input k's term in a unit with these per-step weights, or None.

    Weights of one sign: a select of positive multiples, added or subtracted.  Mixed signs:
    the magnitude's multiple selected, then flipped (~v = -v - 1, an XOR per bit) in the
    steps whose weight is negative; `ones[r]` (1 there) is the "+1" that completes the
    negation, which the unit adds once for all its terms (or folds into its thresholds)."""
    if not any(weights):
        return None
    if all(w <= 0 for w in weights):  # all negative: select positive multiples, subtract
        return _select_multiples(module, multiples, step, k, [-w for w in weights], name), -1, None
    if all(w >= 0 for w in weights):
        return _select_multiples(module, multiples, step, k, weights, name), 1, None
    magnitude = _select_multiples(module, multiples, step, k, [abs(w) for w in weights], f"{name}_mag")
    ones = [int(w < 0) for w in weights]
    sign = module.select_table(step, [module.const(0), module.const(1)], ones, base=f"{name}_neg")
    return module.flip(sign, magnitude, base=name), 1, ones


def _shift_form(thresholds, row_ranges):
    """[(offset_r, base_r)], n, shift of the shift form, or None (see module doc)."""
    forms = []
    for t, (lo, hi) in zip(thresholds, row_ranges):
        reachable = [int(v) for v in t if lo < v <= hi]
        shape = staircase_as_shift(reachable) if len(reachable) >= 3 else None
        if shape is None:
            return None
        forms.append((reachable[0] - (1 << shape[1]), sum(1 for v in t if v <= lo), len(reachable), shape[1]))
    if len({(n, s) for _, _, n, s in forms}) != 1:
        return None
    return [(offset, always) for offset, always, _, _ in forms], forms[0][2], forms[0][3]


def step_constants(module, step):
    """per_step(values, base) of the constant form: the select over `step` of constant values."""
    return lambda values, base: module.select(step, [module.const(int(v)) for v in values], base=base)


def requantize_unit(module, acc, per_step, thresholds, row_ranges, out_base, weights, name):
    """The unit's output code for per-step threshold rows `thresholds` (S, J) (see module doc);
    `per_step(values, base)` is the Value that equals values[r] at step r (`step_constants`, or a
    field of the weight ROM: chisel/fold/memory.py)."""
    if not len(weights) or all(int(w) == 1 for w in weights):
        shift = _shift_form(thresholds, row_ranges)
        if shift is not None:
            forms, n, s = shift
            offset = per_step([o for o, _ in forms], f"{name}_t0")
            steps = module.shift_right(module.sub(acc, offset, base=f"{name}_off"), s, base=f"{name}_steps")
            count = module.clamp(steps, 0, n, base=f"{name}_sat")
            base = per_step([out_base + a for _, a in forms], f"{name}_base")
            return count if base.is_constant and base.lo == 0 else module.add(count, base, base=f"{name}_code")
        weights = [1] * thresholds.shape[1]
    base, terms = out_base, []
    for j, w in enumerate(int(v) for v in weights):
        clamped = [min(max(int(t[j]), lo), hi + 1) for t, (lo, hi) in zip(thresholds, row_ranges)]
        as_union = [acc.lo if c <= lo else acc.hi + 1 if c > hi else c
                    for c, (lo, hi) in zip(clamped, row_ranges)]
        if all(c <= acc.lo for c in as_union):
            base += w
            continue
        if all(c > acc.hi for c in as_union):
            continue
        level = per_step(as_union, f"{name}_t{j}")
        bit = module.at_least_value(acc, level, base=f"{name}_ge{j}")
        terms += [(module.shift_left(bit, b, base=f"{name}_w{j}_{b}") if b else bit, 1)
                  for b in range(w.bit_length()) if w >> b & 1]
    count = balanced_sum(module, terms, base=f"{name}_count")
    return count if base == 0 else module.add(count, module.const(base), base=f"{name}_code")


def unit_module(name, weights, in_port, out_dtype, requant, thresholds, out_base, reuse_factor,
                threshold_weights=()):
    """The unit netlist of one folded QDense layer (see module doc).  Returns (Module,
    out Port of one unit's code, units G, steps S, rows: rows[u][r] the row unit u computes
    at step r)."""
    weights = np.asarray(weights, dtype=np.int64)
    outputs, n_in = weights.shape
    units, steps = fold_geometry(outputs, reuse_factor)
    rows = unit_rows(outputs, units, steps, weights)
    dlo, dhi = datatype_range(out_dtype)
    out = Port(1, *bits_for_range(dlo, dhi))
    module = Module(name)
    module.port("input", "in_data", n_in * in_port.bits)
    step = module.index_input("step", steps, n_in) if steps > 1 else module.const(0)
    module.port("output", "out_data", units * out.bits)
    used = sorted(int(k) for k in np.flatnonzero(np.any(weights != 0, axis=0)))
    inputs = {k: module.input_element("in_data", k, in_port.bits, in_port.signed) for k in used}
    multiples = _Multiples(module, inputs)
    xlo, xhi = in_port.code_range
    row_lo, row_hi = accumulator_range(weights, xlo, xhi)
    module.comment(f"{units} units x {steps} steps for {outputs} rows over {len(used)} of {n_in} inputs")
    thresholds = np.asarray(thresholds, dtype=np.int64)
    for u, unit in enumerate(rows):
        terms = [_term(module, multiples, step, k, [int(weights[m, k]) for m in unit], f"u{u}_x{k}") for k in used]
        terms = [t for t in terms if t is not None]
        # acc = the sum of the terms + ones[r]: the +1s of the flipped terms, per step
        ones = [sum(t[2][r] for t in terms if t[2] is not None) for r in range(steps)]
        ranges = [(int(row_lo[m]) - c, int(row_hi[m]) - c) for m, c in zip(unit, ones)]  # of the sum alone
        acc = balanced_sum(module, [(v, sign) for v, sign, _ in terms], base=f"acc{u}")
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        if not acc.is_constant and acc.lo <= lo <= hi <= acc.hi:
            acc = module.narrow(acc, lo, hi)
        if requant == "none" and any(ones):
            acc = module.add(acc, module.select(step, [module.const(c) for c in ones], base=f"acc{u}_ones"),
                             base=f"acc{u}_full")
            true_lo, true_hi = min(int(row_lo[m]) for m in unit), max(int(row_hi[m]) for m in unit)
            if acc.lo <= true_lo <= true_hi <= acc.hi:
                acc = module.narrow(acc, true_lo, true_hi)
        thresholds_u = thresholds[unit] - np.asarray(ones)[:, None] if requant == "thresholds" else None
        if requant == "thresholds":
            code = requantize_unit(module, acc, step_constants(module, step), thresholds_u, ranges, int(out_base),
                                   list(threshold_weights), f"out{u}")
        else:
            code = acc
        if not code.is_constant and (code.lo < dlo or code.hi > dhi):  # the rows' codes fit out_dtype
            code = module.narrow(code, max(code.lo, dlo), min(code.hi, dhi))
        module.output("out_data", u * out.bits, code, out.bits, out.signed)
    return module, out, units, steps, rows


def estimate_folded_operators(weights, thresholds, reuse_factor):
    """Upper estimate of a folded layer's adders and comparators from its attributes: per
    unit one adder per input with a non-zero weight in any of its rows, the CSD extras of
    each (input, weight) multiple once, and per unit a comparator and a count adder per
    threshold column."""
    weights = np.asarray(weights, dtype=np.int64)
    outputs, n_in = weights.shape
    units, steps = fold_geometry(outputs, reuse_factor)
    rows = np.asarray(unit_rows(outputs, units, steps, weights))  # (G, S)
    terms = int(np.count_nonzero(np.any(weights[rows] != 0, axis=1)))  # (G, S, K) -> (G, K)
    digits = sum(len(csd_digits(int(v))) for k in range(n_in) for v in np.unique(np.abs(weights[:, k])) if v)
    columns = np.asarray(thresholds).shape[-1] if np.asarray(thresholds).size else 0
    return terms + digits + 2 * units * columns
