"""qonnx-c4ml: quantized QONNX networks as direct-logic circuits, verified bit-exact.

Public API: the transformations `InferLBIR`, `GenerateChiselCircuit`, `RTLSim`
(in `qonnx_c4ml.transformations`), `Circuit` (a model as an RTL-backed callable) and
`qonnx_c4ml.verify.verify` (the differential check).
"""
__version__ = "0.1.0"


def __getattr__(name):
    # lazy: `import qonnx_c4ml` stays cheap and the CLI can report missing tools cleanly
    if name == "Circuit":
        from qonnx_c4ml.circuit import Circuit

        return Circuit
    raise AttributeError(name)


__all__ = ["Circuit", "__version__"]
