"""transformations/fold_choice.py: given reuse factors (convs fold, pools and joins stay 1),
and chosen ones -- target_ii and max_luts reach the streaming front's convolutions (S steps per
output pixel, S * OH * OW cycles per frame) as well as the dense layers, never below the
front's one-pixel-per-cycle rate."""
from pathlib import Path

import pytest
from residual_models import residual_lbir

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.io import read_model
from qonnx_c4ml.lbir.graph import lbir_chain, lbir_graph
from qonnx_c4ml.metadata import circuit_description
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR
from qonnx_c4ml.transformations.fold_choice import (
    foldable_nodes, form_models, front_min_cycles, front_reuse_factors, lut_models, weight_forms)
from qonnx_c4ml.transformations.stream_front import streaming_front

MNIST = Path(__file__).resolve().parents[1] / "fixtures" / "cnn" / "mnist_cnn_w4a4_po2.onnx"


def test_front_reuse_factors_fold_convs_and_keep_pools_at_one():
    cnn = read_model(MNIST).transform(InferLBIR())
    nodes = lbir_chain(cnn)
    front, rest = nodes[:-1], nodes[-1:]  # Conv_0, MaxPool_0, Conv_1, MaxPool_1 | Gemm_0
    assert front_reuse_factors(front, rest, 3) == ([3, 1, 3, 1], [3])
    assert front_reuse_factors(front, rest, {"Conv_1": 8, "Gemm_0": 2}) == ([1, 1, 8, 1], [2])
    assert front_reuse_factors(front, rest, {"MaxPool_0": 1}) == ([1, 1, 1, 1], [1])
    with pytest.raises(UnsupportedModelError, match="QMaxPool2D 'MaxPool_0': pooling layers do not fold"):
        front_reuse_factors(front, rest, {"MaxPool_0": 2})
    with pytest.raises(UnsupportedModelError, match="Conv_9"):
        front_reuse_factors(front, rest, {"Conv_9": 2})


def test_residual_branch_convs_fold_and_the_join_does_not():
    nodes, circuit_input, _ = lbir_graph(residual_lbir())
    front, rest = streaming_front(nodes, circuit_input)  # one block: Add(x, Conv_1(Conv_0(x))) | Gemm_0
    assert front_reuse_factors(front, rest, 2) == ([2, 2, 1], [2])
    assert [n.name for n in foldable_nodes(front, rest)] == ["Conv_0", "Conv_1", "Gemm_0"]
    with pytest.raises(UnsupportedModelError, match="QAdd 'Add_0': residual joins do not fold"):
        front_reuse_factors(front, rest, {"Add_0": 2})
    assert front_min_cycles(front) == 64  # 8x8 pixels


def test_conv_lut_model_falls_with_r_and_cycles_count_pixels():
    nodes, circuit_input, _ = lbir_graph(read_model(MNIST).transform(InferLBIR()))
    front, rest = streaming_front(nodes, circuit_input)
    conv = lut_models(foldable_nodes(front, rest))[0]  # Conv_0: 4 channels on 26x26 outputs
    assert conv.max_reuse == 4 and [conv.cycles(r) for r in (1, 2, 4)] == [676, 1352, 2704]
    assert conv.luts(4) < conv.luts(2) < conv.luts(1)


def test_target_ii_and_max_luts_fold_the_front_too(tmp_path):
    lbir = read_model(MNIST).transform(InferLBIR())
    parallel = circuit_description(lbir.transform(GenerateChiselCircuit(tmp_path / "r1", style="folded",
                                                                        reuse_factor=1))).stream
    stream = circuit_description(lbir.transform(GenerateChiselCircuit(tmp_path / "ii", style="folded",
                                                                      target_ii=1400))).stream
    convs = [layer for layer in stream["layers"] if layer["op_type"] == "QConv2D"]
    assert [c["reuse_factor"] for c in convs] == [2, 8] and stream["ii_cycles"] <= 1400
    assert {c["chosen_by"] for c in convs} == {"target_ii", "fully folded"}
    folded = circuit_description(lbir.transform(GenerateChiselCircuit(tmp_path / "rmax", style="folded",
                                                                      reuse_factor=1024))).stream
    assert folded["estimated_luts"] < parallel["estimated_luts"]
    budget = (parallel["estimated_luts"] + folded["estimated_luts"]) // 2  # between the two ends
    fitted = circuit_description(lbir.transform(GenerateChiselCircuit(tmp_path / "luts", style="folded",
                                                                      max_luts=budget))).stream
    assert fitted["estimated_luts"] <= budget < parallel["estimated_luts"]
    assert fitted["ii_cycles"] >= parallel["ii_cycles"] == 784  # never below the input rate
    assert any(layer["reuse_factor"] > 1 for layer in fitted["layers"] if layer["op_type"] == "QConv2D")


