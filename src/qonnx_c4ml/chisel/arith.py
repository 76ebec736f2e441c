"""Arithmetic with constants: dot products as shift-add logic, requantization circuits.

- Terms.  Every non-zero weight is split into its canonical signed digits: w * x is a sum
  of +-x << k, and a layer's rows are lists of such digit terms.  Zero weights produce
  nothing.  Where the digit terms of a layer would have too many pairs for generation to
  stay under a second (MAX_DIGIT_PAIRS_PER_LAYER, DIGIT_PAIRS_FACTOR: 8-bit weights), terms
  are whole weights instead, sign * odd * 2**e with x * odd built once per (input, odd)
  from the digits of `odd` and shared by every row; the 2**e is wiring.
- Common subexpressions across rows (arith_share.greedy_shared_terms): a pair of terms
  that recurs in several rows (same inputs, relative shift and sign; 4x - x = 3x in two rows
  is one) is one shared adder, chosen greedily by exact occurrence counts that are updated
  after every choice, pairs of pairs included, up to MAX_SHARE_LEVEL adder levels.
- Exact widths: every pair and partial sum is narrowed to the exact range of the integer
  combination of inputs it computes (inputs are independent, so sum |c_k| * range_k is
  exact; interval arithmetic over-estimates 8x - x), and the generator tells a layer the
  exact code ranges of the layer before it (generator.linear_module's `in_ranges`).
- A dot product's terms are summed earliest-ready first (`timed_sum`: a shared pair is
  ready one adder level after its operands), so sharing does not lengthen the path; among
  equally early terms those of similar range are paired so intermediate widths stay small.
  Other sums are balanced adder trees (depth ceil(log2 n)).  Subtractions replace negations.
- Requantization: a monotone staircase `base + #{k : acc >= T_k}`.  Thresholds outside the
  accumulator's reachable range cost nothing; evenly spaced power-of-two steps become
  subtract + arithmetic shift + saturate (round-half-even's alternating ties add one
  low-bit comparison); anything else a comparator per threshold and a population count.
  Measured and not kept: the count's binary digits from the thermometer code by 1-bit mux
  trees instead of adders (random w4a4 below: 32,307 -> 32,513 LUTs, depth 47 -> 48;
  w2a2 2,234 -> 2,219, depth 16 -> 17): abc maps the small popcount adders as well.

Measured on the random unpruned jets nets (models.random_mlp 16-64-32-32-5, seed 0, pipeline
none, yosys generic-fast, `benchmarks/circuit_quality.py --prune 0`), LUTs / depth:
w2a2 2,957 / 19 before this design -> 2,284 / 15 with exact ranges across layers (layers
1-3 are mostly constant: 28 of layer 1's 32 rows reach no threshold, and their adders had
taken part in pair sharing) -> 2,234 / 16 with greedy extraction (layer 0: 387 -> 368
adders, da4ml's CMVM solution has 368); w4a4 36,346 / 46 -> 34,041 / 46 -> 33,568 / 46 ->
32,307 / 47 with digit terms (the 64-input layer's dense part alone 17,734 -> 16,676 LUTs,
da4ml 16,671).  da4ml 0.6.0: w2a2 2,110 / 14, w4a4 38,338 / 45; alkaid 0.8.2 2,453 / 15,
32,432 / 44.  Where the rest goes (w2a2 layer 0, dense part alone, 368 adders each): ours
1,832 LUTs, da4ml 1,579; yosys' alumacc merges our fan-out-1 adder chains into $macc cells
(68 against da4ml's 36; maccmap makes carry-save trees of them): the same Verilog through
synth without alumacc gives 1,699 LUTs (da4ml 1,586), the whole layer 1,791 (da4ml 1,791).
What blocks those merges is the operand form, not the adder graph: da4ml's adders take
operands with their sign bits repeated explicitly, which are no longer the producing adder's
output signal.  logic/verilog.py now writes every adder that way (`extended`): layer 0's dense
part 1,832 -> 1,683 LUTs, depth 6 -> 5 ($alu/$macc 92/68 -> 322/24, da4ml 300/36, adder
width histograms equal within a few adders); whole nets w2a2 2,234 / 16 -> 2,035 / 15
(da4ml 2,110 / 14), w4a4 32,307 / 47 -> 31,917 / 44 (da4ml 38,338 / 45).  Verilator speed
on those nets (200k samples, median of 5): w2a2 1.47M -> 1.38M samples/s, w4a4 134k -> 132k.
synth_xilinx (-nodsp) LUTs + CARRY4 / depth: w2a2 2,482 + 545 / 24 -> 1,910 + 804 / 23 (da4ml
1,960 + 793 / 20), w4a4 23,236 + 4,725 / 57 -> 18,229 + 6,494 / 47 (da4ml 21,167 + 7,591 / 47).
Measured and not kept: MAX_SHARE_LEVEL 3 or 5 instead of 8 (w2a2 2,043 / 15 and 2,035 / 15).
"""
from qonnx_c4ml.chisel.arith_share import greedy_shared_terms


