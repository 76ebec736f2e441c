"""RTLCircuit: the op RTLSim leaves in a model, its domain, exec modes and run statistics."""
from pathlib import Path

import numpy as np
import onnx

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.io import read_model
from qonnx_c4ml.lbir import DOMAIN as LBIR_DOMAIN
from qonnx_c4ml.reference import execute
from qonnx_c4ml.rtlsim import DOMAIN, RTLCircuit
from qonnx_c4ml.rtlsim.op import STREAM_RUN_ATTRIBUTES
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim
from qonnx_c4ml.verify import random_inputs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def simulated(path, tmp_path, style):
    original = read_model(path)
    generated = original.transform(InferLBIR()).transform(GenerateChiselCircuit(tmp_path / "verilog", style=style))
    return original, generated.transform(RTLSim())


def circuit_node(model):
    return next(n for n in model.graph.node if n.op_type == "RTLCircuit")


def test_rtlcircuit_lives_in_its_own_domain_and_replaces_every_layer(tmp_path):
    original, model = simulated(FIXTURES / "jets_w2a2_po2.onnx", tmp_path, "parallel")
    node = circuit_node(model)
    assert node.domain == DOMAIN == "qonnx_c4ml.rtlsim"
    assert isinstance(getCustomOp(node), RTLCircuit)
    assert not any(n.domain == LBIR_DOMAIN for n in model.graph.node)  # the layers are inside the circuit


def test_saved_model_runs_again_in_both_exec_modes(tmp_path):
    """qonnx finds the op again by its domain after a save/load, and the numpy layers the node
    keeps (exec_mode=python) give the RTL's result."""
    original, model = simulated(FIXTURES / "jets_w2a2_po2.onnx", tmp_path, "parallel")
    model.save(str(tmp_path / "simulated.onnx"))
    loaded = ModelWrapper(onnx.load(str(tmp_path / "simulated.onnx")))
    x = random_inputs(original, 64, seed=3)
    rtl = execute(loaded, x)
    assert np.array_equal(rtl, execute(original, x))
    getCustomOp(circuit_node(loaded)).set_nodeattr("exec_mode", "python")
    assert np.array_equal(execute(loaded, x), rtl)


def test_streaming_run_records_its_cycles_on_the_node_and_the_simulator(tmp_path):
    original, model = simulated(FIXTURES / "cnn" / "trunc_avgpool.onnx", tmp_path, "streaming")
    op = getCustomOp(circuit_node(model))
    x = random_inputs(original, 5, seed=1)
    out = execute(model, x)  # runs a batch-sized copy of the model
    assert np.array_equal(out, execute(original, x))
    stats = op.run_statistics()  # through the loaded simulator every copy shares
    h, w = op.description().stream["in_shape"][1:]
    assert stats["ii"] == h * w and stats["stall_cycles"] == 0 and stats["cycles"] > 5 * h * w
    codes = np.zeros((3, op.description().inp.elements), dtype=np.int64)
    op.run_codes(codes)  # running the node itself records the counts on it, FINN-style
    recorded = {key: op.get_nodeattr(attr) for key, attr in STREAM_RUN_ATTRIBUTES.items()}
    assert recorded == op.run_statistics() and recorded["ii"] == h * w


def test_parallel_circuit_has_no_stream_statistics(tmp_path):
    _, model = simulated(FIXTURES / "jets_w2a2_po2.onnx", tmp_path, "parallel")
    assert getCustomOp(circuit_node(model)).run_statistics() is None
