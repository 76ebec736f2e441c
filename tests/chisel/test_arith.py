"""chisel/arith.py: digit recoding, staircase detection, and the circuits it builds (dot
products, requantization, max trees) evaluated in numpy against the arithmetic they stand for."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from qonnx_c4ml.chisel.arith import (balanced_sum, csd_digits, dot_products, max_tree, requantize,
                                     split_power_of_two, staircase_as_shift, staircase_with_parity, timed_sum)
from qonnx_c4ml.chisel.logic.build import Module
from qonnx_c4ml.chisel.logic.cost import adders
from qonnx_c4ml.chisel.logic.evaluate import evaluate
from qonnx_c4ml.chisel.logic.passes import logic_levels


@given(st.integers(1, 1 << 20))
def test_csd_digits_reconstruct_value_without_adjacent_nonzeros(value):
    digits = csd_digits(value)
    assert sum(sign << shift for shift, sign in digits) == value
    shifts = [shift for shift, _ in digits]
    assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:]))


@given(st.integers(1, 1 << 20))
def test_split_power_of_two(value):
    odd, e = split_power_of_two(value)
    assert odd % 2 == 1 and odd << e == value


def test_staircase_detection():
    assert staircase_as_shift([3, 7, 11, 15]) == (3, 2)
    assert staircase_as_shift([3, 7, 12]) is None  # round-half-even ties break uniformity
    assert staircase_as_shift([2, 5, 8]) is None  # step 3 is not a power of two
    assert staircase_as_shift([4]) is None


def staircase_count(thresholds, acc):
    return int(sum(acc >= t for t in thresholds))


@given(st.integers(-50, 50), st.integers(1, 5), st.integers(3, 12), st.integers(0, 1), st.integers(0, 1))
def test_parity_staircase_formula(first, shift, n, first_extra, parity):
    step = 1 << shift
    thresholds = [first + i * step + (1 if i % 2 == parity else 0) for i in range(n)]
    found = staircase_with_parity(thresholds)
    assert found is not None
    base, s, p = found
    for acc in range(first - 3 * step, first + (n + 3) * step):
        steps = ((acc - base) >> s) + 1
        tie = int((acc - base) % (2 * step) == p * step)
        assert max(0, min(n, steps - tie)) == staircase_count(thresholds, acc)


def test_weighted_requantize_is_the_weighted_count():
    m = Module("weighted")
    x = m.input_element("in_data", 0, 6, True)
    thresholds, weights = [-20, -3, 0, 4, 9, 40], [1, 2, 2, 4, 8, 16]
    m.output("out_data", 0, requantize(m, x, thresholds, -5, "q", weights), 7, True)
    acc = np.arange(-32, 32).reshape(-1, 1)
    expected = -5 + sum(w * (acc[:, 0] >= t) for t, w in zip(thresholds, weights))
    assert np.array_equal(evaluate(m.lowered(), acc, check_ranges=True)[:, 0], expected)


def test_unreachable_thresholds_cost_nothing():
    m = Module("const")
    x = m.input_element("in_data", 0, 3, False)  # [0, 7]
    code = requantize(m, x, [-4, 0, 8, 100], 1, "q")  # 0 <= x always, 8 and 100 never reached
    assert code.is_constant and code.lo == code.hi == 3


def test_uniform_staircase_becomes_a_shift_and_equals_the_count():
    m = Module("shift")
    x = m.input_element("in_data", 0, 8, True)
    thresholds = [-60, -28, 4, 36, 68]  # step 32
    m.output("out_data", 0, requantize(m, x, thresholds, 0, "q"), 4, False)
    acc = np.arange(-128, 128).reshape(-1, 1)
    assert np.array_equal(evaluate(m.lowered(), acc, check_ranges=True)[:, 0],
                          (acc >= np.array(thresholds)).sum(axis=1))
    assert not any("ge" in node.name for node in m.netlist.nodes)  # no comparator per threshold


def test_balanced_sum_dot_products_and_max_tree():
    rng = np.random.default_rng(5)
    m = Module("arith")
    xs = [m.input_element("in_data", k, 4, True) for k in range(6)]
    weights = np.array([[3, 0, -5, 1, 0, 6], [0, 0, 0, 0, 0, 0], [-7, 7, 12, -1, 2, 0]])
    accs = dot_products(m, xs, [[(k, int(w)) for k, w in enumerate(row) if w] for row in weights])
    assert accs[1].is_constant and accs[1].lo == 0  # a row of zeros is the constant 0
    signed = balanced_sum(m, [(xs[0], 1), (xs[1], -1), (xs[2], -1)], base="s")
    for e, value in enumerate([accs[0], accs[2], signed, max_tree(m, xs, "mx")]):
        m.output("out_data", 12 * e, value, 12, True)
    x = rng.integers(-8, 8, size=(400, 6))
    out = evaluate(m.lowered(), x, check_ranges=True)
    assert np.array_equal(out[:, 0], x @ weights[0]) and np.array_equal(out[:, 1], x @ weights[2])
    assert np.array_equal(out[:, 2], x[:, 0] - x[:, 1] - x[:, 2])
    assert np.array_equal(out[:, 3], x.max(axis=1))


def test_multi_level_sharing_saves_adders_and_stays_exact():
    rng = np.random.default_rng(11)
    weights = rng.choice([-3, -1, 0, 1, 2, 5], size=(24, 10))
    weights[12:] = weights[:12]  # every row twice: whole rows are shared at the deepest level
    out = {}
    for level in (1, 8):
        m = Module(f"r{level}")
        xs = [m.input_element("in_data", k, 3, True) for k in range(10)]
        accs = dot_products(m, xs, [[(k, int(w)) for k, w in enumerate(row) if w] for row in weights],
                            share_level=level)
        for e, acc in enumerate(accs):
            m.output("out_data", 12 * e, acc, 12, True)
        x = rng.integers(-4, 4, size=(300, 10))
        assert np.array_equal(evaluate(m.lowered(), x, check_ranges=True), x @ weights.T)
        out[level] = adders(m.lowered()), logic_levels(m.lowered())
    assert out[8][0] < out[1][0]


def test_timed_sum_adds_the_earliest_terms_first():
    m = Module("timed")
    xs = [m.input_element("in_data", k, 4, True) for k in range(5)]
    late = balanced_sum(m, [(m.add(xs[0], xs[1]), 1), (m.add(xs[2], xs[3]), 1), (xs[4], 1)], base="late")  # level 3
    early = [m.input_element("in_data", k, 4, True) for k in range(5, 9)]
    total = timed_sum(m, [(late, 1, 3)] + [(x, -1, 0) for x in early], base="t")
    m.output("out_data", 0, total, 10, True)
    # the four early terms sum in two levels, ready before the late one: one more level, not three
    assert logic_levels(m.lowered()) == 4
    x = np.random.default_rng(2).integers(-8, 8, size=(200, 9))
    assert np.array_equal(evaluate(m.lowered(), x, check_ranges=True)[:, 0],
                          x[:, :5].sum(axis=1) - x[:, 5:].sum(axis=1))


def test_digit_terms_share_multiples_and_keep_exact_ranges():
    """Weights split into CSD digits: 7x = 8x - x and 3x = 4x - x in several rows are shared
    adders, and every accumulator's range is the exact range of its row (not interval
    arithmetic's over-estimate of 8x - x)."""
    weights = np.array([[7, 3, 0], [7, 3, 1], [-7, 0, 3], [3, -7, 7]])
    m = Module("digits")
    xs = [m.input_element("in_data", k, 4, False) for k in range(3)]  # 0..15
    accs = dot_products(m, xs, [[(k, int(w)) for k, w in enumerate(row) if w] for row in weights])
    for e, acc in enumerate(accs):
        m.output("out_data", 10 * e, acc, 10, True)
        assert (acc.lo, acc.hi) == (int(np.minimum(weights[e], 0).sum() * 15), int(np.maximum(weights[e], 0).sum() * 15))
    x = np.array(np.meshgrid(*[np.arange(16)] * 3)).reshape(3, -1).T
    assert np.array_equal(evaluate(m.lowered(), x, check_ranges=True), x @ weights.T)
    # one adder per shared multiple or pair, far fewer than a CSD multiplier per weight
    assert adders(m.lowered()) < sum(len(csd_digits(abs(int(w)))) for w in weights.ravel() if w) - 1
