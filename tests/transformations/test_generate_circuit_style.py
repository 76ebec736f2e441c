"""GenerateChiselCircuit records on every LBIR node the circuit style chosen for it."""
from pathlib import Path

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.io import read_model
from qonnx_c4ml.lbir.graph import lbir_chain
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def styles(path, tmp_path, style):
    lbir = read_model(path).transform(InferLBIR())
    assert all(getCustomOp(n).get_nodeattr("circuit_style") == "" for n in lbir_chain(lbir))
    generated = lbir.transform(GenerateChiselCircuit(tmp_path, style=style))
    return [(n.op_type, getCustomOp(n).get_nodeattr("circuit_style")) for n in lbir_chain(generated)]


def test_parallel_layers_say_parallel(tmp_path):
    assert {s for _, s in styles(FIXTURES / "jets_w2a2_po2.onnx", tmp_path, "parallel")} == {"parallel"}


def test_streaming_front_and_parallel_tail(tmp_path):
    found = styles(FIXTURES / "cnn" / "mnist_cnn_w4a4_po2.onnx", tmp_path, "streaming")
    assert [s for op, s in found if op in ("QConv2D", "QMaxPool2D")] == ["streaming"] * 4
    assert [s for op, s in found if op == "QDense"] == ["parallel"]
