"""chisel/fold/generate.py: a folded QDense chain in Verilator (the stream harness, as RTLSim
runs it) equals the LBIR numpy chain, continuously (measured II = the slowest layer's steps,
latency = sum of (steps + 1)) and with random input gaps and output back-pressure."""
import shutil
import subprocess

import numpy as np
import pytest

from qonnx_c4ml.chisel.fold.generate import format_report, generate_folded
from qonnx_c4ml.errors import UnsupportedModelError

from .fold_ops import chain_reference, random_chain

needs_verilator = pytest.mark.skipif(shutil.which("verilator") is None,
                                     reason="verilator is installed by scripts/setup.sh")


def test_description_and_report(tmp_path):
    ops = random_chain(0)
    description = generate_folded(ops, [3, 1, 2], tmp_path, top="fold_top")
    assert description["style"] == "streaming" and description["in_shape"] == [6, 1, 1]
    assert description["out_shape"] == [3, 1, 1] and description["pixel_in"] == description["inp"]
    assert [(layer["units"], layer["steps"]) for layer in description["layers"]] == [(3, 3), (5, 1), (2, 2)]
    assert description["ii_cycles"] == 3 and description["latency_cycles"] == 4 + 2 + 3
    assert all((tmp_path / f"{name}.v").is_file() for name in ("fold_top", "dense0", "dense0_unit"))
    report = format_report(description)
    assert "dense0" in report and "7x6" in report and "total (ii, latency)" in report
    with pytest.raises(UnsupportedModelError, match="collides"):
        generate_folded(ops, [1, 1, 1], tmp_path, top="dense1")
    with pytest.raises(UnsupportedModelError, match="reads 5 inputs, but the layer before it produces 7"):
        generate_folded([ops[0], ops[2]], [1, 1], tmp_path)


@needs_verilator
@pytest.mark.parametrize("factors", [[1, 1, 1], [3, 1, 2], [2, 7, 3]])
def test_folded_chain_matches_numpy_with_and_without_backpressure(factors, tmp_path, record_property):
    from qonnx_c4ml.sim.stream_simulator import StreamSimulator

    ops = random_chain(1)
    description = generate_folded(ops, factors, tmp_path, top="fold_top")
    codes = np.random.default_rng(5).integers(0, 8, size=(80, 6))
    expected = chain_reference(ops, codes)
    with StreamSimulator(description) as circuit:
        out, stats = circuit.run_frames(codes)
        np.testing.assert_array_equal(out, expected)
        assert stats["ii"] == description["ii_cycles"] and stats["latency"] == description["latency_cycles"]
        for seed in (3, 4):
            out, stats = circuit.run_frames(codes, backpressure=seed)
            np.testing.assert_array_equal(out, expected)
            assert stats["out_stall_cycles"] > 0
    record_property("c4ml_summary", f"folded chain R={factors}: ii {description['ii_cycles']} "
                                    f"latency {description['latency_cycles']}")


@needs_verilator
def test_folded_verilog_is_lint_clean(tmp_path):
    description = generate_folded(random_chain(2), [2, 7, 3], tmp_path, top="fold_top")  # 7 steps: table selects
    result = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "fold_top", *description["files"]],
                            capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
