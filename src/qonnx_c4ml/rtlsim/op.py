"""RTLCircuit: the generated circuit standing in for the LBIR layers it was generated from.

RTLSim replaces the LBIR layers by one RTLCircuit node, the way FINN's dataflow partitions
stand for a group of nodes, because the thing to verify is the whole top module (with its
pipeline registers and valid handshake), not each layer alone.
    exec_mode="rtlsim": input codes -> packed bits -> Verilator model -> output codes (a parallel
                        circuit's codes are packed by the C++ driver, CircuitSimulator.run_codes)
    exec_mode="python": the saved LBIR layers (`lbir_model`) run in numpy
A streaming circuit's run records its cycle counts on the node that ran, as FINN's
`cycles_rtlsim`: `cycles_rtlsim`, `ii_rtlsim`, `latency_rtlsim`, `stall_cycles_rtlsim` (of the
last run; a batch of many frames runs as one stream per core, StreamSimulator.run_frames, and
`cycles_rtlsim` then sums the streams).  Running a copy of the model (verify.execute copies to
fix the batch size) records them on the copy; `run_statistics()` asks the loaded simulator, which every copy shares.
"""
import numpy as np

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.base import CustomOp
from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.interface import CircuitDescription
from qonnx_c4ml.rtlsim.simulators import loaded, simulator_for

DOMAIN = "qonnx_c4ml.rtlsim"  # the package qonnx imports to find RTLCircuit (see its docstring)
# run statistics of a streaming circuit -> node attribute recording it
STREAM_RUN_ATTRIBUTES = {"cycles": "cycles_rtlsim", "ii": "ii_rtlsim", "latency": "latency_rtlsim",
                         "stall_cycles": "stall_cycles_rtlsim"}


class RTLCircuit(CustomOp):
    """A Verilator-simulated circuit replacing the LBIR layers (see module doc)."""

    def get_nodeattr_types(self):
        return {
            "circuit": ("s", True, ""),  # CircuitDescription JSON
            "library": ("s", True, ""),  # Verilator-built shared object
            "lbir_model": ("s", True, ""),  # the replaced LBIR layers, as an ONNX file
            "exec_mode": ("s", False, "rtlsim", {"rtlsim", "python"}),
            **{attr: ("i", False, 0) for attr in STREAM_RUN_ATTRIBUTES.values()},
        }

    def description(self):
        return CircuitDescription.from_json(self.get_nodeattr("circuit"))

    def make_shape_compatible_op(self, model):
        shape = model.get_tensor_shape(self.onnx_node.input[0]) or model.get_tensor_shape(
            model.graph.input[0].name)
        return self.make_const_shape_op([shape[0], self.description().out.elements])

    def infer_node_datatype(self, model):
        pass  # the output keeps the datatype annotation of the last replaced layer

    def run_codes(self, codes):
        """int64 codes (N, inputs) -> int64 codes (N, outputs) through the RTL."""
        description = self.description()
        sim = simulator_for(self.get_nodeattr("library"), description)
        if description.style == "streaming":  # frames go in pixel by pixel; the harness counts cycles
            out, stats = sim.run_frames(codes)
            for key, attr in STREAM_RUN_ATTRIBUTES.items():
                self.set_nodeattr(attr, int(stats[key]))
            return out
        # packed and unpacked by the C++ driver, in each thread's share of the batch
        return sim.run_codes(codes, description.inp.bits, description.inp.signed,
                             description.out.elements, description.out.bits, description.out.signed)

    def run_statistics(self):
        """Cycle counts of the last streaming run of this circuit in this thread, by any copy of
        the model (see module doc); None before the first run or for a parallel circuit."""
        description = self.description()
        if description.style != "streaming":
            return None
        sim = loaded(self.get_nodeattr("library"), description)  # never loads one just to ask
        return None if sim is None else sim.last_statistics

    def execute_node(self, context, graph):
        node = self.onnx_node
        x = np.asarray(context[node.input[0]])
        codes = x.reshape(x.shape[0], -1)
        if self.get_nodeattr("exec_mode") == "rtlsim":
            out = self.run_codes(codes.astype(np.int64))
        else:
            layers = ModelWrapper(self.get_nodeattr("lbir_model")).graph
            ctx = {layers.input[0].name: codes.astype(np.float32)}
            for layer in layers.node:  # in data-flow order; a residual Add reads two earlier tensors
                getCustomOp(layer).execute_node(ctx, graph)
            out = ctx[layers.output[0].name]
        context[node.output[0]] = np.asarray(out, dtype=np.float32)

    def verify_node(self):
        return []
