"""RTLSim: build the generated Verilog with Verilator and let execute_onnx run it.

Matches the LBIR layers that GenerateChiselCircuit described in the model metadata; builds
the top module into a shared library (cached by content hash, see qonnx_c4ml.sim) and
replaces the layers by one RTLCircuit node (exec_mode="rtlsim").  The replaced layers are
saved next to the Verilog (`lbir_layers.onnx`) so the node can also run them in numpy.
Host-side nodes (input quantizer, dequantization, Softmax, ...) are left as they are.
"""
from pathlib import Path

from onnx import helper

from qonnx.transformation.base import Transformation

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.transformations.generate_circuit import circuit_description, lbir_graph, lbir_submodel


class RTLSim(Transformation):
    """Replace the LBIR layers by their Verilator-simulated circuit (see module doc)."""

    def __init__(self, cache_dir=None, timeout_s=600):
        super().__init__()
        self.cache_dir = cache_dir
        self.timeout_s = timeout_s

    def apply(self, model):
        from qonnx_c4ml.sim import build_library, find_verilator

        description = circuit_description(model)
        verilog_dir = Path(model.get_metadata_prop("c4ml_verilog_dir"))
        nodes, circuit_input, circuit_output = lbir_graph(model)
        if description.style == "streaming":  # pixels in through valid/ready: the stream harness
            from qonnx_c4ml.sim.streaming import StreamingCircuit

            library = StreamingCircuit(streaming_sim_description(description, verilog_dir),
                                       cache_dir=self.cache_dir, timeout_s=self.timeout_s).so_path
        else:
            library = build_library([verilog_dir / f for f in description.files], description.top,
                                    description.inp.width, description.out.width,
                                    cache_dir=self.cache_dir, timeout_s=self.timeout_s)
        lbir_path = verilog_dir / "lbir_layers.onnx"
        save_layers(model, nodes, circuit_input, circuit_output, lbir_path)
        circuit = helper.make_node(
            "RTLCircuit", [circuit_input], [circuit_output], name=description.top, domain=DOMAIN,
            circuit=description.to_json(), library=str(library), lbir_model=str(lbir_path), exec_mode="rtlsim")
        position = list(model.graph.node).index(nodes[0])
        for node in nodes:
            model.graph.node.remove(node)
        model.graph.node.insert(position, circuit)
        tool = find_verilator()
        model.set_metadata_prop("c4ml_rtlsim_library", str(library))
        model.set_metadata_prop("c4ml_verilator", f"{tool.version} ({tool.source})")
        return model, False


def save_layers(model, nodes, circuit_input, circuit_output, path):
    """The LBIR layers as a model of their own (input and output shapes from `model`)."""
    lbir_submodel(model, nodes, circuit_input, circuit_output).save(str(path))


def streaming_sim_description(description, verilog_dir=None):
    """What qonnx_c4ml.sim.streaming needs to drive a streaming top: its geometry and ports."""
    stream = dict(description.stream)
    if verilog_dir is not None:
        stream["files"] = [str(Path(verilog_dir) / f) for f in description.files]
    return stream
