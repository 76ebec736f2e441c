"""qonnx Transformations of qonnx-c4ml: InferLBIR, GenerateChiselCircuit, RTLSim."""
from qonnx_c4ml.transformations.generate_circuit import GenerateChiselCircuit
from qonnx_c4ml.transformations.infer_lbir import InferLBIR
from qonnx_c4ml.rtlsim import RTLSim

__all__ = ["InferLBIR", "GenerateChiselCircuit", "RTLSim"]
