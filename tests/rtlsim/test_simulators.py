"""The per-thread cache of loaded simulators: reuse, and least-recently-used eviction."""
import threading
from pathlib import Path

from qonnx_c4ml.io import read_model
from qonnx_c4ml.metadata import RTLSIM_LIBRARY_KEY, circuit_description
from qonnx_c4ml.rtlsim import simulators
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "jets_w2a2_po2.onnx"


def built(tmp_path):
    generated = read_model(FIXTURE).transform(InferLBIR()).transform(GenerateChiselCircuit(tmp_path / "v"))
    simulated = generated.transform(RTLSim())
    return simulated.get_metadata_prop(RTLSIM_LIBRARY_KEY), circuit_description(generated)


def test_a_loaded_simulator_is_reused_and_evicted_least_recently_used(tmp_path, monkeypatch):
    library, description = built(tmp_path)
    # two descriptions of one library are two entries (a streaming gather may differ)
    other = type(description).from_json(description.to_json())
    other.top = description.top + "_again"
    monkeypatch.setattr(simulators, "MAX_LOADED", 1)
    first = simulators.simulator_for(library, description)
    assert simulators.simulator_for(library, description) is first
    second = simulators.simulator_for(library, other)
    assert second is not first and simulators.loaded_count() == 1
    assert simulators.simulator_for(library, description) is not first  # evicted, loaded anew
    assert simulators.loaded_count() == 1


def test_each_thread_loads_its_own(tmp_path):
    library, description = built(tmp_path)
    mine = simulators.simulator_for(library, description)
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(simulators.simulator_for(library, description)))
    thread.start()
    thread.join()
    assert theirs and theirs[0] is not mine
