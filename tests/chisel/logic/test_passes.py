"""chisel/logic/passes.py: common-subexpression sharing and pipelining as passes."""
import numpy as np
import pytest

from qonnx_c4ml.chisel.arith import dot_products
from qonnx_c4ml.chisel.logic.build import Module
from qonnx_c4ml.chisel.logic.evaluate import evaluate
from qonnx_c4ml.chisel.logic.passes import levels, logic_levels, lower, pipeline, share_common


def inputs(m, n, bits=4):
    return [m.input_element("in_data", k, bits, True) for k in range(n)]


def test_sharing_merges_identical_operations_only():
    m = Module("m")
    a, b = inputs(m, 2)
    s1, s2 = m.add(a, b, base="s"), m.add(a, b, base="t")
    d = m.sub(a, b)
    narrow = m.add(m.narrow(a, 0, 3), b)  # same operands' bits, other range: kept
    m.output("out_data", 0, m.add(s1, d), 6, True)
    m.output("out_data", 6, m.add(s2, d), 6, True)
    m.output("out_data", 12, narrow, 6, True)
    shared = share_common(m.netlist)
    ops = [n.op for n in shared.values()]
    assert ops.count("add") == 3 and ops.count("sub") == 1  # s, s+d, narrow: t and the second s+d merged
    outs = shared.outputs()
    assert outs[0].args[0] is outs[1].args[0] and outs[0].args[0].args[0].name == "s"
    assert len(m.netlist.values()) == 11 and len(shared.values()) == 9  # the input netlist is unchanged
    x = np.random.default_rng(0).integers(-8, 8, size=(50, 2))
    assert np.array_equal(evaluate(shared, x), evaluate(m.netlist, x))


def chain(stage_levels):
    """x0 + x1 + x2 + x3 as a chain of three adders, plus x0 read again at the end."""
    m = Module("m", stage_levels)
    xs = inputs(m, 4)
    s = xs[0]
    for x in xs[1:]:
        s = m.add(s, x, base="acc")
    m.output("out_data", 0, m.sub(s, xs[0], base="last"), 8, True)
    return m


def test_levels_and_logic_levels():
    m = chain(None)
    level = levels(m.netlist)
    assert [level[id(n)] for n in m.netlist.values() if n.op != "out"] == [0, 0, 0, 0, 1, 2, 3, 4]
    assert logic_levels(m.netlist) == 4


@pytest.mark.parametrize("n, latency, registers", [
    (1, 4, ["acc_q1", "x2_q1", "acc_2_q2", "x3_q1", "x3_q2", "acc_3_q3", "x0_q1", "x0_q2", "x0_q3", "last_q4"]),
    (2, 2, ["acc_2_q1", "x3_q1", "x0_q1", "last_q2"]),
    (4, 1, ["last_q1"])])
def test_pipeline_stages_every_n_levels(n, latency, registers):
    """Register `<value>_q<s>` holds value for stage s; a chain re-registers stage by stage."""
    m = chain(n)
    piped = m.lowered()
    assert piped.latency == latency == m.latency
    assert [r.name for r in piped.registers()] == registers
    for r in piped.registers():
        source = r.args[0]
        assert source.op != "reg" or (source.params[0] == r.params[0] - 1 and source.name.rsplit("_q", 1)[0]
                                      == r.name.rsplit("_q", 1)[0])
    x = np.random.default_rng(1).integers(-8, 8, size=(40, 4))
    assert np.array_equal(evaluate(piped, x), evaluate(m.netlist, x))
    assert np.array_equal(evaluate(piped, x)[:, 0], x[:, 1] + x[:, 2] + x[:, 3])


def test_pipeline_none_is_a_copy_and_rejects_zero():
    m = chain(None)
    copy = pipeline(m.netlist, None)
    assert copy.latency == 0 and [n.name for n in copy.values()] == [n.name for n in m.netlist.values()]
    assert all(a is not b for a, b in zip(copy.values(), m.netlist.values()))
    with pytest.raises(ValueError):
        pipeline(m.netlist, 0)


def test_module_shares_only_when_asked():
    for share, adds in ((False, 2), (True, 1)):
        m = Module("m", share=share)
        a, b = inputs(m, 2)
        m.output("out_data", 0, m.add(a, b), 5, True)
        m.output("out_data", 5, m.add(a, b), 5, True)
        assert [n.op for n in m.lowered().values()].count("add") == adds


def test_lowered_dot_products_share_and_pipeline():
    rng = np.random.default_rng(2)
    weights = rng.integers(-7, 8, size=(6, 10))
    for stage_levels in (None, 1, 3):
        m = Module("dp", stage_levels)
        xs = inputs(m, 10)
        rows = [[(k, int(w)) for k, w in enumerate(row) if w] for row in weights]
        for e, acc in enumerate(dot_products(m, xs, rows)):
            m.output("out_data", 12 * e, acc, 12, True)
        x = rng.integers(-8, 8, size=(64, 10))
        shared, plain = lower(m.netlist, stage_levels, share=True), lower(m.netlist, stage_levels)
        for low in (shared, plain):
            assert np.array_equal(evaluate(low, x, check_ranges=True), x @ weights.T)
        assert len(shared.values()) <= len(plain.values())
        assert [n.name for n in plain.values() if n.op != "reg"] == [n.name for n in m.netlist.values()]
