"""rtlsim/transformation.py: RTLSim builds the generated Verilog (one cached Verilator build
of the jets w2a2 fixture, the one tests/rtlsim/test_op.py builds too) and replaces the LBIR
layers by one RTLCircuit node; the host nodes stay."""
from pathlib import Path

import numpy as np
import onnx
import pytest

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.io import read_model
from qonnx_c4ml.lbir import DOMAIN as LBIR_DOMAIN
from qonnx_c4ml.metadata import RTLSIM_LIBRARY_KEY, VERILATOR_KEY
from qonnx_c4ml.reference import execute
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim
from qonnx_c4ml.verify import random_inputs

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "jets_w2a2_po2.onnx"


def test_layers_become_one_circuit_node_and_the_host_nodes_stay(tmp_path):
    generated = read_model(FIXTURE).transform(InferLBIR()).transform(GenerateChiselCircuit(tmp_path / "verilog"))
    lbir_layers = [n.name for n in generated.graph.node if n.domain == LBIR_DOMAIN]
    host = [n.name for n in generated.graph.node if n.domain != LBIR_DOMAIN]
    simulated = generated.transform(RTLSim())
    (circuit,) = [n for n in simulated.graph.node if n.op_type == "RTLCircuit"]
    assert [n.name for n in simulated.graph.node if n.op_type != "RTLCircuit"] == host
    # the replaced layers are saved next to the Verilog, for the node's numpy mode
    saved = onnx.load(str(tmp_path / "verilog" / "lbir_layers.onnx"))
    assert [n.name for n in saved.graph.node] == lbir_layers
    library = simulated.get_metadata_prop(RTLSIM_LIBRARY_KEY)
    assert Path(library).is_file() and "Verilator" in simulated.get_metadata_prop(VERILATOR_KEY)
    x = random_inputs(read_model(FIXTURE), 64, seed=1)
    np.testing.assert_array_equal(execute(simulated, x), execute(generated, x))


def test_a_model_without_generated_circuit_is_refused():
    with pytest.raises(UnsupportedModelError, match="no generated circuit"):
        read_model(FIXTURE).transform(InferLBIR()).transform(RTLSim())
