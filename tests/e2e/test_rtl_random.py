"""RTL == qonnx on random small MLPs: many graphs share one Verilator build.

Each graph's path: qonnx runs the host prefix (input quantizer) -> the generated circuit in
Verilator -> qonnx runs the host tail (dequantization) -> compared with qonnx
`execute_onnx` on the original QONNX model, bit for bit (power-of-two scales).
"""
import numpy as np
from combined import CombinedCircuits, host_split, host_tail
from qonnx_builder import build_mlp, random_mlp_spec

from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.verify import execute, random_inputs

GRAPHS, SAMPLES, SEED = 150, 400, 20261124


def test_random_mlps_rtl_equals_qonnx(tmp_path):
    rng = np.random.default_rng(SEED)
    specs = [random_mlp_spec(rng) for _ in range(GRAPHS)]
    originals = [build_mlp(spec) for spec in specs]
    lowered = [m.transform(InferLBIR()) for m in originals]
    combined = CombinedCircuits(lowered, tmp_path / "verilog", cache_dir=tmp_path / "cache")
    inputs = [random_inputs(m, SAMPLES, seed=i) for i, m in enumerate(originals)]
    splits = [host_split(m, x) for m, x in zip(lowered, inputs)]
    rtl_codes = combined.run_codes([codes for _, _, codes, _, _ in splits])
    print(f"seed {SEED}: {GRAPHS} graphs x {SAMPLES} samples in one build")
    for i, (original, x, split, codes) in enumerate(zip(originals, inputs, splits, rtl_codes)):
        model, context, _, circuit_output, tail = split
        reference = execute(original, x)
        result = host_tail(model, context, tail, circuit_output, codes)
        assert np.array_equal(reference, result), (i, specs[i])
