"""chisel/logic/build.py: the builder records typed nodes with exact ranges and folds what
the ranges decide."""
import pytest

from qonnx_c4ml.chisel.logic.build import Module


def module_with(*ranges):
    m = Module("m")
    xs = []
    for i, (lo, hi) in enumerate(ranges):
        bits = max(lo.bit_length(), hi.bit_length()) + (1 if lo < 0 else 0)
        x = m.input_element("in_data", i, max(bits, 1), lo < 0)
        xs.append(m.narrow(x, lo, hi))
    return m, xs


def test_arithmetic_ranges_and_ops():
    m, (a, b) = module_with((0, 3), (-4, 3))
    s, d, n = m.add(a, b), m.sub(a, b), m.neg(b)
    assert (s.op, s.lo, s.hi) == ("add", -4, 6)
    assert (d.op, d.lo, d.hi) == ("sub", -3, 7)
    assert (n.op, n.lo, n.hi) == ("neg", -3, 4)
    sl = m.shift_left(a, 2)
    assert (sl.op, sl.lo, sl.hi, sl.params) == ("shl", 0, 12, (2,))
    sr = m.shift_right(d, 1)
    assert (sr.op, sr.lo, sr.hi, sr.width, sr.signed) == ("shr", -2, 3, d.width - 1, True)
    names = [v.name for v in m.netlist.values()]
    assert names[:2] == ["x0", "x1"] and len(set(names)) == len(names)


def test_constants_fold_and_ranges_decide():
    m, (a,) = module_with((0, 7))
    assert m.add(m.const(2), m.const(3)).lo == 5 and m.sub(m.const(2), m.const(3)).lo == -1
    assert m.shift_left(a, 0) is a and m.shift_right(a, 0) is a
    assert m.shift_right(a, 3).lo == 0 and m.shift_right(a, 3).is_constant
    assert m.at_least(a, 0).lo == 1 and m.at_least(a, 8).lo == 0  # no comparator
    before = len(m.netlist.nodes)
    assert m.clamp(a, 0, 7) is a and m.maximum(a, m.const(-1)) is a
    assert len(m.netlist.nodes) == before


def test_comparator_is_sign_of_difference():
    m, (a,) = module_with((-8, 7))
    ge = m.at_least(a, 3)
    assert ge.op == "ge" and (ge.lo, ge.hi) == (0, 1)
    (diff,) = ge.args
    assert diff.op == "sub" and diff.args[1].lo == 3 and (diff.lo, diff.hi) == (-11, 4)


def test_clamp_builds_muxes_with_the_clamped_range():
    m, (a,) = module_with((-20, 20))
    c = m.clamp(a, 0, 5)
    assert (c.op, c.lo, c.hi) == ("mux", 0, 5)
    high = c.args[1]  # under ? value : lo
    assert (high.op, high.lo, high.hi) == ("mux", -20, 5)


def test_maximum_and_low_bits_equal():
    m, (a, b) = module_with((0, 9), (-3, 12))
    mx = m.maximum(a, b)
    assert mx.op == "max" and (mx.lo, mx.hi) == (0, 12) and mx.args[1:] == (a, b)
    eq = m.low_bits_equal(b, 2, 1)
    assert eq.op == "eq" and eq.params == (2, 1)
    with pytest.raises(ValueError):
        m.low_bits_equal(a, 9, 0)


def test_narrow_refuses_a_wider_range():
    m, (a,) = module_with((0, 7))
    with pytest.raises(ValueError):
        m.narrow(a, -1, 7)


def test_no_nodes_after_lowering():
    m, (a, b) = module_with((0, 3), (0, 3))
    m.output("out_data", 0, m.add(a, b), 3, False)
    assert m.latency == 0 and len(m.lowered().outputs()) == 1
    with pytest.raises(RuntimeError):
        m.add(a, b)


def test_select_and_index_input():
    m = Module("m")
    x = m.input_element("in_data", 0, 3, False)
    step = m.index_input("step", 3, 1)
    assert (step.lo, step.hi, step.width, step.signed) == (0, 2, 2, False) and ("input", 2, "step") in m.ports
    sel = m.select(step, [x, m.const(-4), m.shift_left(x, 1)])
    assert (sel.op, sel.lo, sel.hi) == ("select", -4, 14) and sel.args[0] is step
    assert m.select(step, [x, x, x]) is x  # the same value in every step: no node
    assert m.select(step, [m.const(5), m.const(5)]).lo == 5
    assert m.select(m.const(1), [x, m.const(2)]).lo == 2  # a constant index picks
    with pytest.raises(ValueError):
        m.select(step, [])
    ge = m.at_least_value(x, m.select(step, [m.const(2), m.const(5)]))
    assert ge.op == "ge" and ge.args[0].op == "sub"
    assert m.at_least_value(x, m.select(step, [m.const(-3), m.const(0)])).lo == 1  # always
    assert m.at_least_value(x, m.select(step, [m.const(8), m.const(9)])).hi == 0  # never


def test_flip_is_the_ones_complement_when_the_sign_is_set():
    m = Module("m")
    x = m.input_element("in_data", 0, 3, False)
    sign = m.select(m.index_input("step", 2, 1), [m.const(0), m.const(1)])
    flipped = m.flip(sign, x)
    assert (flipped.op, flipped.lo, flipped.hi) == ("flip", -8, 7)
    assert m.flip(m.const(0), x) is x
    always = m.flip(m.const(1), x)  # -x - 1 without a sign to select: a subtraction from -1
    assert (always.op, always.lo, always.hi) == ("sub", -8, -1)


def test_fresh_names_are_unique_name_s_in_linear_time():
    from qonnx_c4ml.names import unique_name

    module, taken = Module("m"), set()
    bases = ["sum", "sum", "sum_2", "sum", "x", "sum_3", "sum", "x"] + ["acc"] * 2000
    module.port("input", "sum_4", 4)  # a port name is taken too
    taken.add("sum_4")
    assert [module.fresh(b) for b in bases] == [unique_name(b, taken) for b in bases]
    assert module.fresh("sum") == "sum_6" and module.fresh("acc") == "acc_2001"


def test_mul_range_is_the_product_of_the_corners():
    m = Module("m")
    x = m.input_element("in_data", 0, 4, False)  # [0, 15]
    w = m.input_element("in_data", 1, 4, True)  # [-8, 7]
    p = m.mul(x, w)
    assert (p.op, p.lo, p.hi) == ("mul", -120, 105)
    assert m.mul(m.const(3), m.const(-4)).lo == -12
