"""LBIR: low-bitwidth integer layer ops, executable by qonnx's `execute_onnx`.

qonnx 1.0.0 resolves a node's `domain` by importing it as a module and looking the op type up
in its `__all__` (qonnx.custom_op.registry), so the domain string of every LBIR node is this
module's import path.
"""
from qonnx_c4ml.lbir.add import QAdd
from qonnx_c4ml.lbir.conv import QConv2D
from qonnx_c4ml.lbir.dense import QDense
from qonnx_c4ml.lbir.pool import QMaxPool2D

DOMAIN = "qonnx_c4ml.lbir"

__all__ = ["QAdd", "QConv2D", "QDense", "QMaxPool2D"]
LAYER_OPS = ("QDense", "QConv2D", "QMaxPool2D", "QAdd")  # what GenerateChiselCircuit turns into logic
