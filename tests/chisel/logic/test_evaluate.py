"""chisel/logic/evaluate.py: the netlist in numpy equals the arithmetic it was built from."""
import numpy as np
import pytest

from qonnx_c4ml.chisel.arith import dot_products, max_tree, requantize
from qonnx_c4ml.chisel.logic.build import Module
from qonnx_c4ml.chisel.logic.evaluate import evaluate


def test_requantized_dot_products_equal_the_staircase():
    rng = np.random.default_rng(3)
    weights = rng.integers(-5, 6, size=(5, 8))
    m = Module("layer")
    xs = [m.input_element("in_data", k, 3, True) for k in range(8)]
    accs = dot_products(m, xs, [[(k, int(w)) for k, w in enumerate(row) if w] for row in weights])
    thresholds = [[-40, -7, 0, 9, 41], [-2, 2, 6, 10, 14], [-20, -12, -4, 4, 12], [1, 2, 3, 4, 5], [-9, 0, 0, 3, 70]]
    for e, acc in enumerate(accs):
        code = requantize(m, acc, thresholds[e], -2, f"out{e}")
        m.output("out_data", 4 * e, code, 4, True)
    x = rng.integers(-4, 4, size=(500, 8))
    acc = x @ weights.T
    expected = -2 + (acc[:, :, None] >= np.array(thresholds)[None]).sum(-1)
    assert np.array_equal(evaluate(m.lowered(), x, check_ranges=True), expected)
    assert np.array_equal(evaluate(m.netlist, x), expected)


def test_max_tree_and_clamp():
    m = Module("pool")
    xs = [m.input_element("in_data", k, 5, True) for k in range(7)]
    m.output("out_data", 0, max_tree(m, xs, "max"), 5, True)
    m.output("out_data", 5, m.clamp(m.add(xs[0], xs[1]), -3, 4), 4, True)
    x = np.random.default_rng(4).integers(-16, 16, size=(300, 7))
    out = evaluate(m.lowered(), x, check_ranges=True)
    assert np.array_equal(out[:, 0], x.max(axis=1))
    assert np.array_equal(out[:, 1], np.clip(x[:, 0] + x[:, 1], -3, 4))


def test_wide_values_are_exact_python_ints():
    m = Module("wide")
    a = m.input_element("in_data", 0, 40, True)
    b = m.input_element("in_data", 1, 40, False)
    product = m.add(m.shift_left(a, 40), b)  # 80 bits: a * 2**40 + b
    m.output("out_data", 0, m.shift_right(product, 30), 50, True)
    x = np.array([[-(1 << 39), (1 << 40) - 1], [123456789, 987654321], [-1, 0]], dtype=object)
    out = evaluate(m.lowered(), x, check_ranges=True)
    assert out.dtype == object
    assert list(out[:, 0]) == [((int(a) << 40) + int(b)) >> 30 for a, b in x]


def test_check_ranges_catches_a_wrong_range():
    m = Module("bad")
    a = m.input_element("in_data", 0, 4, False)
    m.output("out_data", 0, m.narrow(m.add(a, a), 0, 10), 5, False)
    x = np.array([[3], [15]])
    assert list(evaluate(m.lowered(), x)[:, 0]) == [6, 30]
    m.netlist.nodes[1].hi = 10  # pretend the adder's range were [0, 10]
    with pytest.raises(AssertionError, match="left"):
        evaluate(m.netlist, x, check_ranges=True)


def test_select_picks_by_index():
    m = Module("m")
    x = m.input_element("in_data", 0, 3, True)
    step = m.index_input("step", 3, 1)
    m.output("out_data", 0, m.select(step, [x, m.const(7), m.neg(x)]), 5, True)
    xs = np.array([[-4, 0], [3, 0], [-4, 1], [2, 2], [-4, 2]])
    assert evaluate(m.lowered(), xs, check_ranges=True)[:, 0].tolist() == [-4, 3, 7, -2, 4]


def test_flip_negates_by_ones_complement():
    m = Module("m")
    x = m.input_element("in_data", 0, 3, True)
    sign = m.select(m.index_input("step", 2, 1), [m.const(0), m.const(1)])
    m.output("out_data", 0, m.flip(sign, x), 3, True)
    xs = np.array([[-4, 0], [3, 0], [-4, 1], [3, 1], [0, 1]])
    assert evaluate(m.lowered(), xs, check_ranges=True)[:, 0].tolist() == [-4, 3, 3, -4, -1]


def test_mul_of_two_inputs_is_exact_at_the_corners():
    m = Module("m")
    x = m.input_element("in_data", 0, 3, False)
    w = m.input_element("in_data", 1, 3, True)
    p = m.mul(x, w)
    m.output("out_data", 0, p, p.width, p.signed)
    xs = np.array([[a, b] for a in range(8) for b in range(-4, 4)])
    assert evaluate(m.lowered(), xs, check_ranges=True)[:, 0].tolist() == [a * b for a, b in xs.tolist()]
