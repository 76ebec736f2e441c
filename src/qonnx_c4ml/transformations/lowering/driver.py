"""The walk: from the input quantizer, every integer tensor's consumers are offered to the registry.

    check the model -> host.input_boundary -> breadth-first over integer tensors:
        each consumer -> registry.find_rule -> rule.lower(ctx, node, act) -> new integer tensors
    -> host.output_boundary for the one tensor the host reads -> assemble.assemble
"""
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.transformations.constants import QUANTIZER_OPS
from qonnx_c4ml.transformations.lowering.assemble import assemble
from qonnx_c4ml.transformations.lowering.context import PAD_CONSUMERS, LoweringContext
from qonnx_c4ml.transformations.lowering.host import input_boundary, output_boundary
from qonnx_c4ml.transformations.lowering.registry import find_rule


def lower_prepared(model):
    """(LBIR model, {tensor of `model`: Activation}) for a model prepared by prepare.py."""
    ctx = LoweringContext(model)
    check_model(model)
    first = input_boundary(ctx, model.graph.input[0].name)
    ctx.acts[first.tensor] = first
    walk(ctx, first.tensor)
    return finish(ctx), ctx.acts


def check_model(model):
    """Refuse graphs the walk cannot start on: several inputs/outputs, no quantizer, no static shape."""
    graph = model.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise UnsupportedModelError(
            f"the model has {len(graph.input)} inputs and {len(graph.output)} outputs",
            hint="export a model with exactly one input and one output")
    if not any(n.op_type in QUANTIZER_OPS for n in graph.node):
        raise UnsupportedModelError(
            "the model has no quantizers (Quant, FloatQuant, BipolarQuant or MultiThreshold): "
            "it is a float model",
            hint="export a quantized model (Brevitas QuantLinear/QuantReLU, QKeras) to QONNX")
    shape = model.get_tensor_shape(graph.input[0].name)
    if not shape or any(not isinstance(d, int) or d <= 0 for d in shape[1:]):
        raise UnsupportedModelError(
            f"the model input '{graph.input[0].name}' has no static shape ({shape})",
            hint="export with a fixed example input shape (only the batch axis may be dynamic)")


def walk(ctx, start):
    """Breadth first from the integer tensor `start`: each consumer the circuit can take
    (a registered rule) yields new integer tensors, walked in turn."""
    queue = [start]
    while queue:
        tensor = queue.pop(0)
        for node in list(ctx.consumers.get(tensor, [])):
            if node.name in ctx.removed or node.op_type == "Shape":
                continue
            for act in absorb(ctx, node, tensor, ctx.acts[tensor]):
                ctx.acts[act.tensor] = act
                queue.append(act.tensor)


def absorb(ctx, node, tensor, act):
    """Take `node` (a consumer of the integer tensor `tensor`) into the circuit if a rule does;
    returns the new integer tensors' activations (none if it stays on the host)."""
    if act.pads != (0, 0, 0, 0) and not (node.op_type in PAD_CONSUMERS and node.input[0] == tensor):
        raise UnsupportedModelError("only a Conv may follow a Pad node", node,
                                    "pad right before a convolution (e.g. nn.ZeroPad2d -> QuantConv2d)")
    rule = find_rule(ctx, node, tensor)
    return [] if rule is None else rule.lower(ctx, node, act)


def finish(ctx):
    """Check the circuit has layers and one output; write the host tail and the new graph."""
    if not any(n.domain == DOMAIN for n in ctx.new_nodes):
        raise UnsupportedModelError(
            "no quantized layer (MatMul/Gemm/Conv between quantizers) found after the input quantizer",
            hint="the circuit needs at least one quantized layer")
    outputs = [act for tensor, act in ctx.acts.items() if ctx.needed_by_host(tensor)]
    if len(outputs) + ctx.accumulator_outputs != 1:
        names = [a.tensor for a in outputs] + ["a float layer output"] * ctx.accumulator_outputs
        raise UnsupportedModelError(
            f"the circuit would have {len(names)} outputs ({', '.join(names) or 'none'})",
            hint="only networks with one output tensor leaving the integer part are supported")
    for act in outputs:
        output_boundary(ctx, act)
    return assemble(ctx)