def test_without_a_target_the_default_lut_budget_folds_what_is_free(tmp_path):
    """style="folded" alone: max_luts=DEFAULT_MAX_LUTS, the smallest II that fits (the MNIST CNN
    fits at its input rate, 784 cycles), and every layer folded as far as that II allows."""
    from qonnx_c4ml.transformations.generate_circuit import DEFAULT_MAX_LUTS

    lbir = read_model(MNIST).transform(InferLBIR())
    transformation = GenerateChiselCircuit(tmp_path / "v", style="folded")
    assert transformation.max_luts == DEFAULT_MAX_LUTS == 300_000 and transformation.reuse_factor == 1
    stream = circuit_description(lbir.transform(transformation)).stream
    assert stream["ii_cycles"] == 784 and stream["estimated_luts"] <= DEFAULT_MAX_LUTS
    convs = [layer for layer in stream["layers"] if layer["op_type"] == "QConv2D"]
    # Conv_1: 121 output pixels x 4 steps = 484 <= 784 (8 steps would be 968); R 4..7 give the same
    # 2 units and the smallest is named
    assert [c["reuse_factor"] for c in convs] == [1, 4] and [c["steps"] for c in convs] == [1, 4]
    assert GenerateChiselCircuit(tmp_path, style="folded", reuse_factor=1).max_luts is None


def test_a_retry_rescales_each_layer_model_to_the_exact_estimate():
    from qonnx_c4ml.chisel.fold.choose import dense_layer
    from qonnx_c4ml.transformations.fold_choice import calibrated

    layer = dense_layer("fc", 64, lambda r: 6400 // r)
    scaled = calibrated(layer, 8, 1000)  # the model said 800 at R = 8, the netlist 1000
    assert scaled.luts(8) == 1000 and scaled.luts(16) == 500 and scaled.cycles(16) == layer.cycles(16)


def test_weight_forms_follow_the_policy_and_auto_takes_the_smaller_estimate():
    nodes, circuit_input, _ = lbir_graph(read_model(MNIST).transform(InferLBIR()))
    front, rest = streaming_front(nodes, circuit_input)
    foldable = foldable_nodes(front, rest)  # Conv_0 (4 channels), Conv_1 (8), Gemm_0 (10 rows)
    factors = {"Conv_0": 1, "Conv_1": 8, "Gemm_0": 10}
    assert weight_forms(foldable, factors, "never") == {"Conv_0": False, "Conv_1": False, "Gemm_0": False}
    # always: every layer with more than one step (Conv_0 at R = 1 has one)
    assert weight_forms(foldable, factors, "always") == {"Conv_0": False, "Conv_1": True, "Gemm_0": True}
    models = form_models(foldable)
    auto = weight_forms(foldable, factors, "auto", models)
    for node, model in zip(foldable, models):
        r = factors[node.name]
        memory = model.in_memory.luts(r)
        assert auto[node.name] == (memory is not None and memory < model.constant.luts(r))
        assert model.luts(r) == min(model.constant.luts(r), memory or model.constant.luts(r))


def test_weight_memory_option_is_checked_and_reported(tmp_path):
    lbir = read_model(MNIST).transform(InferLBIR())
    with pytest.raises(UnsupportedModelError, match="weight_memory='rom' is not one of auto, always, never"):
        GenerateChiselCircuit(tmp_path / "a", style="folded", weight_memory="rom")
    with pytest.raises(UnsupportedModelError, match="applies to style='folded' only"):
        GenerateChiselCircuit(tmp_path / "b", style="parallel", weight_memory="always")
    stream = circuit_description(lbir.transform(GenerateChiselCircuit(
        tmp_path / "c", style="folded", reuse_factor={"Conv_1": 8, "Gemm_0": 10}, weight_memory="never"))).stream
    assert stream["rom_bits"] == 0 and {layer.get("weight_form") for layer in stream["layers"]} <= {"constant", None}
