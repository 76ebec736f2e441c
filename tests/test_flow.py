"""qonnx_c4ml.flow.compile: a real compile of a small QONNX MLP, the files it writes, the
result it returns, the whole-or-nothing directory and the Verilog-only mode used by Circuit
and the sweep."""
import json

import pytest
from qonnx_builder import LayerSpec, MLPSpec, build_mlp

from qonnx_c4ml import flow
from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.io import read_model
from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.metadata import circuit_description, verilog_dir

SPEC = MLPSpec(8, [LayerSpec(12), LayerSpec(4, quantizer="none", relu=False)])


@pytest.fixture
def mlp_path(tmp_path):
    path = tmp_path / "mlp.onnx"
    build_mlp(SPEC, path)
    return path


def test_compile_writes_the_directory_and_returns_the_result(mlp_path, tmp_path):
    out = tmp_path / "out"
    stages = []
    result = flow.compile(mlp_path, out, pipeline="layer", top="my_top", on_stage=stages.append)
    assert stages == ["model", "generate"]  # no synthesis asked
    assert result.output_dir == out and result.synthesis is None
    description = result.description
    assert description.top == "my_top" and description.files[-1] == "my_top.v"
    assert result.verilog_files == [out / f for f in description.files]
    assert all(path.is_file() for path in result.verilog_files)
    names = {p.name for p in out.iterdir()}
    assert {"model_lbir.onnx", "report.json", "report.md", "report.html", "vivado_synth.tcl"} <= names
    assert not [n for n in out.parent.iterdir() if n.name.startswith(".out.")]  # the staging dir is gone
    report = json.loads((out / "report.json").read_text())
    assert report == result.report
    assert report["model"] == str(mlp_path) and report["top"] == "my_top" and report["pipeline"] == "layer"
    assert report["latency_cycles"] == description.latency_cycles > 0
    assert [layer["name"] for layer in report["layers"]] == [layer.name for layer in description.layers]
    assert result.adders == sum(layer["adders"] for layer in report["layers"]) > 0
    # the saved model points at the final directory, not at the staging one
    saved = read_model(out / "model_lbir.onnx")
    assert verilog_dir(saved) == out.resolve()
    assert verilog_dir(result.model) == out.resolve()
    assert circuit_description(saved).files == description.files
    assert "my_top" in (out / "report.md").read_text()


def test_compile_refuses_a_non_empty_directory_unless_forced(mlp_path, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    with pytest.raises(C4mlError, match="is not empty; choose a new directory or pass --force to replace it"):
        flow.compile(mlp_path, out)
    assert (out / "mine.txt").read_text() == "user data"
    result = flow.compile(mlp_path, out, force=True)
    assert not (out / "mine.txt").exists() and (out / "report.json").is_file()
    assert result.report["top"] == flow.DEFAULT_TOP


def test_a_failed_compile_leaves_the_old_directory(mlp_path, tmp_path):
    out = tmp_path / "out"
    flow.compile(mlp_path, out)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(C4mlError, match="max_operators|operators"):
        flow.compile(mlp_path, out, force=True, max_operators=1)
    assert sorted(p.name for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []


def test_bad_input_type_fails_before_the_model_is_read(tmp_path):
    stages = []
    with pytest.raises(C4mlError):
        flow.compile(tmp_path / "missing.onnx", tmp_path / "out", input_datatype="INT0", on_stage=stages.append)
    assert stages == ["model"] and not (tmp_path / "out").exists()


def test_verilog_only_writes_in_place_and_continues_from_lbir(mlp_path, tmp_path):
    out = tmp_path / "v"
    out.mkdir()
    (out / "notes.txt").write_text("kept")  # outputs=False writes only the Verilog; nothing is removed
    model = read_model(mlp_path)
    result = flow.compile(model, out, style="parallel", outputs=False)
    assert result.report["model"] is None  # given a ModelWrapper, not a path
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["notes.txt", *result.description.files, result.description.registered_wrapper])
    assert any(n.domain == DOMAIN for n in result.model.graph.node)
    # an LBIR model is not lowered again: the same circuit from the result's own LBIR graph
    again = flow.compile(result.model, tmp_path / "v2", outputs=False)
    assert again.description.files == result.description.files
    assert [(a.name, a.adders) for a in again.description.layers] == \
        [(a.name, a.adders) for a in result.description.layers]
    assert again.report["infer_lbir_s"] < 0.01


def test_unknown_synthesis_tool(mlp_path, tmp_path):
    with pytest.raises(C4mlError, match="only synthesis tool"):
        flow.compile(mlp_path, tmp_path / "out", synth="vivado")
    assert not (tmp_path / "out").exists()


def test_synthesis_adds_yosys_numbers(mlp_path, tmp_path):
    stages = []
    result = flow.compile(mlp_path, tmp_path / "out", synth="yosys", on_stage=stages.append)
    assert stages == list(flow.STAGES)
    assert result.synthesis is not None and result.synthesis.luts > 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["luts"] == result.synthesis.luts and report["flow"] == "generic-fast"
    assert report["depth"] == result.synthesis.depth and report["synth_s"] >= 0
    # the Verilog-only result synthesizes the same circuit from its own directory
    verilog_only = flow.compile(mlp_path, tmp_path / "v", outputs=False)
    assert flow.synthesize(verilog_only).luts == result.synthesis.luts
    assert verilog_only.report["luts"] == result.synthesis.luts
