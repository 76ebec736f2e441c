"""chisel/logic/netlist.py: values with exact ranges, aliases, remapping between netlists."""
import pytest

from qonnx_c4ml.chisel.logic.netlist import Comment, Netlist, Value, alias, constant, remapper


@pytest.mark.parametrize("lo, hi, width, signed", [(0, 1, 1, False), (0, 255, 8, False), (-1, 0, 1, True),
                                                    (-128, 127, 8, True), (-129, 0, 9, True), (0, 0, 1, False),
                                                    (-(1 << 70), 1 << 70, 72, True)])
def test_width_and_signedness_follow_the_range(lo, hi, width, signed):
    v = Value("v", lo, hi, "add")
    assert (v.width, v.signed) == (width, signed)
    assert v.is_constant == (lo == hi)


def test_operation_may_fix_width_and_signedness():
    v = Value("x0", 0, 3, "input", (), ("in_data", 0, 0), width=4, signed=True)
    assert (v.width, v.signed, v.params) == (4, True, ("in_data", 0, 0))


def test_constant_and_alias():
    c = constant(-5)
    assert (c.name, c.op, c.lo, c.hi, c.is_constant) == ("const_-5", "const", -5, -5, True)
    x = Value("x", -8, 7, "add")
    narrowed = alias(x, -3, 3)
    assert (narrowed.name, narrowed.width, narrowed.signed, narrowed.lo, narrowed.hi) == ("x", 4, True, -3, 3)
    assert narrowed.base() is x and alias(narrowed, -1, 1).base() is x
    assert alias(c, -5, -5) is c


def test_with_args_copies_the_node():
    a, b = Value("a", 0, 3, "input"), Value("b", 0, 3, "input")
    s = Value("s", 0, 6, "add", (a, b))
    t = s.with_args([b, a])
    assert t is not s and t.args == (b, a) and (t.name, t.lo, t.hi, t.op) == ("s", 0, 6, "add")


def test_remapper_maps_nodes_keeps_constants_rebuilds_aliases():
    old = Value("a", 0, 7, "input")
    new = Value("a", 0, 7, "input")
    remap = remapper({id(old): new})
    c = constant(3)
    assert remap(c) is c and remap(old) is new
    narrowed = alias(old, 0, 5)
    mapped = remap(narrowed)
    assert mapped.base() is new and (mapped.lo, mapped.hi) == (0, 5)
    assert remap(narrowed) is mapped  # one alias per alias


def test_netlist_views():
    n = Netlist("m", [("input", 4, "in_data")], {"in_data"})
    x = Value("x0", 0, 15, "input", (), ("in_data", 0, 0), 4, False)
    r = Value("x0_q1", 0, 15, "reg", (x,), (1,), 4, False)
    o = Value("out_data[0 +: 4]", 0, 15, "out", (r,), ("out_data", 0, 4, False), 4, False)
    n.nodes += [Comment("hello"), x, r, o]
    assert n.inputs() == [x] and n.registers() == [r] and n.outputs() == [o] and n.values() == [x, r, o]
    d = n.derived()
    assert d.nodes == [] and d.ports == n.ports and d.names == n.names and d.names is not n.names
