"""What the transformations record on a model about its generated circuit, and reading it back.

GenerateChiselCircuit stores the circuit's description and Verilog directory in the model
metadata; RTLSim adds the Verilator library it built and the Verilator used.  Every reader of
those properties goes through this module, so a key is spelled once.
"""
from pathlib import Path

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import CircuitDescription

CIRCUIT_KEY = "c4ml_circuit"  # CircuitDescription JSON
VERILOG_DIR_KEY = "c4ml_verilog_dir"  # absolute path of the generated Verilog
RTLSIM_LIBRARY_KEY = "c4ml_rtlsim_library"  # the Verilator-built shared object
VERILATOR_KEY = "c4ml_verilator"  # "<version> (<where it came from>)"


def record_circuit(model, description, verilog_dir):
    """Store `description` and the directory holding its Verilog files on `model`."""
    model.set_metadata_prop(CIRCUIT_KEY, description.to_json())
    model.set_metadata_prop(VERILOG_DIR_KEY, str(Path(verilog_dir).resolve()))


def has_circuit(model):
    return bool(model.get_metadata_prop(CIRCUIT_KEY))


def circuit_description(model):
    """The CircuitDescription GenerateChiselCircuit stored in `model`, or raise."""
    text = model.get_metadata_prop(CIRCUIT_KEY)
    if not text:
        raise UnsupportedModelError("the model has no generated circuit", hint="apply GenerateChiselCircuit first")
    return CircuitDescription.from_json(text)


def verilog_dir(model):
    """The directory holding the generated Verilog of `model`'s circuit, or raise."""
    text = model.get_metadata_prop(VERILOG_DIR_KEY)
    if not text:
        raise UnsupportedModelError("the model has no generated circuit", hint="apply GenerateChiselCircuit first")
    return Path(text)


def record_rtlsim(model, library, verilator):
    """Store the Verilator library built for `model`'s circuit and the Verilator that built it."""
    model.set_metadata_prop(RTLSIM_LIBRARY_KEY, str(library))
    model.set_metadata_prop(VERILATOR_KEY, verilator)
