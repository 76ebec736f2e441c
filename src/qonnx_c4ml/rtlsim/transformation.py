"""RTLSim: build the generated Verilog with Verilator and let execute_onnx run it.

Matches the LBIR layers that GenerateChiselCircuit described in the model metadata; builds
the top module into a shared library (cached by content hash, see qonnx_c4ml.sim) and
replaces the layers by one RTLCircuit node (exec_mode="rtlsim").  The replaced layers are
saved next to the Verilog (`lbir_layers.onnx`) so the node can also run them in numpy.
Host-side nodes (input quantizer, dequantization, Softmax, ...) are left as they are.
"""
from onnx import helper

from qonnx.transformation.base import Transformation

from qonnx_c4ml.lbir.graph import lbir_graph, lbir_submodel
from qonnx_c4ml.metadata import circuit_description, record_rtlsim, verilog_dir
from qonnx_c4ml.rtlsim.op import DOMAIN
from qonnx_c4ml.rtlsim.simulators import streaming_sim_description
from qonnx_c4ml.sim import build_library, find_verilator
from qonnx_c4ml.sim.stream_simulator import StreamSimulator


class RTLSim(Transformation):
    """Replace the LBIR layers by their Verilator-simulated circuit (see module doc)."""

    def __init__(self, cache_dir=None, timeout_s=600):
        super().__init__()
        self.cache_dir = cache_dir
        self.timeout_s = timeout_s

    def apply(self, model):
        description = circuit_description(model)
        directory = verilog_dir(model)
        nodes, circuit_input, circuit_output = lbir_graph(model)
        if description.style == "streaming":  # pixels in through valid/ready: the stream harness
            library = StreamSimulator(streaming_sim_description(description, directory),
                                       cache_dir=self.cache_dir, timeout_s=self.timeout_s).so_path
        else:
            library = build_library([directory / f for f in description.files], description.top,
                                    description.inp.width, description.out.width,
                                    cache_dir=self.cache_dir, timeout_s=self.timeout_s)
        lbir_path = directory / "lbir_layers.onnx"
        lbir_submodel(model, nodes, circuit_input, circuit_output).save(str(lbir_path))
        circuit = helper.make_node(
            "RTLCircuit", [circuit_input], [circuit_output], name=description.top, domain=DOMAIN,
            circuit=description.to_json(), library=str(library), lbir_model=str(lbir_path), exec_mode="rtlsim")
        position = list(model.graph.node).index(nodes[0])
        for node in nodes:
            model.graph.node.remove(node)
        model.graph.node.insert(position, circuit)
        tool = find_verilator()
        record_rtlsim(model, library, f"{tool.version} ({tool.source})")
        return model, False
