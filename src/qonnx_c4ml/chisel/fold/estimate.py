"""A cheap model of a folded dense layer's estimated LUTs at any reuse factor, from its
weights and thresholds alone (no netlist), for the chooser (chisel/fold/choose.py) to try
many reuse factors per layer.

It follows the netlist that `datapath.unit_module` builds and `chisel/logic/cost.py` prices,
with the rows grouped as the generator groups them (`datapath.unit_rows`):
- per unit and input with a non-zero weight in the unit's rows: the select over the S steps
  of the weights' multiples (priced as `cost.node_luts` prices a select: s select bits, d
  non-constant options) and, with weights of both signs, the flip and its sign select;
- per unit: the balanced adder tree of its terms (T - 1 adders, each as wide as the range
  of the terms it sums; a flipped term spans v's and ~v's ranges) and, with thresholds, per decidable column a comparator (a
  subtraction as wide as the accumulator) against a select of constant thresholds, and the
  count adders;
- once per layer: the CSD adders of the odd weight multiples x_k * c, and the stage's
  step counter (as `generate.fold_layer` adds it).
Vectorised over (units, steps, inputs) with numpy, so one call costs about one pass over the
weight matrix.
"""
import numpy as np

from qonnx_c4ml.chisel.arith import csd_digits
from qonnx_c4ml.chisel.fold.datapath import fold_geometry, step_counter_bits, unit_rows
from qonnx_c4ml.chisel.logic.cost import mul_luts


def _bit_length(values):
    """int.bit_length of every non-negative entry."""
    values = np.asarray(values, dtype=np.int64)
    bits = np.zeros(values.shape, dtype=np.int64)
    remaining = values.copy()
    while np.any(remaining):
        bits += remaining > 0
        remaining >>= 1
    return bits


def _signed_bits(lo, hi):
    """Bit width of the narrowest field holding [lo, hi] (vectorised `bits_for_range`)."""
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    unsigned = np.maximum(1, _bit_length(np.maximum(hi, 0)))
    signed = np.maximum(_bit_length(np.maximum(-lo - 1, 0)), _bit_length(np.maximum(hi, 0))) + 1
    return np.where(lo >= 0, unsigned, signed)


