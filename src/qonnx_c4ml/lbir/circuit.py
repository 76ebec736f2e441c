"""RTLCircuit: the generated circuit standing in for a chain of LBIR layers.

RTLSim replaces the LBIR layers by one RTLCircuit node, the way FINN's dataflow partitions
stand for a group of nodes, because the thing to verify is the whole top module (with its
pipeline registers and valid handshake), not each layer alone.
    exec_mode="rtlsim": input codes -> packed bits -> Verilator model -> output codes
    exec_mode="python": the saved LBIR layers (`lbir_model`) run in numpy
"""
import threading

import numpy as np

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.base import CustomOp
from qonnx.custom_op.registry import getCustomOp

# One loaded simulator per (library, thread): loading a .so and creating the model is the
# expensive part, and a CircuitSimulator serializes its own calls.
_SIMULATORS = threading.local()


def simulator_for(library, description):
    from qonnx_c4ml.sim import CircuitSimulator

    cache = getattr(_SIMULATORS, "by_library", None)
    if cache is None:
        cache = _SIMULATORS.by_library = {}
    # two circuits can share one library (same Verilog) yet differ in how the host feeds it
    # (a streaming circuit's in_index gather), so the description is part of the key
    key = (library, description.to_json())
    if key not in cache:
        if description.style == "streaming":
            from qonnx_c4ml.sim.streaming import StreamingCircuit
            from qonnx_c4ml.transformations.rtlsim import streaming_sim_description

            cache[key] = StreamingCircuit(streaming_sim_description(description), so_path=library)
        else:
            cache[key] = CircuitSimulator(library, description.inp.width, description.out.width,
                                          description.latency_cycles)
    return cache[key]


# cycle counts of the last streaming run per library: cycles, ii, latency, stall_cycles
STREAM_STATS = {}


class RTLCircuit(CustomOp):
    """A Verilator-simulated circuit replacing a chain of QDense nodes."""

    def get_nodeattr_types(self):
        return {
            "circuit": ("s", True, ""),  # CircuitDescription JSON
            "library": ("s", True, ""),  # Verilator-built shared object
            "lbir_model": ("s", True, ""),  # the replaced LBIR layers, as an ONNX file
            "exec_mode": ("s", False, "rtlsim", {"rtlsim", "python"}),
        }

    def description(self):
        from qonnx_c4ml.chisel.generator import CircuitDescription  # chisel imports lbir

        return CircuitDescription.from_json(self.get_nodeattr("circuit"))

    def make_shape_compatible_op(self, model):
        shape = model.get_tensor_shape(self.onnx_node.input[0]) or model.get_tensor_shape(
            model.graph.input[0].name)
        return self.make_const_shape_op([shape[0], self.description().out.elements])

    def infer_node_datatype(self, model):
        pass  # the output keeps the datatype annotation of the last replaced layer

    def run_codes(self, codes):
        """int64 codes (N, inputs) -> int64 codes (N, outputs) through the RTL."""
        from qonnx_c4ml.sim import pack_codes, unpack_codes

        description = self.description()
        sim = simulator_for(self.get_nodeattr("library"), description)
        if description.style == "streaming":  # frames go in pixel by pixel; the harness counts cycles
            out, stats = sim.run_frames(codes)
            STREAM_STATS[self.get_nodeattr("library")] = {k: stats[k] for k in
                                                          ("cycles", "ii", "latency", "stall_cycles")}
            return out
        words = sim.run_packed(pack_codes(codes, description.inp.bits, description.inp.signed))
        return unpack_codes(words, description.out.elements, description.out.bits, description.out.signed)

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
