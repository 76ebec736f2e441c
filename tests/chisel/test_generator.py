"""chisel/generator.py properties that need no simulation: lint cleanliness, determinism
(digit recoding and staircases: test_arith.py)."""
import shutil
import subprocess

import pytest
from qonnx_builder import LayerSpec, MLPSpec, build_mlp

from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR

L = LayerSpec
SPECS = {
    "relu_thresholds": MLPSpec(12, [L(16, a_bits=2), L(6, relu=False, signed=True, rounding="HALF_UP")]),
    "float_out": MLPSpec(12, [L(16), L(5, quantizer="none", relu=False)]),
    "bipolar": MLPSpec(12, [L(16, quantizer="bipolar", relu=False, bipolar_weights=True),
                            L(5, quantizer="none", relu=False)]),
    "wide": MLPSpec(6, [L(8, w_bits=8, a_bits=8), L(3, relu=False, signed=True)], in_bits=8),
}


def generate(spec, out_dir, pipeline):
    lbir = build_mlp(spec).transform(InferLBIR())
    return lbir.transform(GenerateChiselCircuit(out_dir, pipeline=pipeline))


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator is installed by scripts/setup.sh")
@pytest.mark.parametrize("pipeline", ["none", "layer", "1", "3"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_verilog_is_lint_clean(name, pipeline, tmp_path):
    generate(SPECS[name], tmp_path, pipeline)
    files = sorted(str(p) for p in tmp_path.glob("*.v"))
    for top in ("c4ml_top", "c4ml_top_registered"):
        result = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", top, *files],
                                capture_output=True, text=True)
        assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_generation_is_deterministic(tmp_path):
    for run in ("a", "b"):
        generate(SPECS["relu_thresholds"], tmp_path / run, "layer")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
