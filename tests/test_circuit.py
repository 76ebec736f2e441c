"""circuit.py: `Circuit`, a QONNX model as a callable backed by its simulated RTL (one
Verilator build of the jets fixture, shared by the tests here; cached across runs)."""
from pathlib import Path

import numpy as np
import pytest

from qonnx_c4ml import Circuit
from qonnx_c4ml.io import read_model
from qonnx_c4ml.reference import execute, execute_context
from qonnx_c4ml.verify import random_inputs

JETS = Path(__file__).parent / "fixtures" / "jets_w4a4_po2.onnx"


@pytest.fixture(scope="module")
def circuit():
    return Circuit(str(JETS))


def test_circuit_call_equals_execute_onnx_for_every_batch_size(circuit):
    x = random_inputs(read_model(str(JETS)), 700, seed=3)
    for batch in (700, 1, 700, 33):
        np.testing.assert_array_equal(circuit(x[:batch]), execute(circuit.model, x[:batch]))


def test_run_codes_is_the_rtl_node_of_the_model(circuit):
    x = random_inputs(read_model(str(JETS)), 20, seed=4)
    _, context = execute_context(circuit.model, x)
    node = next(n for n in circuit.model.graph.node if n.op_type == "RTLCircuit")
    codes = np.asarray(context[node.input[0]]).astype(np.int64).reshape(20, -1)
    out = circuit.run_codes(codes)
    assert out.shape == (20, circuit.description.out.elements)
    np.testing.assert_array_equal(out, np.asarray(context[node.output[0]]).reshape(out.shape))


def test_description_and_verilog(circuit):
    assert circuit.description.style == "parallel" and circuit.latency_cycles == circuit.description.latency_cycles
    assert (Path(circuit.verilog_dir) / f"{circuit.description.top}.v").is_file()


def test_a_simulated_model_continues_from_where_it_is(circuit):
    again = Circuit(circuit.model)  # already through RTLSim: nothing is generated or built
    assert again.op.get_nodeattr("library") == circuit.op.get_nodeattr("library")
    x = random_inputs(read_model(str(JETS)), 5, seed=5)
    np.testing.assert_array_equal(again(x), circuit(x))
