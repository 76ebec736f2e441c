"""The LBIR layer nodes of a model as a graph: finding them, and cutting them out as a model.

GenerateChiselCircuit turns the nodes `lbir_graph` finds into one circuit; RTLSim replaces the
same nodes by the simulated circuit and saves them with `lbir_submodel`.
"""
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir import DOMAIN, LAYER_OPS


def lbir_graph(model):
    """(LBIR layer nodes in data-flow order, circuit input tensor, circuit output tensor);
    raises unless they form a graph with one input and one output tensor."""
    nodes = [n for n in model.graph.node if n.domain == DOMAIN and n.op_type in LAYER_OPS]
    if not nodes:
        raise UnsupportedModelError("the model has no LBIR layers", hint="apply InferLBIR first")
    produced = {o for n in nodes for o in n.output}
    consumed = {i for n in nodes for i in n.input}
    inputs = sorted({i for i in consumed if i not in produced})
    outputs = [o for n in nodes for o in n.output if o not in consumed]
    if len(inputs) != 1 or len(outputs) != 1:
        raise UnsupportedModelError(
            f"the LBIR layers have inputs {inputs} and outputs {outputs}; one of each is needed",
            hint="only networks with one input and one output tensor are supported")
    return nodes, inputs[0], outputs[0]


def lbir_chain(model):
    """The LBIR layer nodes of `model` in data-flow order (see lbir_graph)."""
    return lbir_graph(model)[0]


def lbir_submodel(model, nodes, inp, out):
    """Copies of the LBIR `nodes` as a model of their own, from tensor `inp` to `out` (shapes
    from `model`): a streaming circuit's parallel tail, RTLSim's saved layers."""
    def info(name):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, model.get_tensor_shape(name))

    graph = helper.make_graph(nodes, "lbir_layers", [info(inp)], [info(out)])  # copies the nodes
    sub = ModelWrapper(helper.make_model(graph, opset_imports=list(model.model.opset_import)))
    for name in {o for n in nodes for o in n.output} - {out}:
        shape = model.get_tensor_shape(name)
        if shape is not None:
            sub.set_tensor_shape(name, shape)
    return sub
