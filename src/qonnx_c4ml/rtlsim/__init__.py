"""RTL simulation glue: the RTLSim transformation and the RTLCircuit op it leaves in a model.

RTLSim builds the generated Verilog with Verilator (qonnx_c4ml.sim) and replaces the LBIR
layers by one RTLCircuit node, which `execute_onnx` runs through the Verilator model.  This
package sits between the circuit's description (qonnx_c4ml.interface, qonnx_c4ml.metadata) and
the simulator (qonnx_c4ml.sim, which sees only Verilog files and ports).

qonnx 1.0.0 resolves a node's `domain` by importing it as a module and looking the op type up
in it (qonnx.custom_op.registry), so the domain of an RTLCircuit node is this package's import
path, DOMAIN.
"""
from qonnx_c4ml.rtlsim.op import DOMAIN, RTLCircuit
from qonnx_c4ml.rtlsim.transformation import RTLSim

__all__ = ["DOMAIN", "RTLCircuit", "RTLSim"]
