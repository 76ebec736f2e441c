"""`Circuit`: a QONNX model as a callable backed by its generated, simulated RTL.

    circuit = Circuit("model.onnx")          # InferLBIR -> GenerateChiselCircuit -> RTLSim
    y = circuit(x)                           # float in, float out: host nodes + RTL
    codes = circuit.run_codes(int_codes)     # the circuit alone, integer codes in and out

A model already part-way through the flow (LBIR, generated, simulated) continues from there.
"""
import tempfile
from pathlib import Path

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim
from qonnx_c4ml.transformations.generate_circuit import METADATA_KEY
from qonnx_c4ml.verify import execute, load_model


class Circuit:
    def __init__(self, model, output_dir=None, pipeline="none", cache_dir=None, style="auto", input_datatype=None):
        model = load_model(model)
        if not any(n.domain == DOMAIN for n in model.graph.node):
            model = model.transform(InferLBIR(input_datatype=input_datatype))
        if not any(n.op_type == "RTLCircuit" for n in model.graph.node):
            if not model.get_metadata_prop(METADATA_KEY):
                if output_dir is None:
                    output_dir = tempfile.mkdtemp(prefix="qonnx_c4ml_")
                model = model.transform(GenerateChiselCircuit(output_dir, pipeline=pipeline, style=style))
            model = model.transform(RTLSim(cache_dir=cache_dir))
        self.model = model
        self._node = next(n for n in model.graph.node if n.op_type == "RTLCircuit")

    @property
    def op(self):
        return getCustomOp(self._node)

    @property
    def description(self):
        return self.op.description()

    @property
    def latency_cycles(self):
        return self.description.latency_cycles

    @property
    def verilog_dir(self):
        return Path(self.model.get_metadata_prop("c4ml_verilog_dir"))

    def __call__(self, x):
        """The model's output for a float batch `x` (first axis = batch), computed by the RTL."""
        return execute(self.model, x)

    def run_codes(self, codes):
        """The circuit alone: int64 input codes (N, inputs) -> output codes (N, outputs)."""
        return self.op.run_codes(codes)

    def package(self, out_dir, vectors=100, inputs=None, seed=0, overwrite=False):
        """Hand-off directory for hardware engineers: Verilog, self-checking testbench, vectors,
        report.json and README.md (see qonnx_c4ml.package). Refuses a non-empty `out_dir`
        unless `overwrite=True`. Returns a dict (dir, files, vectors, testbench, ...)."""
        from qonnx_c4ml.package import package

        return package(self, out_dir, vectors=vectors, inputs=inputs, seed=seed, overwrite=overwrite)
