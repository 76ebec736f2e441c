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


@needs_verilator
def test_memory_form_with_wide_input_slot_selects_matches_numpy(tmp_path):
    """Rows using 3 of 3*M inputs each (a depthwise-like layer), one unit over M = 20 steps in the
    memory form: 3 input slots whose 20-way selects print as option arrays (logic/verilog.py
    ARRAY_SELECT); a thresholded layer after it in the memory form too; Verilator == numpy,
    with back-pressure, and lint-clean."""
    from qonnx_c4ml.sim.stream_simulator import StreamSimulator

    from .fold_ops import dense_op

    rng = np.random.default_rng(8)
    rows = 20
    weights = np.zeros((rows, 3 * rows), dtype=np.int64)
    for m in range(rows):
        weights[m, 3 * m:3 * m + 3] = rng.integers(-3, 4, size=3)
    thresholds = np.sort(rng.integers(-20, 20, size=(4, 3)), axis=1)
    ops = [dense_op(weights, np.zeros((0, 0), dtype=np.int64), "UINT3", "INT8", "dw", requant="none", inp="a",
                    out="b"),
           dense_op(rng.integers(-2, 3, size=(4, rows)), thresholds, "INT8", "UINT2", "pw", inp="b", out="c")]
    description = generate_folded(ops, [rows, 4], tmp_path, top="fold_top", weight_memory=[True, True])
    assert [layer["weight_form"] for layer in description["layers"]] == ["memory", "memory"]
    assert "_o [0:19];" in (tmp_path / "dw_unit.v").read_text()
    codes = rng.integers(0, 8, size=(30, 3 * rows))
    expected = chain_reference(ops, codes)
    with StreamSimulator(description) as circuit:
        for backpressure in (None, 6):
            out, stats = circuit.run_frames(codes, backpressure=backpressure)
            np.testing.assert_array_equal(out, expected)
        assert stats["out_stall_cycles"] > 0
    result = subprocess.run(["verilator", "--lint-only", "-Wall", "-Wno-UNUSEDSIGNAL", "-Wno-WIDTH", "--top-module",
                             "fold_top", *description["files"]], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