def csd_digits(value):
    """Canonical signed-digit form of a positive integer: [(shift, +1|-1), ...], fewest non-zeros."""
    digits, shift = [], 0
    while value:
        if value & 1:
            digit = 2 - (value & 3)  # +1 if value = 1 mod 4, -1 if value = 3 mod 4
            digits.append((shift, digit))
            value -= digit
        value >>= 1
        shift += 1
    return digits


def split_power_of_two(value):
    """value = odd * 2**e for value > 0; returns (odd, e)."""
    e = (value & -value).bit_length() - 1
    return value >> e, e


def balanced_sum(module, terms, base="sum"):
    """Sum of signed terms [(Value, +1|-1)] as a balanced tree; returns a Value (or constant 0)."""
    terms = [(v, s) for v, s in terms if not (v.is_constant and v.lo == 0)]
    if not terms:
        return module.const(0)
    level = 0
    while len(terms) > 1:
        terms.sort(key=lambda t: (t[0].hi - t[0].lo, t[0].name))
        paired = []
        for i in range(0, len(terms) - 1, 2):
            paired.append(_combine(module, terms[i], terms[i + 1], f"{base}_l{level}"))
        if len(terms) % 2:
            paired.append(terms[-1])
        terms, level = paired, level + 1
    value, sign = terms[0]
    return value if sign > 0 else module.neg(value, base=f"{base}_neg")


def _combine(module, a, b, base):
    (va, sa), (vb, sb) = a, b
    if sa == sb:
        return module.add(va, vb, base=base), sa
    if sa > 0:
        return module.sub(va, vb, base=base), 1
    return module.sub(vb, va, base=base), 1


class ConstantMultipliers:
    """x * c for the module's inputs, built once per (input, odd factor) and shared."""

    def __init__(self, module):
        self.module = module
        self._cache = {}

    def times_odd(self, x, odd):
        key = (x.name, odd)
        if key not in self._cache:
            if odd == 1:
                product = x
            else:
                parts = [(self.module.shift_left(x, shift, base=f"{x.name}_s{shift}"), sign)
                         for shift, sign in csd_digits(odd)]
                product = balanced_sum(self.module, parts, base=f"{x.name}_mul{odd}")
                product = self.module.narrow(product, min(x.lo * odd, x.hi * odd), max(x.lo * odd, x.hi * odd))
            self._cache[key] = product
        return self._cache[key]


# Pair sharing looks at every pair of terms in every row; above this many pairs in a layer
# (e.g. 784-input layers) it is skipped to keep generation well under a second.
MAX_PAIRS_PER_LAYER = 200_000
# Digit terms (one per CSD digit of each weight) share more than whole-weight terms (x * odd,
# its multiplier shared by every row) but have more pairs: a layer uses them while they have
# at most MAX_DIGIT_PAIRS_PER_LAYER pairs and at most DIGIT_PAIRS_FACTOR times the pairs of
# whole-weight terms, which keeps generation under a second.  Pair counts, digit / weight
# terms: random 16-64-32-32-5 w4a4 64-input layer 133k / 57k; jets_w4a4_po2 66k / 44k;
# jets_w8a8_po2 96k / 16k (8-bit weights have ~2.5 digits each).
MAX_DIGIT_PAIRS_PER_LAYER = 150_000
DIGIT_PAIRS_FACTOR = 4
# Deepest shared pair (adder levels above the layer inputs) that greedy_shared_terms makes.
MAX_SHARE_LEVEL = 8


