"""transformations/generate_folded.py: GenerateChiselCircuit(style="folded") on a dense chain
records a one-pixel streaming circuit and the folded style on every node; the reuse factor
is an int or a dict by node name; the operator limit sees the folded size; anything but a
QDense chain is refused naming the node.  (RTL against qonnx: tests/e2e/test_folded.py.)"""
from pathlib import Path

import pytest
from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.io import read_model
from qonnx_c4ml.lbir.graph import lbir_chain
from qonnx_c4ml.metadata import circuit_description
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR
from qonnx_c4ml.transformations.generate_folded import estimate, reuse_factors

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def jets():
    return read_model(FIXTURES / "jets_w2a2_po2.onnx").transform(InferLBIR())


def test_conv_front_streams_into_the_folded_tail(tmp_path):
    cnn = read_model(FIXTURES / "cnn" / "chisel4ml_cnn.onnx").transform(InferLBIR())
    model = cnn.transform(GenerateChiselCircuit(tmp_path, style="folded", reuse_factor=4))
    stream = circuit_description(model).stream
    found = [(n.op_type, getCustomOp(n).get_nodeattr("circuit_style")) for n in lbir_chain(model)]
    assert {s for op, s in found if op != "QDense"} == {"streaming"} and {s for op, s in found if op == "QDense"} == {
        "folded"}
    assert stream["in_shape"] == [3, 6, 6] and stream["layers"] and stream["folded_layers"]
    assert stream["ii_cycles"] >= 36 and (tmp_path / "c4ml_top.v").read_text().count(" u_") == 2


def test_folded_description_and_node_attributes(jets, tmp_path):
    names = [n.name for n in lbir_chain(jets)]
    model = jets.transform(GenerateChiselCircuit(tmp_path, style="folded", reuse_factor={names[0]: 8, names[2]: 3}))
    description = circuit_description(model)
    assert description.style == "streaming" and description.stream["folded"]
    assert description.stream["in_shape"] == [16, 1, 1] and description.out.elements == 5
    assert [layer["steps"] for layer in description.stream["folded_layers"]] == [8, 1, 3, 1]
    assert description.stream["ii_cycles"] == 8 and description.latency_cycles == 9 + 2 + 4 + 2
    assert [layer.name for layer in description.layers] == names
    for node in lbir_chain(model):
        op = getCustomOp(node)
        assert op.get_nodeattr("circuit_style") == "folded"
        assert Path(op.get_nodeattr("verilog_file")).is_file() and op.get_nodeattr("verilog_module") == node.name
    assert all((tmp_path / f).is_file() for f in description.files)


def test_reuse_factor_forms_and_errors(jets):
    nodes = lbir_chain(jets)
    assert reuse_factors(nodes, 4) == [4] * 4
    assert reuse_factors(nodes, {nodes[1].name: 2}) == [1, 2, 1, 1]
    with pytest.raises(UnsupportedModelError, match="not LBIR layers"):
        reuse_factors(nodes, {"nope": 2})
    for bad in (0, 1.5, True):
        with pytest.raises(UnsupportedModelError, match="not an integer >= 1"):
            reuse_factors(nodes, bad)


def test_operator_limit_sees_the_folded_size(jets, tmp_path):
    nodes = lbir_chain(jets)
    parallel, folded = estimate(nodes, [1] * 4), estimate(nodes, [8] * 4)
    assert folded < parallel / 3
    with pytest.raises(UnsupportedModelError, match="folded circuit would need about"):
        jets.transform(GenerateChiselCircuit(tmp_path, style="folded", reuse_factor=8, max_operators=folded - 1))
    jets.transform(GenerateChiselCircuit(tmp_path, style="folded", reuse_factor=8, max_operators=folded))


def test_refusals(jets, tmp_path):
    residual = read_model(FIXTURES / "cnn" / "residual_block.onnx").transform(InferLBIR())
    first = lbir_chain(residual)[0]  # its skip path stops the streaming front: nothing streams
    with pytest.raises(UnsupportedModelError, match=f"folds dense layers only; QConv2D '{first.name}'"):
        residual.transform(GenerateChiselCircuit(tmp_path, style="folded", reuse_factor=2))
    with pytest.raises(UnsupportedModelError, match="pipeline must be 'none'"):
        jets.transform(GenerateChiselCircuit(tmp_path, style="folded", pipeline="layer"))


