"""`Circuit`: a QONNX model as a callable backed by its generated, simulated RTL.

    circuit = Circuit("model.onnx")          # flow.compile (InferLBIR -> GenerateChiselCircuit) -> RTLSim
    y = circuit(x)                           # float in, float out: host nodes + RTL
    codes = circuit.run_codes(int_codes)     # the circuit alone, integer codes in and out

A model already part-way through the flow (LBIR, generated, simulated) continues from there.
"""
import tempfile

import numpy as np
from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml import flow, metadata
from qonnx_c4ml.transformations import RTLSim
from qonnx_c4ml.execution import run_model
from qonnx_c4ml.reference import execute, load_model, with_batch


class Circuit:
    def __init__(self, model, output_dir=None, pipeline="none", cache_dir=None, style="auto", input_datatype=None,
                 reuse_factor=None, target_ii=None, max_luts=None, weight_memory="auto"):
        model = load_model(model)
        if not any(n.op_type == "RTLCircuit" for n in model.graph.node):
            if not metadata.has_circuit(model):  # not generated yet: the flow, Verilog only
                if output_dir is None:
                    output_dir = tempfile.mkdtemp(prefix="qonnx_c4ml_")
                model = flow.compile(model, output_dir, pipeline=pipeline, style=style, reuse_factor=reuse_factor,
                                     target_ii=target_ii, max_luts=max_luts, weight_memory=weight_memory,
                                     input_datatype=input_datatype, outputs=False).model
            model = model.transform(RTLSim(cache_dir=cache_dir))
        self.model = model
        self._batched = None  # (batch size, model with that batch size)
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
        return metadata.verilog_dir(self.model)

    def __call__(self, x):
        """The model's output for a float batch `x` (first axis = batch), computed by the RTL.

        The same nodes and results as `execute_onnx` (qonnx_c4ml.execution.run_model); the
        model re-shaped for a batch size is kept for the next call of that size."""
        x = np.asarray(x)
        batch = x.shape[0]
        if self._batched is None or self._batched[0] != batch:
            model = self.model
            if model.get_tensor_shape(model.graph.input[0].name)[0] != batch:
                model = with_batch(model, batch)
            if not model.check_all_tensor_shapes_specified():
                return execute(self.model, x)  # let execute_onnx say what is missing
            self._batched = (batch, model)
        model = self._batched[1]
        name = model.graph.input[0].name
        return run_model(model, {name: x.astype(np.float32)})[model.graph.output[0].name]

    def run_codes(self, codes):
        """The circuit alone: int64 input codes (N, inputs) -> output codes (N, outputs)."""
        return self.op.run_codes(codes)

    def package(self, out_dir, vectors=100, inputs=None, seed=0, overwrite=False):
        """Hand-off directory for hardware engineers: Verilog, self-checking testbench, vectors,
        report.json and README.md (see qonnx_c4ml.package). Refuses a non-empty `out_dir`
        unless `overwrite=True`. Returns a dict (dir, files, vectors, testbench, ...)."""
        from qonnx_c4ml.package import package

        return package(self, out_dir, vectors=vectors, inputs=inputs, seed=seed, overwrite=overwrite)
