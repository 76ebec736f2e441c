"""Differential fuzz of folding (issue 13): random small dense nets and small CNNs (conv/pool
front + dense layers, every bit width drawn) with a random reuse factor per foldable LBIR node
(tests/fold_fuzz_models.py: FOLDABLE draws R by op type) and a random weight_memory policy, InferLBIR ->
GenerateChiselCircuit(style="folded") -> RTLSim -> qonnx execute_onnx, against qonnx
execute_onnx on the raw model: 0 mismatching output elements on 32 inputs each.  The seed is
in every failure message and in record_property; `python benchmarks/fold_fuzz.py --seeds N`
runs more seeds."""
import numpy as np
import pytest
from fold_fuzz_models import FOLDABLE, random_dense, random_reuse, run_case
from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.lbir.graph import lbir_chain
from qonnx_c4ml.transformations import InferLBIR

SEED = 20261203
# cnn SEED + 7 and + 8 draw folded convs in the memory form (weight_memory always / auto)
CASES = [("dense", SEED + i) for i in range(4)] + [("cnn", SEED + i) for i in (0, 1, 2, 3, 7, 8)]


@pytest.mark.parametrize("kind,seed", CASES)
def test_random_folding_rtl_equals_qonnx(kind, seed, tmp_path, record_property):
    mismatches, elements, text = run_case(kind, seed, tmp_path / "verilog")
    record_property("c4ml_summary", f"fold fuzz {text}: {mismatches}/{elements} output elements differ")
    print(f"fold fuzz {text}: {mismatches}/{elements} mismatches")
    assert mismatches == 0, f"fold fuzz {text}: {mismatches}/{elements} output elements differ from qonnx " \
                            f"(rerun: run_case({kind!r}, {seed}, DIR))"


def test_reuse_factors_are_drawn_per_foldable_node():
    rng = np.random.default_rng(SEED)
    for _ in range(5):
        lbir = random_dense(rng).transform(InferLBIR())
        reuse = random_reuse(rng, lbir)
        nodes = [n for n in lbir_chain(lbir) if n.op_type in FOLDABLE]
        assert set(reuse) == {n.name for n in nodes}
        for node in nodes:
            assert 1 <= reuse[node.name] <= getCustomOp(node).weight_codes().shape[0] + 1