def _select_luts(width, select_bits, variable, distinct):
    """`cost.node_luts` of selects (arrays): result `width`, `variable` non-constant options
    among `distinct` ones, over `select_bits` step bits."""
    inputs = select_bits + variable
    per_function = 1 << max(0, select_bits - 6)
    wide = _bit_length(np.maximum(distinct - 1, 1)) * per_function + width * (-(-(distinct - 1) // 3))
    return np.where(inputs <= 5, -(-width // 2), np.where(inputs <= 6, width, np.where(
        variable == 0, width * per_function, wide)))


def _tree_luts(terms, term_bits, acc_bits):
    """LUTs of balanced adder trees summing `terms` operands of about `term_bits` each (arrays
    per unit): level l has floor(n_l / 2) adders of term_bits + l bits, at most acc_bits."""
    total = np.zeros(terms.shape, dtype=np.int64)
    remaining, level = terms.copy(), 1
    while np.any(remaining > 1):
        pairs = remaining // 2
        total += pairs * np.minimum(term_bits + level, acc_bits)
        remaining = pairs + remaining % 2
        level += 1
    return total


def control_luts(steps, memory=False):
    """The stage's step counter and finish logic, and with a weight ROM the step_next mux."""
    return step_counter_bits(steps) * (2 if memory else 1) + 2


def shared_multiple_luts(weights, in_bits):
    """LUTs of the CSD adders of x_k * c for the odd parts of every input's weight magnitudes
    (built once per layer, shared by every unit and step)."""
    ordered = np.sort(np.abs(np.asarray(weights, dtype=np.int64)), axis=0)
    first = np.ones(ordered.shape, dtype=bool)  # the first of each run of equal values in a column
    first[1:] = ordered[1:] != ordered[:-1]
    values, counts = np.unique(ordered[first], return_counts=True)  # each (column, magnitude) once
    total = 0
    for value, count in zip(values.tolist(), counts.tolist()):
        while value and value % 2 == 0:
            value //= 2
        if value > 1:
            total += count * (len(csd_digits(value)) - 1) * (in_bits + value.bit_length())
    return total


class DenseLutModel:
    """Estimated LUTs of one folded QDense layer as a function of its reuse factor (see module doc).

    `weights` (M, K) integer codes, input codes in [x_lo, x_hi], `thresholds` (M, J) or empty."""

    def __init__(self, weights, x_lo, x_hi, thresholds=()):
        self.weights = np.asarray(weights, dtype=np.int64)
        self.x_lo, self.x_hi = int(x_lo), int(x_hi)
        thresholds = np.asarray(thresholds)
        self.columns = thresholds.shape[-1] if thresholds.size else 0
        in_bits = int(_signed_bits(self.x_lo, self.x_hi))
        self.shared = shared_multiple_luts(self.weights, in_bits)
        self.magnitudes = len(np.unique(np.abs(self.weights)))  # distinct |w| in the layer
        low, high = self.weights * self.x_lo, self.weights * self.x_hi
        self.row_lo, self.row_hi = np.minimum(low, high).sum(axis=1), np.maximum(low, high).sum(axis=1)
        self.cache = {}

    def luts(self, reuse_factor):
        """Estimated LUTs of the layer folded by `reuse_factor` (cached per (units, steps))."""
        outputs, n_in = self.weights.shape
        geometry = fold_geometry(outputs, reuse_factor)
        if geometry not in self.cache:
            self.cache[geometry] = self.shared + self._unit_luts(*geometry) + self._control_luts(geometry[1])
        return self.cache[geometry]

    @staticmethod
    def _control_luts(steps):
        return control_luts(steps)

    def _unit_luts(self, units, steps):
        """LUTs of the G units: selects, flips, adder trees, requantization."""
        outputs = self.weights.shape[0]
        index = np.asarray(unit_rows(outputs, units, steps, self.weights))  # (G, S): the row unit u computes at r
        grouped = self.weights[index]  # (G, S, K)
        magnitude = np.abs(grouped)
        largest = magnitude.max(axis=1)  # (G, K)
        used = largest > 0
        mixed = (grouped.min(axis=1) < 0) & (grouped.max(axis=1) > 0)
        extremes = np.stack([largest * self.x_lo, largest * self.x_hi])
        term_lo, term_hi = extremes.min(axis=0), extremes.max(axis=0)
        if steps > 1:  # a flipped term (~v = -v - 1) spans the union of v's and ~v's ranges
            term_lo, term_hi = (np.where(mixed, np.minimum(term_lo, -term_hi - 1), term_lo),
                                np.where(mixed, np.maximum(term_hi, -term_lo - 1), term_hi))
        term_bits = _signed_bits(term_lo, term_hi)
        total = 0
        if steps > 1:
            smallest = magnitude.min(axis=1)
            if self.magnitudes <= 2:  # at most two values: distinct where min != max, no sort needed
                distinct = 1 + (smallest != largest)
            else:
                distinct = 1 + np.count_nonzero(np.diff(np.sort(magnitude, axis=1), axis=1), axis=1)
            variable = distinct - (smallest == 0)
            select_bits = (steps - 1).bit_length()
            selects = np.where(distinct > 1, _select_luts(term_bits, select_bits, variable, distinct), 0)
            sign_distinct = 1 + mixed.astype(np.int64)
            flips = np.where(mixed, -(-term_bits // 2) + _select_luts(1, select_bits, 0, sign_distinct), 0)
            total += int(np.sum(np.where(used, selects + flips, 0)))
        acc_lo = np.minimum.reduce(self.row_lo[index], axis=1)
        acc_hi = np.maximum.reduce(self.row_hi[index], axis=1)
        acc_bits = _signed_bits(acc_lo, acc_hi)  # (G,)
        terms = used.sum(axis=1)
        mean_bits = np.where(terms > 0, np.rint(np.sum(np.where(used, term_bits, 0), axis=1) / np.maximum(terms, 1)),
                             0).astype(np.int64)
        total += int(np.sum(_tree_luts(terms, mean_bits, acc_bits)))
        if self.columns:
            select = _select_luts(acc_bits, (steps - 1).bit_length(), 0, 2) if steps > 1 else 0
            comparators = self.columns * (acc_bits + 1 + select)
            count_bits = max(1, self.columns.bit_length())
            total += int(np.sum(comparators)) + units * max(0, self.columns - 1) * count_bits
        return total


class MemoryLutModel:
    """Estimated LUTs, ROM bits and ROM-word flip-flops of one folded layer in the memory form
    (chisel/fold/memory.py) as functions of its reuse factor; rows in order (unit u, step r:
    row r*G + u).  Per unit: a multiplier (`cost.mul_luts`) per input whose weight varies over
    the unit's rows (its ROM field as wide as their range) -- or, where `memory.use_slots`
    says so, per input slot an S:1 input select and a multiplier --, the balanced adder tree of the
    unit's terms (constant terms included), per threshold column whose value varies a
    comparator against a ROM field (one that does not: a constant comparator); plus the
    stage's control (`control_luts(S, memory=True)`).  Undefined (None) at one step."""

    def __init__(self, weights, x_lo, x_hi, thresholds=()):
        self.weights = np.asarray(weights, dtype=np.int64)
        self.thresholds = np.asarray(thresholds, dtype=np.int64)
        self.x_lo, self.x_hi = int(x_lo), int(x_hi)
        self.in_bits = int(_signed_bits(self.x_lo, self.x_hi))
        self.w_lo, self.w_hi = min(int(self.weights.min()), 0), max(int(self.weights.max()), 0)
        self.weight_bits = int(_signed_bits(self.w_lo, self.w_hi))
        low, high = self.weights * self.x_lo, self.weights * self.x_hi
        self.row_lo, self.row_hi = np.minimum(low, high).sum(axis=1), np.maximum(low, high).sum(axis=1)
        self.cache = {}

    def numbers(self, reuse_factor):
        """(estimated LUTs, ROM bits, ROM word bits) at `reuse_factor`, or None at one step."""
        outputs = self.weights.shape[0]
        units, steps = fold_geometry(outputs, reuse_factor)
        if steps < 2:
            return None
        if (units, steps) not in self.cache:
            self.cache[(units, steps)] = self._numbers(units, steps)
        return self.cache[(units, steps)]

    def luts(self, reuse_factor):
        numbers = self.numbers(reuse_factor)
        return None if numbers is None else numbers[0]

    def _numbers(self, units, steps):
        outputs = self.weights.shape[0]
        index = np.asarray(unit_rows(outputs, units, steps))  # (G, S)
        grouped = self.weights[index]  # (G, S, K)
        w_lo, w_hi = grouped.min(axis=1), grouped.max(axis=1)  # (G, K)
        used, varying = (w_lo != 0) | (w_hi != 0), w_lo != w_hi
        field_bits = np.where(varying, _signed_bits(np.minimum(w_lo, 0), np.maximum(w_hi, 0)), 0)
        field_bits = np.where(varying & (w_lo >= 0), _signed_bits(w_lo, w_hi), field_bits)
        products = np.stack([w_lo * self.x_lo, w_lo * self.x_hi, w_hi * self.x_lo, w_hi * self.x_hi])
        term_bits = _signed_bits(products.min(axis=0), products.max(axis=0))
        # input slots (memory.use_slots) where a unit's rows each use few of many inputs
        per_row = np.count_nonzero(grouped, axis=2).max(axis=1)  # (G,)
        multiplier = int(mul_luts(self.in_bits, self.weight_bits))
        select = self.in_bits * -(-(steps - 1) // 3)
        union = used.sum(axis=1)
        slots = per_row * (multiplier + select) < union * multiplier
        total = int(np.sum(np.where(slots, 0, np.sum(np.where(varying, mul_luts(self.in_bits, field_bits), 0), axis=1))))
        total += int(np.sum(np.where(slots, per_row * (multiplier + select), 0)))
        acc_lo = np.minimum.reduce(self.row_lo[index], axis=1)
        acc_hi = np.maximum.reduce(self.row_hi[index], axis=1)
        acc_bits = _signed_bits(acc_lo, acc_hi)  # (G,)
        terms = np.where(slots, per_row, union)
        product = np.stack([v * self.x_lo for v in (self.w_lo, self.w_hi)] + [v * self.x_hi for v in (self.w_lo, self.w_hi)])
        slot_bits = int(_signed_bits(product.min(), product.max()))
        mean_bits = np.where(union > 0, np.rint(np.sum(np.where(used, term_bits, 0), axis=1) / np.maximum(union, 1)),
                             0).astype(np.int64)
        mean_bits = np.where(slots, slot_bits, mean_bits)
        total += int(np.sum(_tree_luts(terms, mean_bits, acc_bits)))
        field_bits = np.where(slots[:, None], 0, field_bits)
        word = int(field_bits.sum()) + int(np.sum(np.where(slots, per_row * self.weight_bits, 0)))
        if self.thresholds.size:
            columns = self.thresholds.shape[-1]
            levels = self.thresholds[index]  # (G, S, J)
            varies = levels.min(axis=1) != levels.max(axis=1)  # (G, J)
            total += int(np.sum(varies.sum(axis=1) * (acc_bits + 1)))
            total += units * max(0, columns - 1) * max(1, columns.bit_length())
            word += int(np.sum(varies * (acc_bits + 1)[:, None]))
        return total + control_luts(steps, memory=True), word * steps, word
