"""chisel/logic/cost.py: adders, estimated LUTs, flip-flops and levels from the netlist."""
from qonnx_c4ml.chisel.logic.build import Module
from qonnx_c4ml.chisel.logic.cost import adders, cost, flip_flops, luts, node_luts


def test_costs_of_a_small_module():
    m = Module("m", stage_levels=1)
    a = m.input_element("in_data", 0, 4, False)
    b = m.input_element("in_data", 1, 4, False)
    s = m.add(a, b)  # [0, 30]: 5 bits
    big = m.at_least(s, 17)  # a 6-bit subtraction, the sign is wiring
    m.output("out_data", 0, m.maximum(s, m.shift_left(a, 1)), 5, False)  # a 6-bit sub, a 5-bit max
    m.output("out_data", 5, big, 1, False)
    m.output("out_data", 6, m.low_bits_equal(s, 5, 3), 1, False)
    net = m.lowered()
    assert adders(net) == 3
    widths = {n.name: n.width for n in net.values()}
    assert widths["sum"] == 5 and widths["ge_d"] == 6 and widths["max_d"] == 6
    assert luts(net) == 5 + 6 + 6 + 3 + 1  # adders, ceil(5/2) for the max, ceil(5/6) for the eq
    assert flip_flops(net) == sum(r.width for r in net.registers()) > 0
    c = cost(net)
    assert (c.adders, c.luts, c.levels, c.latency) == (3, 21, 3, net.latency) and c.latency == 3  # sum, max_d, max
    assert m.cost() == c


def test_wiring_costs_nothing():
    m = Module("m")
    a = m.input_element("in_data", 0, 8, True)
    for node in (m.shift_left(a, 3), m.shift_right(a, 2), a):
        assert node_luts(node) == 0
    m.output("out_data", 0, m.shift_left(a, 3), 11, True)
    assert adders(m.lowered()) == 0 and luts(m.lowered()) == 0 and cost(m.lowered()).levels == 0


def test_count_adders_of_a_layer_equals_its_adder_lines():
    import numpy as np

    from qonnx_c4ml.chisel.generator import count_adders, layer_module

    weights = np.random.default_rng(5).integers(-7, 8, size=(6, 9))
    thresholds = np.array([[-30, -10, 0, 10, 30]] * 6)
    for stage_levels in (None, 2):
        module, _, _, latency, levels = layer_module("fc", weights, "INT4", "INT4", "thresholds", thresholds, -2,
                                                     stage_levels)
        lines = [line for line in module.verilog().splitlines() if not line.strip().startswith("//")]
        assert count_adders(module) == sum(1 for line in lines if " + " in line or " - " in line) > 0
        assert levels == module.cost().levels > 0 and latency == module.cost().latency
        assert (latency > 0) == bool(stage_levels)


def test_select_luts_and_level():
    m = Module("m")
    xs = [m.input_element("in_data", k, 4, False) for k in range(8)]
    step2, step8 = m.index_input("s2", 2, 8), m.index_input("s8", 8, 9)
    constants = m.select(step8, [m.const(v) for v in range(8)])  # 3 select bits, no data: half a LUT per bit
    two = m.select(step2, xs[:2])  # 1 + 2 inputs per bit
    # 3 + 8 inputs per bit: 3 option-number bits of the 3 select bits, then a 4:1 mux tree,
    # ceil(7 / 3) = 3 LUTs per bit
    eight = m.select(step8, xs)
    wide = m.select(m.index_input("s256", 256, 10), [xs[r % 3] for r in range(256)])  # 8 select bits, 3 options
    assert [node_luts(v) for v in (constants, two, eight, wide)] == [2, 2, 3 + 12, 2 * 4 + 4 * 1]
    total = m.add(eight, two)
    m.output("out_data", 0, total, 5, False)
    assert cost(m.lowered()).levels == 2  # a select is one logic level


def test_mul_luts_follow_the_fitted_formula():
    from qonnx_c4ml.chisel.logic.cost import mul_luts
    assert [mul_luts(p, q) for p, q in ((2, 2), (4, 2), (3, 4), (4, 4), (8, 4), (8, 8))] == [5, 10, 17, 24, 48, 128]
    m = Module("m")
    p = m.mul(m.input_element("in_data", 0, 4, False), m.input_element("in_data", 1, 4, True))
    assert node_luts(p) == 24 and p.width == 8
