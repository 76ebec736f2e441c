"""verify against the exact reference (issue 10, items 5 and 6), through RTL where it matters.

- tie-heavy float-scale MLP (binary weights of scale 0.1, activations of scale 0.125): the
  float32 reference is noisy (noise > 0, the float32 rule fails) while LBIR and RTL are on
  the exact reference's code for 100 % of outputs; the CLI exits 0 (exit 1 with --no-exact).
- a corrupted LBIR threshold makes the exact comparison fail.
- a small MobileNet-style Brevitas export (depthwise + pointwise, BatchNorm, float scales,
  TruncAvgPool, 8-bit input quantizer; scripts/make_brevitas_mobilenet.py tiny) through RTL
  and layerwise; a corrupted middle layer is named by the layerwise check.
- slow: brevitas_examples' MobileNet-v1 (width 0.25, 64x64) through verify --no-rtl.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import numpy_helper

from exact_models import tie_heavy_mlp
from qonnx_c4ml import layerwise
from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.reference import load_model
from qonnx_c4ml.verify import verify

ROOT = Path(__file__).resolve().parents[2]
MOBILENET_TINY = ROOT / "tests" / "fixtures" / "cnn" / "mobilenet_tiny.onnx"


def _comparison(report, stage):
    return next(c for c in report.comparisons if c.stage == stage)


def test_tie_heavy_mlp_rtl_is_exact_and_noise_is_reported(tmp_path):
    report = verify(tie_heavy_mlp(), samples=1000, seed=0, build_dir=tmp_path / "build")
    noise = report.reference_noise
    assert noise.same_code_fraction < 0.99  # qonnx float32 flips ties: several % of outputs
    assert noise.max_diff_lsb == pytest.approx(1.0)
    for stage in ("lbir", "rtl"):
        c = _comparison(report, stage)
        assert c.exact_same_code_fraction == 1.0 and c.exact_max_diff_lsb < 0.5, stage
        assert c.same_code_fraction < 0.99  # against float32 qonnx it looks broken
    assert not report.within_tolerance and report.passed
    table = report.table()
    assert "noise:" in table and "vs exact" in table
    assert f"{100 * (1 - noise.same_code_fraction):.3f}% of outputs on another code" in table


def _corrupt_first_thresholds(model):
    """Move one reachable threshold of the first thresholded LBIR layer by one."""
    node = next(n for n in model.graph.node if n.domain == DOMAIN and
                any(a.name == "thresholds" for a in n.attribute))
    attr = next(a for a in node.attribute if a.name == "thresholds")
    values = numpy_helper.to_array(attr.t).copy()
    values[:, values.shape[1] // 2] += 1
    attr.t.CopyFrom(numpy_helper.from_array(values.astype(np.int64), attr.t.name))
    return node.name


def test_corrupted_threshold_fails_the_exact_comparison(monkeypatch):
    original_apply = InferLBIR.apply

    def corrupted(self, model):
        lowered, changed = original_apply(self, model)
        _corrupt_first_thresholds(lowered)
        return lowered, changed

    monkeypatch.setattr(InferLBIR, "apply", corrupted)
    report = verify(tie_heavy_mlp(), samples=1000, seed=0, rtl=False)
    lbir = _comparison(report, "lbir")
    assert lbir.exact_same_code_fraction < 1.0
    assert report.exact_agreement is False and not report.passed


def test_cli_exit_status_follows_the_exact_reference(tmp_path):
    path = tmp_path / "ties.onnx"
    tie_heavy_mlp().save(str(path))
    command = [sys.executable, "-m", "qonnx_c4ml.cli", "verify", str(path), "--samples", "500", "--no-rtl"]
    result = subprocess.run(command + ["--json"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["exact_skipped"] == "" and data["reference_noise"]["same_code_fraction"] < 1.0
    lbir = next(c for c in data["comparisons"] if c["stage"] == "lbir")
    assert lbir["exact_same_code_fraction"] == 1.0
    # without the exact reference the float32 rule judges the same correct circuit: exit 1
    result = subprocess.run(command + ["--no-exact"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout
    assert "skipped: not requested (float32 rule decides)" in result.stdout


def test_lowering_for_layerwise_is_inferlbir():
    """InferLBIR.lower (layerwise: graph + activation map) gives the graph InferLBIR.apply gives."""
    for model in (load_model(MOBILENET_TINY), tie_heavy_mlp()):
        ours, acts = layerwise.lower_with_activations(load_model(model))
        theirs = load_model(model).transform(InferLBIR())
        assert ours.model.SerializeToString() == theirs.model.SerializeToString()
        assert acts


@pytest.mark.slow
def test_mobilenet_tiny_rtl_exact_and_layerwise(tmp_path):
    report = verify(MOBILENET_TINY, samples=300, seed=1, build_dir=tmp_path / "build", layerwise=True)
    assert report.exact_skipped == ""
    for stage in ("lbir", "rtl"):
        assert _comparison(report, stage).exact_same_code_fraction == 1.0, stage
    ops = [c.op for c in report.layers]
    assert ops.count("QConv2D") == 6 and ops[-1] == "QDense"  # 5 convs + the Trunc average pool
    assert report.first_failing_layer is None and report.passed
    assert "layerwise" in report.table()


def test_layerwise_names_the_first_broken_layer(monkeypatch):
    original = layerwise.lower_with_activations
    broken = {}

    def corrupted(model, input_datatype=None):
        lowered, acts = original(model, input_datatype)
        convs = [n for n in lowered.graph.node if n.op_type == "QConv2D"]
        node = convs[2]
        attr = next(a for a in node.attribute if a.name == "thresholds")
        values = numpy_helper.to_array(attr.t).copy()
        values[:, :] -= 3  # every output code of this layer moves
        attr.t.CopyFrom(numpy_helper.from_array(values.astype(np.int64), attr.t.name))
        broken["name"] = node.name
        return lowered, acts

    monkeypatch.setattr(layerwise, "lower_with_activations", corrupted)
    report = verify(MOBILENET_TINY, samples=100, seed=2, rtl=False, layerwise=True)
    assert report.first_failing_layer == broken["name"]
    names = [c.name for c in report.layers]
    assert all(c.ok for c in report.layers[:names.index(broken["name"])])
    failing = next(c for c in report.layers if c.name == broken["name"])
    assert failing.exact_same_code_fraction < 1.0
    assert f"first failing: {broken['name']}" in report.table() and "FAILS" in report.table()
    assert not report.passed


def test_layerwise_on_tie_heavy_mlp_is_judged_exactly_and_reports_per_layer_noise():
    report = verify(tie_heavy_mlp(), samples=1000, seed=0, rtl=False, layerwise=True)
    assert len(report.layers) == 3 and report.first_failing_layer is None and report.passed
    for layer in report.layers:
        assert layer.exact_same_code_fraction == 1.0 and layer.noise_same_code_fraction < 0.995, layer
        assert layer.same_code_fraction < 0.999  # the float32 rule alone would fail every layer
    assert "judged by the exact per-layer reference" in report.table()


@pytest.mark.slow
def test_brevitas_mobilenet_v1_no_rtl_is_exact(tmp_path):
    pytest.importorskip("brevitas_examples")
    path = tmp_path / "mobilenet_v1.onnx"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_brevitas_mobilenet.py"), "full", str(path),
                    "--width", "0.25", "--size", "64"], check=True, timeout=600)
    report = verify(path, samples=8, seed=0, rtl=False, layerwise=True)
    assert report.exact_skipped == ""
    assert _comparison(report, "lbir").exact_same_code_fraction == 1.0
    assert len(report.layers) == 29 and report.first_failing_layer is None  # 27 convs, pool, FC
    assert report.passed


# -- review findings: the exact reference on models as users bring them ----------------------------
@pytest.mark.parametrize("annotation, option, preprocess", [(None, "FIXED<16,6>", False), ("UINT8", None, False),
                                                            ("BIPOLAR", None, False), ("BIPOLAR", None, True),
                                                            (None, "INT4", True)])
def test_exact_reference_runs_without_an_input_quantizer(annotation, option, preprocess):
    """The exact engine starts at the input quantizer InferLBIR inserts (prepare_for_lowering)."""
    from wild_models import qkeras_mlp

    model = qkeras_mlp(annotation=annotation, preprocess=preprocess)
    report = verify(model, samples=300, seed=0, rtl=False, layerwise=True, input_datatype=option)
    assert report.exact_skipped == "" and not report.exact_failed
    assert _comparison(report, "lbir").exact_same_code_fraction == 1.0
    assert all(layer.exact_same_code_fraction == 1.0 for layer in report.layers)
    assert report.passed and "judged by the exact per-layer reference" in report.table()


def test_exact_reference_runs_on_a_forked_input():
    from wild_models import forked_input_mlp

    report = verify(forked_input_mlp(), samples=300, seed=0, rtl=False, layerwise=True)
    assert report.exact_skipped == "" and report.passed
    assert _comparison(report, "lbir").exact_same_code_fraction == 1.0


def test_batchless_model_with_one_sample():
    from wild_models import batchless_cnn

    from qonnx_c4ml.errors import C4mlError

    report = verify(batchless_cnn(), samples=1, seed=0, rtl=False)
    assert report.exact_skipped.startswith("batch-less model") and not report.exact_failed
    assert report.passed
    with pytest.raises(C4mlError, match="--layerwise needs a model with a batch axis"):
        verify(batchless_cnn(), samples=1, rtl=False, layerwise=True)


def test_exact_engine_failure_fails_verify(monkeypatch):
    from qonnx_c4ml.exact import engine

    def broken(self):
        raise RuntimeError("engine bug")

    monkeypatch.setattr(engine.ExactEngine, "run", broken)
    report = verify(tie_heavy_mlp(), samples=200, seed=0, rtl=False, exact=True, layerwise=True)
    assert report.exact_failed and "RuntimeError: engine bug" in report.exact_skipped
    assert not report.passed and report.layers is not None
    assert "FAILED: exact reference failed (RuntimeError: engine bug)" in report.table()


def test_layerwise_exact_failure_is_shown_and_fails(monkeypatch):
    from qonnx_c4ml.exact import engine

    original = engine.ExactEngine.run

    def broken_when_seeded(self):
        if self.seeds:
            raise RuntimeError("seeded engine bug")
        return original(self)

    monkeypatch.setattr(engine.ExactEngine, "run", broken_when_seeded)
    report = verify(tie_heavy_mlp(), samples=200, seed=0, rtl=False, layerwise=True)
    assert _comparison(report, "lbir").exact_same_code_fraction == 1.0  # end to end it ran
    assert report.exact_failed and "layerwise exact reference failed" in report.exact_skipped
    assert not report.passed


def test_reference_codes_off_grid_is_a_c4ml_error():
    from types import SimpleNamespace

    from qonnx_c4ml.errors import C4mlError

    act = SimpleNamespace(offset_f32=np.zeros(1), scale_f32=np.ones(1), index=np.array([0]), source="act_t")
    with pytest.raises(C4mlError, match="reference tensor 'act_t' is not on its quantizer's grid"):
        layerwise.reference_codes(np.array([[0.3]], np.float32), act, (1, 1))


def test_check_layers_lowers_with_the_input_type():
    from wild_models import qkeras_mlp

    from qonnx_c4ml.transformations.prepare import prepare_for_lowering
    from qonnx_c4ml.verify import random_inputs

    model = qkeras_mlp()
    x = random_inputs(model, 64, input_datatype="FIXED<16,6>")
    prepared = prepare_for_lowering(model, "FIXED<16,6>")[0]
    checks = layerwise.check_layers(prepared, x, input_datatype="FIXED<16,6>")
    assert len(checks) == 2 and all(c.ok and c.exact_same_code_fraction == 1.0 for c in checks)


def test_exact_engine_ignores_initializers_listed_as_inputs():
    from wild_models import GENERAL, to_legacy

    from qonnx.core.modelwrapper import ModelWrapper

    from qonnx_c4ml.exact import exact_reference
    from qonnx_c4ml.reference import execute_context

    clean = tie_heavy_mlp()
    legacy = ModelWrapper(to_legacy(clean, GENERAL))  # every initializer also a graph input
    assert len(legacy.graph.input) > 1
    x = np.random.default_rng(0).uniform(-1, 1, (1,) + tuple(clean.get_tensor_shape(clean.graph.input[0].name)[1:]))
    _, context = execute_context(clean, x.astype(np.float32))  # the same tensor names
    expected = exact_reference(clean, context).approx()
    assert np.array_equal(exact_reference(legacy, context).approx(), expected)
