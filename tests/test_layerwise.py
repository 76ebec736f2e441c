"""layerwise.py: every LBIR layer fed the float32 reference's own input codes, judged per layer
(exactly where the exact reference exists), in numpy."""
from pathlib import Path


from exact_models import tie_heavy_mlp
from qonnx_c4ml.io import read_model
from qonnx_c4ml.layerwise import LayerCheck, check_layers, layer_table
from qonnx_c4ml.transformations.prepare import prepare_for_lowering
from qonnx_c4ml.verify import random_inputs

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "jets_w4a4_po2.onnx"


def checks_of(model, samples=64):
    prepared = prepare_for_lowering(model)[0]
    return check_layers(prepared, random_inputs(model, samples, seed=0))


def test_every_layer_of_a_power_of_two_mlp_is_exact():
    model = read_model(FIXTURE)
    checks = checks_of(model)
    matmuls = [n for n in model.graph.node if n.op_type in ("MatMul", "Gemm")]
    assert len(checks) == len(matmuls) and all(isinstance(c, LayerCheck) for c in checks)
    assert all(c.ok and c.same_code_fraction == 1.0 and c.exact_same_code_fraction == 1.0 for c in checks)
    assert checks[-1].compared_with == model.graph.output[0].name  # the float last layer, through the host


def test_tie_heavy_layers_are_judged_exactly_and_show_float32_noise():
    checks = checks_of(tie_heavy_mlp(), samples=200)
    assert all(c.ok and c.exact_same_code_fraction == 1.0 for c in checks)
    assert any(c.noise_same_code_fraction < 1.0 for c in checks)  # float32 qonnx flips ties


def test_layer_check_verdict_and_table():
    exact = LayerCheck("fc0", "QDense", 10, 0.5, 3.0, "t0", exact_same_code_fraction=1.0, noise_same_code_fraction=0.9)
    rule = LayerCheck("fc1", "QDense", 10, 0.9995, 1.0, "t1")
    bad = LayerCheck("fc2", "QDense", 10, 0.99, 1.0, "t2")
    assert exact.ok and rule.ok and not bad.ok
    table = layer_table([exact, rule, bad], "fc2").splitlines()
    assert "judged by the exact per-layer reference" in table[0] and "first failing: fc2" in table[0]
    assert table[2].split()[:2] == ["fc0", "QDense"] and "10.000%" in table[2]  # noise = 1 - 0.9
    assert table[4].endswith("FAILS") and not table[3].endswith("FAILS")
    assert "all pass" in layer_table([rule], None) and "float32 rule" in layer_table([rule], None)
