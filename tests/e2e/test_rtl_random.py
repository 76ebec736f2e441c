"""Differential fuzzing: RTL == qonnx on random QONNX MLPs, many graphs per Verilator build.

Each graph's path: qonnx runs the host prefix (input quantizer) -> the generated circuit in
Verilator -> qonnx runs the host tail (dequantization) -> compared with qonnx
`execute_onnx` on the original QONNX model.  Power-of-two graphs must match bit for bit.

Float-scale/BatchNorm graphs (a fifth of them) by the float32 rule of docs/ARCHITECTURE.md §2.4:
>= 99.9 % of output elements on the same code, never more than one LSB off; the mismatch rate is printed.
(The generator gives them a float bias: a bias-free layer whose integer terms cancel to
acc = 0 sits exactly on a CEIL/UP/FLOOR/DOWN/BipolarQuant boundary, where the float32
reference decides by summation noise -- measured up to 14 % of elements on saturated
random graphs, a property of the reference, not of the circuit.)

CI runs 4 x 125 = 500 graphs; set C4ML_FUZZ_ROUNDS for a longer local profile (each round
is another 125 graphs with the next seed).
"""
import os

import numpy as np
import pytest
from combined import CombinedCircuits, host_split, host_tail
from qonnx_builder import build_mlp, random_mlp_spec

from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.comparison import compare, output_lsb
from qonnx_c4ml.reference import execute
from qonnx_c4ml.verify import random_inputs

GRAPHS_PER_BUILD, SAMPLES, SEED = 125, 300, 20261124
ROUNDS = int(os.environ.get("C4ML_FUZZ_ROUNDS", "4"))


@pytest.mark.slow
@pytest.mark.parametrize("round_index", range(ROUNDS))
def test_random_mlps_rtl_equals_qonnx(round_index, tmp_path, record_property):
    seed = SEED + round_index
    rng = np.random.default_rng(seed)
    specs = [random_mlp_spec(rng, float_scales=0.2) for _ in range(GRAPHS_PER_BUILD)]
    originals = [build_mlp(spec) for spec in specs]
    lowered = [m.transform(InferLBIR()) for m in originals]
    combined = CombinedCircuits(lowered, tmp_path / "verilog", cache_dir=tmp_path / "cache")
    inputs = [random_inputs(m, SAMPLES, seed=i) for i, m in enumerate(originals)]
    splits = [host_split(m, x) for m, x in zip(lowered, inputs)]
    rtl_codes = combined.run_codes([codes for _, _, codes, _, _ in splits])
    mismatches, float_graphs, worst_same_code, float_elements, float_off = [], 0, 1.0, 0, 0
    for i, (spec, original, lbir, x, split, codes) in enumerate(
            zip(specs, originals, lowered, inputs, splits, rtl_codes)):
        model, context, _, circuit_output, tail = split
        reference = execute(original, x)
        result = host_tail(model, context, tail, circuit_output, codes)
        if spec.po2:
            if not np.array_equal(reference, result):
                mismatches.append((i, spec))
            continue
        float_graphs += 1
        report = compare("rtl", reference, result, output_lsb(lbir), 0)
        worst_same_code = min(worst_same_code, report.same_code_fraction)
        float_elements += reference.size
        float_off += round((1 - report.same_code_fraction) * reference.size)
        if report.same_code_fraction < 0.999 or report.max_diff_lsb > 1.0:
            mismatches.append((i, spec, report))
    record_property("c4ml_summary", (
        f"fuzz seed {seed}: {GRAPHS_PER_BUILD} graphs x {SAMPLES} samples, one Verilator build; "
        f"{float_graphs} float-scale graphs: {float_off}/{float_elements} elements one LSB off "
        f"(worst graph {100 * (1 - worst_same_code):.2f} %); {len(mismatches)} failures"))
    assert not mismatches, mismatches[:3]