def test_target_ii_chooses_the_reuse_factors(jets, tmp_path):
    model = jets.transform(GenerateChiselCircuit(tmp_path, style="folded", target_ii=16))
    stream = circuit_description(model).stream
    assert [layer["reuse_factor"] for layer in stream["folded_layers"]] == [16, 16, 16, 5] and stream["ii_cycles"] == 16
    with pytest.raises(UnsupportedModelError, match="not both"):
        GenerateChiselCircuit(tmp_path, style="folded", reuse_factor=2, target_ii=4)
    with pytest.raises(UnsupportedModelError, match="target_ii=4 applies to style='folded' only"):
        GenerateChiselCircuit(tmp_path, style="parallel", target_ii=4)
    with pytest.raises(UnsupportedModelError, match="target_ii=0 is not an integer"):
        jets.transform(GenerateChiselCircuit(tmp_path, style="folded", target_ii=0))


def test_max_luts_chooses_the_smallest_ii_that_fits(jets, tmp_path):
    from qonnx_c4ml.chisel.fold.generate import format_report

    fits = {}
    for budget in (20_000, 8_000, 4_000, 3_000):
        stream = circuit_description(jets.transform(GenerateChiselCircuit(
            tmp_path / str(budget), style="folded", max_luts=budget))).stream
        assert stream["estimated_luts"] <= budget  # the exact unit cost, checked after generation
        fits[budget] = stream["ii_cycles"]
        reasons = {layer["chosen_by"] for layer in stream["folded_layers"]}
        assert reasons <= {"max_luts", "fully folded"}
        assert "max_luts" in format_report({**stream, "layers": stream["folded_layers"]})
    assert fits[20_000] == 1 and fits[20_000] < fits[8_000] < fits[4_000] <= fits[3_000]
    # one cycle less than the chosen II does not fit 8,000 (R = 4 everywhere: 8,214 estimated LUTs)
    assert fits[8_000] == 5
    both = circuit_description(jets.transform(GenerateChiselCircuit(
        tmp_path / "both", style="folded", max_luts=20_000, target_ii=3))).stream
    assert both["ii_cycles"] == 1 and {layer["chosen_by"] for layer in both["folded_layers"]} == {"max_luts+target_ii"}
    with pytest.raises(UnsupportedModelError, match=r"max_luts=8000: .* at II 2 \(target_ii=2\)") as error:
        jets.transform(GenerateChiselCircuit(tmp_path / "no", style="folded", max_luts=8_000, target_ii=2))
    assert "the smallest II under max_luts=8000 is 5" in str(error.value)
    with pytest.raises(UnsupportedModelError, match="raise max_luts to at least"):
        jets.transform(GenerateChiselCircuit(tmp_path / "no2", style="folded", max_luts=100))
    with pytest.raises(UnsupportedModelError, match="max_luts=100 applies to style='folded' only"):
        GenerateChiselCircuit(tmp_path, style="parallel", max_luts=100)
    with pytest.raises(UnsupportedModelError, match="not both"):
        GenerateChiselCircuit(tmp_path, style="folded", reuse_factor=2, max_luts=100)
    with pytest.raises(UnsupportedModelError, match="max_luts=-1 is not an integer"):
        GenerateChiselCircuit(tmp_path, style="folded", max_luts=-1)


def test_a_retry_rescales_each_layer_model_to_the_exact_estimate():
    from qonnx_c4ml.chisel.fold.choose import dense_layer
    from qonnx_c4ml.transformations.generate_folded import calibrated

    layer = dense_layer("fc", 64, lambda r: 6400 // r)
    scaled = calibrated(layer, 8, 1000)  # the model said 800 at R = 8, the netlist 1000
    assert scaled.luts(8) == 1000 and scaled.luts(16) == 500 and scaled.cycles(16) == layer.cycles(16)