def _terms(row, digits):
    """A row's terms (input, odd, shift, sign): one per weight (odd factor and power of two),
    or with `digits` one per canonical signed digit of each weight (odd factor 1)."""
    terms = []
    for k, w in row:
        if not w:
            continue
        sign = 1 if w > 0 else -1
        if digits:
            terms += [(int(k), 1, shift, sign * digit) for shift, digit in csd_digits(abs(int(w)))]
        else:
            odd, e = split_power_of_two(abs(int(w)))
            terms.append((int(k), odd, e, sign))
    return terms


def _pair_count(rows):
    return sum(len(r) * (len(r) - 1) // 2 for r in rows)


def dot_products(module, inputs, connections, base="acc", share_pairs=True, share_level=MAX_SHARE_LEVEL):
    """acc[m] = sum of w * inputs[k] over (k, w) in connections[m], for each row m.

    `connections` are sparse rows, [(input index, integer weight), ...] (a dense layer's
    non-zero weights, a convolution's taps inside the image).  Every weight is split into its
    canonical signed digits, and pairs of digit terms that recur across rows (same inputs,
    relative shift and sign; x<<2 - x = 3x is such a pair too) are one shared adder each, and
    so are recurring pairs of those, up to `share_level` adder levels
    (arith_share.greedy_shared_terms).  Where the digit terms would have more than
    MAX_DIGIT_PAIRS_PER_LAYER pairs (or DIGIT_PAIRS_FACTOR times the pairs of whole-weight
    terms), terms are whole weights, x_k * odd built once per input and
    odd factor (CSD shift-add) and shared; beyond that, no pair sharing.
    Every adder is as wide as the exact range of the integer combination of inputs it
    computes (inputs are independent; interval arithmetic over-estimates 4x - x).
    """
    multipliers = ConstantMultipliers(module)
    rows = [_terms(row, False) for row in connections]
    digit_rows = [_terms(row, True) for row in connections]
    if _pair_count(digit_rows) <= min(MAX_DIGIT_PAIRS_PER_LAYER, DIGIT_PAIRS_FACTOR * _pair_count(rows)):
        rows = digit_rows
    if share_pairs and _pair_count(rows) <= MAX_PAIRS_PER_LAYER:
        rows, pairs = greedy_shared_terms(rows, share_level)
    else:
        pairs = []
    pair_values, pair_levels, pair_forms = {}, {}, {}

    def level(symbol, odd):
        """Adder levels from the layer inputs to the value of (symbol, odd)."""
        if symbol >= 0:
            return (len(csd_digits(odd)) - 1).bit_length()  # the CSD multiplier's balanced tree
        if symbol not in pair_levels:
            k_a, odd_a, _, k_b, odd_b, _, _ = pairs[-1 - symbol]
            pair_levels[symbol] = 1 + max(level(k_a, odd_a), level(k_b, odd_b))
        return pair_levels[symbol]

    def form(symbol):
        """{input: coefficient} of a symbol's value."""
        if symbol >= 0:
            return {symbol: 1}
        if symbol not in pair_forms:
            k_a, odd_a, shift_a, k_b, odd_b, shift_b, relative = pairs[-1 - symbol]
            pair_forms[symbol] = _linear(_linear({}, form(k_a), odd_a << shift_a), form(k_b),
                                         relative * (odd_b << shift_b))
        return pair_forms[symbol]

    def name_of(symbol):
        return inputs[symbol].name if symbol >= 0 else f"pair{-1 - symbol}"

    def value(symbol, odd):
        if symbol >= 0:
            return multipliers.times_odd(inputs[symbol], odd)
        if symbol not in pair_values:
            k_a, odd_a, shift_a, k_b, odd_b, shift_b, relative = pairs[-1 - symbol]
            a = module.shift_left(value(k_a, odd_a), shift_a, base=f"{name_of(k_a)}_m{odd_a}")
            b = module.shift_left(value(k_b, odd_b), shift_b, base=f"{name_of(k_b)}_m{odd_b}")
            name = name_of(symbol)
            total = module.add(a, b, base=name) if relative > 0 else module.sub(a, b, base=name)
            pair_values[symbol] = _exact(module, total, form(symbol), inputs)
        return pair_values[symbol]

    accumulators = []
    for m, terms in enumerate(rows):
        parts = [(module.shift_left(value(k, odd), e, base=f"{name_of(k)}_mul{odd << e}"), sign, level(k, odd))
                 for k, odd, e, sign in terms]
        forms = [_linear({}, form(k), sign * (odd << e)) for k, odd, e, sign in terms]
        accumulators.append(timed_sum(module, parts, base=f"{base}{m}", forms=forms, inputs=inputs))
    return accumulators


def _linear(total, other, factor):
    """total + factor * other for {input: coefficient} forms (a new dict)."""
    result = dict(total)
    for k, c in other.items():
        result[k] = result.get(k, 0) + factor * c
        if not result[k]:
            del result[k]
    return result


def _exact(module, value, form, inputs):
    """`value` narrowed to the exact range of its linear form over independent inputs."""
    lo = sum(min(c * inputs[k].lo, c * inputs[k].hi) for k, c in form.items())
    hi = sum(max(c * inputs[k].lo, c * inputs[k].hi) for k, c in form.items())
    if value.is_constant or (lo, hi) == (value.lo, value.hi):
        return value
    return module.narrow(value, lo, hi)


def timed_sum(module, terms, base="sum", forms=None, inputs=None):
    """Sum of signed terms [(Value, +1|-1, level)] with the fewest adder levels: the two
    earliest-ready terms are added first (Huffman on arrival level; among equally early ones,
    those of similar range, so widths stay small).  With every level equal it pairs like
    balanced_sum, level by level.  With `forms` (each term's signed value as {input:
    coefficient}) and the `inputs`, every partial sum is narrowed to its exact range."""
    import heapq

    heap = [(lvl, v.hi - v.lo, i, (v, s), forms[i] if forms else None) for i, (v, s, lvl) in enumerate(terms)
            if not (v.is_constant and v.lo == 0)]
    if not heap:
        return module.const(0)
    heapq.heapify(heap)
    count = len(terms)  # above every index in heap (zero terms were dropped)
    while len(heap) > 1:
        la, _, _, a, fa = heapq.heappop(heap)
        lb, _, _, b, fb = heapq.heappop(heap)
        v, s = _combine(module, a, b, f"{base}_l{max(la, lb)}")
        f = None
        if forms:
            f = _linear(fa, fb, 1)
            v = _exact(module, v, f if s > 0 else _linear({}, f, -1), inputs)
        heapq.heappush(heap, (max(la, lb) + 1, v.hi - v.lo, count, (v, s), f))
        count += 1
    value, sign = heap[0][3]
    return value if sign > 0 else module.neg(value, base=f"{base}_neg")


def staircase_as_shift(thresholds):
    """(first, shift) if thresholds are T_a + i * 2**shift (i = 0..n-1, n >= 2), else None."""
    if len(thresholds) < 2:
        return None
    step = thresholds[1] - thresholds[0]
    if step <= 0 or step & (step - 1):
        return None
    if any(b - a != step for a, b in zip(thresholds, thresholds[1:])):
        return None
    return thresholds[0], step.bit_length() - 1


def staircase_with_parity(thresholds):
    """(base, shift, parity) if T_i = base + i*2**shift + e_i, e_i in {0, 1}, e_i = 1 exactly
    for i of one parity -- the staircase of round-half-even (ties alternate up and down).

    Then #{i : acc >= T_i} = clamp(floor((acc - base) / 2**shift) + 1 - tie, 0, n) where
    tie = 1 iff (acc - base) mod 2**(shift+1) == parity * 2**shift.
    """
    n = len(thresholds)
    if n < 3:
        return None
    mean_step = (thresholds[-1] - thresholds[0]) / (n - 1)
    step = 1 << max(0, round(mean_step).bit_length() - 1)
    if step < 2 or abs(mean_step - step) > 1:
        return None
    shift = step.bit_length() - 1
    for first_extra in (0, 1):
        base = thresholds[0] - first_extra
        extras = [t - base - i * step for i, t in enumerate(thresholds)]
        if any(e not in (0, 1) for e in extras):
            continue
        ones = {i % 2 for i, e in enumerate(extras) if e}
        if len(ones) == 1 and all(e == (i % 2 in ones) for i, e in enumerate(extras)):
            return base, shift, ones.pop()
    return None


def requantize(module, acc, thresholds, base_code, name, weights=None):
    """Code = base_code + #{k : acc >= T_k} for sorted integer thresholds (exact); with
    `weights`, base_code + sum_k weights[k] * [acc >= T_k] (minifloat codes)."""
    if weights is not None and len(weights) and any(int(w) != 1 for w in weights):
        return weighted_requantize(module, acc, thresholds, base_code, name, weights)
    reachable = [t for t in thresholds if acc.lo < t <= acc.hi]
    always = sum(1 for t in thresholds if t <= acc.lo)
    base = base_code + always
    if not reachable:
        return module.const(base)
    n = len(reachable)
    uniform = staircase_as_shift(reachable) if n >= 3 else None
    parity = staircase_with_parity(reachable) if uniform is None else None
    if uniform is not None or parity is not None:
        first, shift = uniform if uniform is not None else parity[:2]
        # floor((acc - first) / 2**s) + 1 = floor((acc - first + 2**s) / 2**s)
        offset = module.sub(acc, module.const(first - (1 << shift)), base=f"{name}_off")
        steps = module.shift_right(offset, shift, base=f"{name}_steps")
        if parity is not None:  # a tie that rounds down: acc - first = 2**s * (odd|even)
            tie_bits = (parity[2] + 1) % 2 << shift  # (acc - first + 2**s) mod 2**(s+1)
            tie = module.low_bits_equal(offset, shift + 1, tie_bits, base=f"{name}_tie")
            steps = module.sub(steps, tie, base=f"{name}_even")
        count = module.clamp(steps, 0, n, base=f"{name}_sat")
    else:
        bits = [(module.at_least(acc, t, base=f"{name}_ge{i}"), 1) for i, t in enumerate(reachable)]
        count = balanced_sum(module, bits, base=f"{name}_count")
    if base == 0:
        return count
    return module.add(count, module.const(base), base=f"{name}_code")


def weighted_requantize(module, acc, thresholds, base_code, name, weights):
    """base_code + sum_k w_k [acc >= T_k]: one comparator per reachable threshold, its bit
    shifted into place for each binary digit of w_k (minifloat gaps are powers of two)."""
    base = base_code + sum(int(w) for t, w in zip(thresholds, weights) if t <= acc.lo)
    terms = []
    for i, (t, w) in enumerate(zip(thresholds, weights)):
        if acc.lo < t <= acc.hi:
            bit = module.at_least(acc, int(t), base=f"{name}_ge{i}")
            terms += [(module.shift_left(bit, k, base=f"{name}_w{i}_{k}") if k else bit, 1)
                      for k in range(int(w).bit_length()) if int(w) >> k & 1]
    if not terms:
        return module.const(base)
    count = balanced_sum(module, terms, base=f"{name}_sum")
    if base == 0:
        return count
    return module.add(count, module.const(base), base=f"{name}_code")


def max_tree(module, values, base):
    """max of `values` as a balanced tree of comparator + mux pairs (free where ranges decide)."""
    level = 0
    while len(values) > 1:
        values = sorted(values, key=lambda v: (v.hi, v.lo, v.name))
        paired = [module.maximum(values[i], values[i + 1], base=f"{base}_l{level}")
                  for i in range(0, len(values) - 1, 2)]
        values = paired + (values[-1:] if len(values) % 2 else [])
        level += 1
    return values[0]
