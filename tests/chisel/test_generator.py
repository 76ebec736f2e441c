"""Generator properties that need no simulation: digit recoding, lint cleanliness, determinism."""
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from qonnx_builder import LayerSpec, MLPSpec, build_mlp

from qonnx_c4ml.chisel.arith import csd_digits, split_power_of_two, staircase_as_shift, staircase_with_parity
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR

L = LayerSpec
SPECS = {
    "relu_thresholds": MLPSpec(12, [L(16, a_bits=2), L(6, relu=False, signed=True, rounding="HALF_UP")]),
    "float_out": MLPSpec(12, [L(16), L(5, quantizer="none", relu=False)]),
    "bipolar": MLPSpec(12, [L(16, quantizer="bipolar", relu=False, bipolar_weights=True),
                            L(5, quantizer="none", relu=False)]),
    "wide": MLPSpec(6, [L(8, w_bits=8, a_bits=8), L(3, relu=False, signed=True)], in_bits=8),
}


@given(st.integers(1, 1 << 20))
def test_csd_digits_reconstruct_value_without_adjacent_nonzeros(value):
    digits = csd_digits(value)
    assert sum(sign << shift for shift, sign in digits) == value
    shifts = [shift for shift, _ in digits]
    assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:]))


@given(st.integers(1, 1 << 20))
def test_split_power_of_two(value):
    odd, e = split_power_of_two(value)
    assert odd % 2 == 1 and odd << e == value


def test_staircase_detection():
    assert staircase_as_shift([3, 7, 11, 15]) == (3, 2)
    assert staircase_as_shift([3, 7, 12]) is None  # round-half-even ties break uniformity
    assert staircase_as_shift([2, 5, 8]) is None  # step 3 is not a power of two
    assert staircase_as_shift([4]) is None


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


def staircase_count(thresholds, acc):
    return int(sum(acc >= t for t in thresholds))


@given(st.integers(-50, 50), st.integers(1, 5), st.integers(3, 12), st.integers(0, 1), st.integers(0, 1))
def test_parity_staircase_formula(first, shift, n, first_extra, parity):
    step = 1 << shift
    thresholds = [first + i * step + (1 if i % 2 == parity else 0) for i in range(n)]
    found = staircase_with_parity(thresholds)
    assert found is not None
    base, s, p = found
    for acc in range(first - 3 * step, first + (n + 3) * step):
        steps = ((acc - base) >> s) + 1
        tie = int((acc - base) % (2 * step) == p * step)
        assert max(0, min(n, steps - tie)) == staircase_count(thresholds, acc)
