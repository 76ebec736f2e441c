"""qonnx_c4ml.metadata: what GenerateChiselCircuit and RTLSim record on a model."""
from pathlib import Path

import pytest

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import CircuitDescription, LayerCircuit, Port
from qonnx_c4ml.io import read_model
from qonnx_c4ml.metadata import (
    CIRCUIT_KEY,
    VERILOG_DIR_KEY,
    circuit_description,
    has_circuit,
    record_circuit,
    verilog_dir,
)
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "jets_w2a2_po2.onnx"


def test_generated_circuit_is_recorded_and_read_back(tmp_path):
    lbir = read_model(FIXTURE).transform(InferLBIR())
    assert not has_circuit(lbir)
    generated = lbir.transform(GenerateChiselCircuit(tmp_path / "v"))
    description = circuit_description(generated)
    assert has_circuit(generated) and verilog_dir(generated) == (tmp_path / "v").resolve()
    assert all((verilog_dir(generated) / f).is_file() for f in description.files)
    assert description.inp.elements == 16 and description.out.elements == 5


def test_record_round_trips_a_description(tmp_path):
    model = read_model(FIXTURE)
    port = Port(4, 3, True)
    layer = LayerCircuit("l0", "l0.v", port, Port(2, 5, False), adders=7, in_ports=[port])
    description = CircuitDescription("top", "none", 0, port, Port(2, 5, False), [layer], ["l0.v", "top.v"])
    record_circuit(model, description, tmp_path)
    assert model.get_metadata_prop(VERILOG_DIR_KEY) == str(tmp_path.resolve())
    assert circuit_description(model) == description
    assert CircuitDescription.from_json(model.get_metadata_prop(CIRCUIT_KEY)).layers[0].in_ports == [port]


def test_a_model_without_circuit_says_what_to_apply():
    model = read_model(FIXTURE)
    for read in (circuit_description, verilog_dir):
        with pytest.raises(UnsupportedModelError, match="apply GenerateChiselCircuit first"):
            read(model)
