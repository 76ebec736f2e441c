"""chisel/fold/estimate.py: the chooser's LUT model of a folded dense layer stays near the
exact unit cost (generate_folded's estimated_luts: chisel/logic/cost.py on the netlist) on
the jets fixture at R = 1, 2, 4, 8, falls as R grows, and is computed from the weights alone.
(LFC-size numbers: benchmarks/folding.py --chooser.)"""
from pathlib import Path

import numpy as np
import pytest
from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.chisel.fold.estimate import (
    DenseLutModel, MemoryLutModel, _bit_length, _signed_bits, shared_multiple_luts)
from qonnx_c4ml.chisel.fold.generate import generate_folded
from qonnx_c4ml.interface import Port
from qonnx_c4ml.io import read_model
from qonnx_c4ml.lbir.dtypes import bits_for_range
from qonnx_c4ml.transformations import InferLBIR

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture(scope="module")
def jets_ops():
    model = read_model(FIXTURES / "jets_w2a2_po2.onnx").transform(InferLBIR())
    return [getCustomOp(n) for n in model.graph.node if n.op_type == "QDense"]


def model_of(op, port):
    thresholds = op.threshold_codes() if op.get_nodeattr("requant") == "thresholds" else ()
    return DenseLutModel(op.weight_codes(), *port.code_range, thresholds)


@pytest.mark.parametrize("reuse_factor", [1, 2, 4, 8])
def test_model_is_near_the_exact_unit_cost_on_jets(jets_ops, reuse_factor, tmp_path, record_property):
    description = generate_folded(jets_ops, [reuse_factor] * len(jets_ops), tmp_path)
    exact = [layer["estimated_luts"] for layer in description["layers"]]
    modelled = [model_of(op, Port(**layer["inp"])).luts(reuse_factor)
                for op, layer in zip(jets_ops, description["layers"])]
    record_property("exact_vs_model", list(zip(exact, modelled)))
    # measured: whole circuit within 5 %, every layer within 11 % (benchmarks/folding_chooser_results.txt)
    assert abs(sum(modelled) / sum(exact) - 1) < 0.08, (exact, modelled)
    for e, m in zip(exact, modelled):
        assert abs(m / e - 1) < 0.15, (exact, modelled)


def test_model_falls_with_reuse_and_caches_per_geometry(jets_ops):
    op = jets_ops[0]
    model = model_of(op, Port(op.weight_codes().shape[1], 3, True))
    costs = [model.luts(r) for r in (1, 2, 4, 8, 16, 32, 64)]
    assert costs == sorted(costs, reverse=True) and costs[0] > 3 * costs[-1]
    assert model.luts(64) == model.luts(1000)  # R above M is M
    assert len(model.cache) == 7


def test_bit_widths_and_shared_multiples():
    for lo, hi in [(0, 0), (0, 1), (0, 7), (-1, 0), (-8, 7), (-9, 3), (-3, 300), (5, 9)]:
        assert _signed_bits(lo, hi) == bits_for_range(lo, hi)[0]
    assert _bit_length(np.array([0, 1, 2, 255, 256])).tolist() == [0, 1, 2, 8, 9]
    # 3 = 4 - 1 and 7 = 8 - 1: one adder each, 4-bit inputs -> 6 and 7 bits; 2, 4, 1 are wiring
    assert shared_multiple_luts([[3, 2], [-7, 4], [1, 1]], 4) == (4 + 2) + (4 + 3)


@pytest.mark.parametrize("reuse_factor", [2, 8])
def test_memory_model_is_near_the_exact_memory_form_cost(jets_ops, reuse_factor, tmp_path):
    """MemoryLutModel vs the memory form's exact unit cost on jets (measured: within 4 % per
    layer at R = 2, 4, 8); its ROM bits bound the generated ROM's (threshold fields are
    modelled as wide as the accumulator, the generator clamps them narrower)."""
    description = generate_folded(jets_ops, [reuse_factor] * len(jets_ops), tmp_path,
                                  weight_memory=[True] * len(jets_ops))
    for op, layer in zip(jets_ops, description["layers"]):
        assert layer["weight_form"] == "memory" and layer["rom_bits"] > 0
        thresholds = op.threshold_codes() if op.get_nodeattr("requant") == "thresholds" else ()
        luts, rom_bits, word = MemoryLutModel(op.weight_codes(), *Port(**layer["inp"]).code_range,
                                              thresholds).numbers(reuse_factor)
        assert abs(luts / layer["estimated_luts"] - 1) < 0.1, (luts, layer["estimated_luts"])
        assert layer["rom_bits"] <= rom_bits == word * layer["steps"]
    assert description["rom_bits"] == sum(layer["rom_bits"] for layer in description["layers"])


def test_memory_model_has_no_form_at_one_step_and_does_not_grow_with_steps():
    rng = np.random.default_rng(4)
    weights = rng.integers(-8, 8, size=(64, 32))
    model, constant = MemoryLutModel(weights, 0, 15), DenseLutModel(weights, 0, 15)
    assert model.numbers(1) is None and model.luts(1) is None
    luts = [model.luts(r) for r in (2, 8, 64)]
    assert luts == sorted(luts, reverse=True)
    # one unit over 64 steps: 32 multipliers instead of 32 selects of up to 16 multiples
    assert model.luts(64) < constant.luts(64) / 2
