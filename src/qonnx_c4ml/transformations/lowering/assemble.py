"""The lowered graph: host prefix + emitted nodes (LBIR and host boundary) + host tail.

Original nodes absorbed into the circuit are dropped, original nodes still feeding the graph
output are kept, all in topological order; shapes are inferred and the LBIR tensors annotated
with their qonnx DataTypes.  `circuit_boundary` reads that layout back: where the circuit's
input codes are written, where its output codes are read, and where the host tail starts.
"""
from dataclasses import dataclass

from onnx import helper

from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.transformations.lowering.context import LINEAR_OPS


def constants_as_initializers(nodes):
    """(nodes without Constant-with-`value` nodes, those constants as initializer TensorProtos)."""
    kept, initializers = [], []
    for node in nodes:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            tensor = helper.get_attribute_value(node.attribute[0])
            tensor.name = node.output[0]
            initializers.append(tensor)
        else:
            kept.append(node)
    return kept, initializers


def kept_nodes(ctx):
    """Prefix (original, up to the input quantizer) + new nodes + tail (original, after the boundary)."""
    graph = ctx.model.graph
    produced_new = {o for n in ctx.new_nodes for o in n.output}
    new_ids = {id(n) for n in ctx.new_nodes}
    original = [n for n in graph.node if n.name not in ctx.removed]
    # keep an original node if its outputs feed the rest of the graph
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(original + ctx.new_nodes):
        is_new = id(node) in new_ids
        if is_new or any(o in needed for o in node.output):
            if not is_new and any(o in produced_new for o in node.output):
                continue  # replaced by a new node writing the same tensor
            keep.append(node)
            needed.update(node.input)
    keep.reverse()
    for node in keep:
        if id(node) not in new_ids and node.op_type in LINEAR_OPS + ("Conv",):
            raise UnsupportedModelError(
                "is left outside the circuit: an op the flow cannot fold sits between "
                "quantizers before it", node, "see the README's supported ops table")
    return keep, needed


def assemble(ctx):
    """The new ModelWrapper: kept nodes in order, the original's opsets, metadata and datatypes."""
    graph = ctx.model.graph
    keep, needed = kept_nodes(ctx)
    keep, host_constants = constants_as_initializers(ordered(keep, graph))  # FINN reads initializers
    new_graph = helper.make_graph(
        keep, graph.name or "qonnx_c4ml", list(graph.input), list(graph.output),
        initializer=[i for i in graph.initializer if i.name in needed] + host_constants)
    model = helper.make_model(new_graph, opset_imports=list(ctx.model.model.opset_import),
                              producer_name="qonnx-c4ml")
    if not any(o.domain == DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    model.ir_version = ctx.model.model.ir_version
    wrapped = ModelWrapper(model)
    for prop in ctx.model.model.metadata_props:
        wrapped.set_metadata_prop(prop.key, prop.value)
    wrapped = wrapped.transform(InferShapes())
    for name, dtype in ctx.lbir_outputs.items():
        wrapped.set_tensor_datatype(name, DataType[dtype])
    first = next(n for n in wrapped.graph.node if n.domain == DOMAIN)
    wrapped.set_tensor_datatype(first.input[0], DataType[
        next(a for a in first.attribute if a.name == "in_dtype").s.decode()])
    return wrapped


def ordered(nodes, graph):
    """Topological order: original graph order first, new nodes where their inputs exist."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, out = list(nodes), []
    while pending:
        progressed = False
        for node in list(pending):
            if all(i in available for i in node.input):
                out.append(node)
                available.update(node.output)
                pending.remove(node)
                progressed = True
        if not progressed:
            raise UnsupportedModelError(
                f"could not order {len(pending)} nodes after lowering (first: {pending[0].name})")
    return out


@dataclass
class CircuitBoundary:
    """Where the integer part of a lowered graph starts and ends (graph order)."""

    input_codes: str  # the tensor the host prefix writes the first LBIR node's input codes to
    output_codes: str  # the last LBIR node's output codes
    first_tail_node: object  # the first host node after the last LBIR node, None if there is none


def circuit_boundary(lbir_model):
    """The CircuitBoundary of a model InferLBIR lowered (its nodes in the order assemble wrote)."""
    nodes = list(lbir_model.graph.node)
    layers = [i for i, n in enumerate(nodes) if n.domain == DOMAIN]
    if not layers:
        raise ValueError("the model has no LBIR nodes: lower it with InferLBIR first")
    tail = nodes[layers[-1] + 1] if layers[-1] + 1 < len(nodes) else None
    return CircuitBoundary(nodes[layers[0]].input[0], nodes[layers[-1]].output[0], tail)
