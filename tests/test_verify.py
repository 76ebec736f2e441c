"""verify.py without RTL: random inputs that cover the input quantizer's codes, clipping and
ties, and the differential check in numpy (LBIR against float32 qonnx and the exact reference).
Through Verilator: tests/e2e/test_verify_exact.py and the other end-to-end tests."""
from pathlib import Path

import numpy as np
import pytest

from qonnx_builder import LayerSpec, MLPSpec, build_mlp
from wild_models import batchless_cnn
from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.io import read_model
from qonnx_c4ml.verify import input_quantizer, random_inputs, verify
from qonnx_c4ml.verify_report import VerifyReport

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "jets_w4a4_po2.onnx"


def test_input_quantizer_and_random_inputs_cover_codes_clipping_and_ties():
    model = read_model(FIXTURE)
    scale, lo, hi = input_quantizer(model)
    assert scale > 0 and lo < 0 < hi
    x = random_inputs(model, 2000, seed=1)
    assert x.dtype == np.float32 and x.shape == (2000, *model.get_tensor_shape(model.graph.input[0].name)[1:])
    u = x / np.float32(scale)
    assert u.min() < lo - 0.5 and u.max() > hi + 0.5  # beyond both clipping ends
    ties = np.isclose(u - np.floor(u), 0.5, atol=1e-6)
    assert 0.1 < ties.mean() < 0.35  # a fifth of the draws lies exactly halfway
    assert np.array_equal(random_inputs(model, 2000, seed=1), x)  # the seed decides
    assert not np.array_equal(random_inputs(model, 2000, seed=2), x)


def test_verify_without_rtl_is_exact_on_a_power_of_two_mlp():
    report = verify(str(FIXTURE), samples=200, rtl=False)
    assert isinstance(report, VerifyReport) and report.passed and report.exact_agreement
    stages = {c.stage: c for c in report.comparisons}
    assert "rtl" not in stages and stages["lbir"].exact_fraction == 1.0
    assert report.samples == 200 and report.reference


def test_given_inputs_are_used():
    model = build_mlp(MLPSpec(6, [LayerSpec(5), LayerSpec(3, quantizer="none", relu=False)]))
    x = random_inputs(model, 7, seed=2)
    report = verify(model, inputs=x, rtl=False, exact=False)
    assert report.samples == 7 and report.exact_skipped and report.within_tolerance and report.passed


def test_layerwise_needs_a_batch_axis():
    with pytest.raises(C4mlError, match="needs a model with a batch axis"):
        verify(batchless_cnn(), samples=2, rtl=False, layerwise=True)
