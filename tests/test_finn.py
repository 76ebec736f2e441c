"""qonnx_c4ml.finn.step_c4ml_direct_logic as a FINN build step, called the way FINN's
build_dataflow calls the steps of `cfg.steps` (for each step: model = step(model, cfg), then the
model saved to cfg.output_dir/intermediate_models/<step>.onnx), with a real
finn.builder.build_dataflow_config.DataflowBuildConfig.

build_dataflow itself cannot be imported here: finn-plus 1.6.1's build_dataflow_steps imports
finn.xsi.SimEngine at module level, which raises without a Vivado installation (XILINX_VIVADO). So
FINN's front-end steps are spelled out with the same FINN passes in the same order
(tests/finn_flow.py: step_qonnx_to_finn, step_tidy_up, step_streamline).
"""
import json
from pathlib import Path

import numpy as np
import pytest
from finn_flow import finn_outputs, step_qonnx_to_finn, step_streamline, step_tidy_up

from finn.builder.build_dataflow_config import DataflowBuildConfig
from qonnx.core.modelwrapper import ModelWrapper

from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.finn import c4ml_step, step_c4ml_direct_logic
from qonnx_c4ml.io import read_model
from qonnx_c4ml.reference import execute

EXAMPLES = Path(__file__).resolve().parent / "fixtures" / "examples"


def run_steps(model, cfg):
    """build_dataflow's loop over cfg.steps (without its logging and timing)."""
    for step in cfg.steps:
        model = step(model, cfg)
        if cfg.save_intermediate_models:
            directory = Path(cfg.output_dir) / "intermediate_models"
            directory.mkdir(parents=True, exist_ok=True)
            model.save(str(directory / f"{step.__name__}.onnx"))
    return model


@pytest.mark.slow
def test_step_after_finn_streamlining_writes_verilog_and_report(tmp_path):
    """BNN flow: FINN's step_qonnx_to_finn -> step_tidy_up -> step_streamline (which makes the
    XnorPopcountMatMuls) -> our step."""
    cfg = DataflowBuildConfig(output_dir=str(tmp_path / "build"), synth_clk_period_ns=10.0, generate_outputs=[],
                              steps=[step_qonnx_to_finn, step_tidy_up, step_streamline, step_c4ml_direct_logic])
    original = read_model(EXAMPLES / "fc_small_1w1a.onnx")
    result = run_steps(original, cfg)
    out = tmp_path / "build" / "c4ml"
    assert any(n.domain == "qonnx_c4ml.lbir" for n in result.graph.node)
    assert result.get_metadata_prop("c4ml_circuit")
    report = json.loads((out / "report.json").read_text())
    assert report["verilog_files"] and all((out / f).is_file() for f in report["verilog_files"])
    assert "module " in (out / report["verilog_files"][0]).read_text()
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    # what FINN handed over, and the check against it (numpy and Verilator RTL, 100 inputs)
    given = ModelWrapper(str(out / "finn_input.onnx"))
    assert "XnorPopcountMatMul" in {n.op_type for n in given.graph.node}
    checked = json.loads((out / "verify.json").read_text())
    assert "FINN graph" in checked["reference"]
    stages = {c["stage"]: c for c in checked["comparisons"]}
    assert stages["lbir"]["exact_fraction"] == 1.0 and stages["rtl"]["exact_fraction"] == 1.0
    assert checked["samples"] == 100
    assert (tmp_path / "build" / "intermediate_models" / "step_c4ml_direct_logic.onnx").is_file()
    # the saved LBIR model computes what the FINN graph computes
    x = np.random.default_rng(5).uniform(-1, 1, size=(16, 1, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(execute(ModelWrapper(str(out / "model_lbir.onnx")), x), finn_outputs(given, x))


def test_step_with_options_after_tidy_up(tmp_path):
    step = c4ml_step(verify_samples=0, pipeline="1")
    cfg = DataflowBuildConfig(output_dir=str(tmp_path / "b"), synth_clk_period_ns=10.0, generate_outputs=[],
                              steps=[step_qonnx_to_finn, step_tidy_up, step])
    result = run_steps(read_model(EXAMPLES / "fc_small_2w2a.onnx"), cfg)
    report = json.loads((tmp_path / "b" / "c4ml" / "report.json").read_text())
    assert report["pipeline"] == "1" and report["latency_cycles"] >= 1
    assert not (tmp_path / "b" / "c4ml" / "verify.json").exists()
    assert any(n.op_type == "QDense" for n in result.graph.node)


def test_unknown_step_option_is_refused():
    with pytest.raises(C4mlError, match="unknown option"):
        c4ml_step(samples=3)


def test_step_after_finn_cnn_streamlining(tmp_path):
    """CNN flow: FINN's step_streamline lowers the CNV's convolutions (Im2Col, MaxPoolNHWC); our
    step after it writes the Verilog and verify (numpy here; RTL of these stages:
    transformations/test_finn_conv.py) is exact against that FINN graph."""
    step = c4ml_step(verify_samples=20, rtl=False)
    cfg = DataflowBuildConfig(output_dir=str(tmp_path / "cnn"), synth_clk_period_ns=10.0, generate_outputs=[],
                              steps=[step_qonnx_to_finn, step_tidy_up, step_streamline, step])
    result = run_steps(read_model(EXAMPLES / "cnv_small_2w2a.onnx"), cfg)
    out = tmp_path / "cnn" / "c4ml"
    given = ModelWrapper(str(out / "finn_input.onnx"))
    assert {"Im2Col", "MaxPoolNHWC"} <= {n.op_type for n in given.graph.node}
    assert sum(n.op_type == "QConv2D" for n in result.graph.node) == 6
    checked = json.loads((out / "verify.json").read_text())
    assert "FINN graph" in checked["reference"]
    lbir = {c["stage"]: c for c in checked["comparisons"]}["lbir"]
    assert lbir["exact_fraction"] == 1.0 and lbir["exact_same_code_fraction"] == 1.0  # the exact engine agrees
