"""chisel/fold/memory.py: the memory-form unit netlist, evaluated step by step with the ROM
word of each step on its w_data columns (chisel/logic/evaluate.py), equals the LBIR numpy
reference (lbir/dense.py dense_forward) for random small layers, R in 2..5, both
requantization forms, minifloat threshold weights and requant="none"; the ROM words pack the
fields as the evaluator reads them; the Verilog ROM is a registered case statement."""
import numpy as np
import pytest

from qonnx_c4ml.chisel.fold.memory import WeightRom, memory_unit_module, rom_lines
from qonnx_c4ml.chisel.hw import Module
from qonnx_c4ml.chisel.logic.evaluate import evaluate
from qonnx_c4ml.interface import Port
from qonnx_c4ml.lbir.dense import dense_forward
from tests.chisel.fold.test_datapath import random_layer


def run_memory(weights, in_port, out_dtype, requant, thresholds, out_base, reuse_factor, x, threshold_weights=()):
    """The layer's outputs (N, M) from the memory-form unit evaluated at every step."""
    module, _, units, steps, rows, rom = memory_unit_module("unit", weights, in_port, out_dtype, requant, thresholds,
                                                            out_base, reuse_factor, threshold_weights)
    netlist = module.lowered()
    # every per-step constant is a ROM field: the only selects are input slots' (of inputs)
    assert all(a.op == "input" for node in netlist.nodes if node.op == "select" for a in node.args[1:])
    got = np.zeros((x.shape[0], weights.shape[0]), dtype=np.int64)
    for r in range(steps):
        fields = np.tile(np.asarray(rom.columns(r), dtype=np.int64), (x.shape[0], 1))
        y = evaluate(netlist, np.concatenate([x, np.full((x.shape[0], 1), r), fields], axis=1), check_ranges=True)
        for u in range(units):
            got[:, rows[u][r]] = y[:, u]
    return got, netlist, rom


@pytest.mark.parametrize("kind", ["comparators", "shift", "none"])
@pytest.mark.parametrize("signed", [False, True])
def test_memory_unit_equals_dense_forward(kind, signed):
    rng = np.random.default_rng(11 + signed)
    lo, hi = Port(0, 3, signed).code_range
    for _ in range(10):
        weights, thresholds, requant, out_dtype, out_base = random_layer(rng, kind)
        x = rng.integers(lo, hi + 1, size=(64, weights.shape[1]))
        x[0], x[1] = lo, hi
        expected = dense_forward(x, weights, requant, thresholds, out_base)
        for reuse_factor in (2, 3, 5):
            if -(-weights.shape[0] // -(-weights.shape[0] // min(reuse_factor, weights.shape[0]))) < 2:
                continue
            got, netlist, _ = run_memory(weights, Port(weights.shape[1], 3, signed), out_dtype, requant, thresholds,
                                         out_base, reuse_factor, x)
            np.testing.assert_array_equal(got, expected)


def test_minifloat_threshold_weights():
    rng = np.random.default_rng(3)
    weights = rng.integers(-2, 3, size=(5, 4))
    thresholds = np.sort(rng.integers(-10, 10, size=(5, 3)), axis=1)
    x = rng.integers(0, 8, size=(100, 4))
    expected = dense_forward(x, weights, "thresholds", thresholds, 1, [1, 2, 4])
    got, netlist, rom = run_memory(weights, Port(4, 3, False), "UINT4", "thresholds", thresholds, 1, 3, x, [1, 2, 4])
    np.testing.assert_array_equal(got, expected)
    assert any(node.op == "mul" for node in netlist.nodes) and rom.bits == rom.width * 3


def test_rom_fields_pack_lsb_first_and_constants_take_no_bits():
    module = Module("m")
    rom = WeightRom(module, 3, 0)
    a = rom.field([-1, 0, 1], "a")  # 2 bits signed
    b = rom.field([5, 5, 5], "b")  # constant: no field
    c = rom.field([0, 6, 3], "c")  # 3 bits unsigned
    assert (a.lo, a.hi, b.lo, b.hi, c.lo, c.hi) == (-1, 1, 5, 5, 0, 6)
    assert rom.width == 5 and rom.bits == 15
    assert rom.words() == [0b000_11, 0b110_00, 0b011_01]
    assert rom.columns(1) == [0, 6]
    with pytest.raises(ValueError):
        rom.field([1, 2], "short")
    with pytest.raises(ValueError):
        memory_unit_module("u", np.ones((2, 2), dtype=np.int64), Port(2, 2, False), "INT6", "none",
                           np.zeros((0, 0)), 0, 1)


def test_rom_lines_are_a_registered_case():
    lines = rom_lines(3, 5, [1, 2, 3], "step_next")
    assert "  always @(posedge clock) begin" in lines and "    case (step_next)" in lines
    assert "      2'h2: w_q <= 5'h3;" in lines and "      default: w_q <= 5'h1;" in lines
    assert not any("default" in line for line in rom_lines(4, 5, [1, 2, 3, 4], "s"))


def test_depthwise_like_rows_take_input_slots():
    """Each row uses 3 of 3*M inputs (a depthwise W'): one unit over M steps has 3 slots (an
    input select each, and a step port), not 3*M multipliers; exact either way."""
    rng = np.random.default_rng(5)
    outputs = 8
    weights = np.zeros((outputs, 3 * outputs), dtype=np.int64)
    for m in range(outputs):
        weights[m, 3 * m:3 * m + 3] = rng.integers(1, 8, size=3) * rng.choice([-1, 1], size=3)
    x = rng.integers(0, 8, size=(50, 3 * outputs))
    expected = dense_forward(x, weights, "none", np.zeros((0, 0)), 0)
    got, netlist, rom = run_memory(weights, Port(3 * outputs, 3, False), "INT12", "none", np.zeros((0, 0)), 0,
                                   outputs, x)
    np.testing.assert_array_equal(got, expected)
    assert rom.step_port and sum(node.op == "mul" for node in netlist.nodes) == 3
    assert sum(node.op == "select" for node in netlist.nodes) == 3
    dense = rng.integers(-3, 4, size=(outputs, 4))
    module, *_, rom = memory_unit_module("d", dense, Port(4, 3, False), "INT12", "none", np.zeros((0, 0)), 0, outputs)
    assert not rom.step_port and "step" not in [name for _, _, name in module.ports]


def test_rom_bits_are_read_back_from_the_layer_file(tmp_path):
    from qonnx_c4ml.chisel.fold.memory import rom_bits_in_file
    (tmp_path / "a.v").write_text("module a;\n" + "\n".join(rom_lines(4, 12, [1, 2, 3, 4], "s")) + "\nendmodule\n")
    (tmp_path / "b.v").write_text("module b;\nendmodule\n")
    assert rom_bits_in_file(tmp_path / "a.v") == 48 and rom_bits_in_file(tmp_path / "b.v") == 0
