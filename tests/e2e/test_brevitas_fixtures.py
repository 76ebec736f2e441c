"""Real Brevitas 0.13.4 exports (tests/fixtures, made by scripts/make_brevitas_fixtures.py)
through the whole flow: RTL against qonnx `execute_onnx` on the original model.

Power-of-two fixtures must be bit-exact on 1000 inputs; float-scale / BatchNorm fixtures obey
the stated tolerance (>= 99.9 % of output elements on the same code, never > 1 LSB), and the
measured rates are printed.
"""
import json
from pathlib import Path

import pytest
from combined import CombinedCircuits, host_split, host_tail

from qonnx_c4ml.io import read_model
from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.comparison import compare, output_lsb
from qonnx_c4ml.reference import execute
from qonnx_c4ml.verify import random_inputs, verify

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
SAMPLES = 1000


@pytest.mark.slow
def test_all_fixtures_rtl_against_qonnx(tmp_path, record_property):
    names = sorted(MANIFEST)
    originals = [read_model(FIXTURES / MANIFEST[n]["file"]) for n in names]
    lowered = [m.transform(InferLBIR()) for m in originals]
    combined = CombinedCircuits(lowered, tmp_path / "verilog", cache_dir=tmp_path / "cache")
    inputs = [random_inputs(m, SAMPLES, seed=i) for i, m in enumerate(originals)]
    splits = [host_split(m, x) for m, x in zip(lowered, inputs)]
    rtl_codes = combined.run_codes([codes for _, _, codes, _, _ in splits])
    failures = []
    for name, original, lbir, x, split, codes in zip(names, originals, lowered, inputs, splits, rtl_codes):
        model, context, _, circuit_output, tail = split
        reference = execute(original, x)
        report = compare("rtl", reference, host_tail(model, context, tail, circuit_output, codes),
                         output_lsb(lbir), 0)
        record_property("c4ml_summary", (
            f"fixture {name:26} RTL vs qonnx on {SAMPLES} inputs: bit-exact {report.exact_fraction:.4f}, "
            f"same code {report.same_code_fraction:.4f}, max {report.max_diff_lsb:.3g} LSB"))
        if MANIFEST[name]["expect"] == "bit-exact":
            ok = report.exact_fraction == 1.0
        else:
            ok = report.same_code_fraction >= 0.999 and report.max_diff_lsb <= 1.0
        if not ok:
            failures.append((name, report))
    assert not failures, failures


@pytest.mark.slow
@pytest.mark.parametrize("name,pipeline", [("jets_w4a4_po2", "layer"), ("jets_w4a4_float", "none")])
def test_verify_through_execute_onnx(name, pipeline, tmp_path):
    """The product path: InferLBIR -> GenerateChiselCircuit -> RTLSim -> execute_onnx."""
    report = verify(FIXTURES / MANIFEST[name]["file"], samples=SAMPLES, seed=3, pipeline=pipeline,
                    build_dir=tmp_path / "build")
    print(report.table())
    stages = {c.stage: c for c in report.comparisons}
    assert set(stages) == {"qcdq", "lbir", "rtl"}
    assert not stages["qcdq"].skipped and stages["qcdq"].same_code_fraction == 1.0
    if MANIFEST[name]["expect"] == "bit-exact":
        assert report.all_exact
    assert report.within_tolerance
    assert stages["rtl"].same_code_fraction == 1.0


def test_fixture_manifest_matches_files():
    for name, entry in MANIFEST.items():
        model = read_model(FIXTURES / entry["file"])
        assert sorted({n.op_type for n in model.graph.node}) == entry["ops"], name
