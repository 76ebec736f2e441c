"""Layer-by-layer check: every LBIR layer fed the float32 reference's own input tensor.

End to end, float32 tie flips compound in a deep network (a flipped code in layer 3 moves
every later accumulator), so a correct circuit can be many LSBs off qonnx's float32 output
at the end. Here each LBIR layer instead gets, as its input codes, qonnx's float32
intermediate activation for that layer converted back to codes ((value - offset) / scale,
which is an integer up to float32 rounding), and its output codes are compared with the
reference's output activation of that layer. Each layer then only sees its own ties, so the
float32 rule applies per layer (>= 99.9 % same code, <= 1 LSB); the first layer that breaks
it is named. A last layer without quantizer is compared through the host's dequantization
with the graph output, in output LSBs.
"""
from dataclasses import dataclass

import numpy as np

from qonnx.core.onnx_exec import execute_node
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.names import unique_name

SAME_CODE_MIN, MAX_LSB = 0.999, 1.0


@dataclass
class LayerCheck:
    name: str
    op: str
    elements: int
    same_code_fraction: float
    max_diff_lsb: float
    compared_with: str  # the reference tensor (original graph) the output was compared with
    ok: bool = None  # within the rule (set from the two figures)

    def __post_init__(self):
        self.ok = bool(self.same_code_fraction >= SAME_CODE_MIN and self.max_diff_lsb <= MAX_LSB)


def lower_with_activations(model):
    """InferLBIR's result and its map {original tensor: Activation} (where each integer
    tensor's codes live and what float value they stand for). The same steps as
    InferLBIR.apply (a test checks the graphs are identical), keeping the lowering object."""
    from qonnx_c4ml.transformations.infer_lbir import _Lowering

    model = model.transform(InferShapes())
    taken = set()
    for index, node in enumerate(model.graph.node):
        if not node.name or node.name in taken:
            node.name = unique_name(f"{node.op_type}_{index}", taken)
        taken.add(node.name)
    lowering = _Lowering(model)
    return lowering.run(), lowering.acts


def reference_codes(value, act, shape):
    """The integer codes (float32 array of `shape`) a float32 reference tensor stands for."""
    n = value.shape[0]
    codes = (value.reshape(n, -1).astype(np.float64) - act.offset_f32.reshape(1, -1)) / act.scale_f32.reshape(1, -1)
    rounded = np.rint(codes)
    if codes.size and np.abs(codes - rounded).max() > 1e-2:
        raise ValueError(f"reference tensor {act.source} is not on its quantizer's grid")
    flat = np.zeros((n, int(np.prod(shape[1:]))), np.float32)
    flat[:, act.index.ravel()] = rounded
    return flat.reshape(shape)


def _opset(model):
    return next((o.version for o in model.model.opset_import if o.domain in ("", "ai.onnx")), 13)


def check_layers(original, x, context=None, lowered=None, lbir_context=None):
    """One LayerCheck per LBIR layer, in graph order (see module doc). Already computed parts
    may be passed: `context` (batch model, qonnx float32 execution context of `original` on
    `x`), `lowered` (lower_with_activations(original)), `lbir_context` (batch LBIR model,
    its execution context on `x`)."""
    from qonnx_c4ml.verify import execute_context, output_lsb

    _, reference = context or execute_context(original, x)
    lbir_model, acts = lowered or lower_with_activations(original)
    lsb = output_lsb(lbir_model)
    lbir_model, lbir_context = lbir_context or execute_context(lbir_model, x)
    graph = lbir_model.graph
    by_codes = {}
    for act in acts.values():
        if act.source is not None and act.source in reference:
            by_codes.setdefault(act.codes, act)
    checks = []
    nodes = list(graph.node)
    for position, node in enumerate(nodes):
        if node.domain != DOMAIN:
            continue
        local = dict(lbir_context)
        for name in node.input:
            if name in by_codes:
                local[name] = reference_codes(reference[by_codes[name].source], by_codes[name], local[name].shape)
        getCustomOp(node).execute_node(local, graph)
        out = node.output[0]
        if out in by_codes:
            expected = reference_codes(reference[by_codes[out].source], by_codes[out], local[out].shape)
            diff = np.abs(local[out].astype(np.float64) - expected)
            checks.append(LayerCheck(node.name, node.op_type, int(diff.size), float(np.mean(diff == 0)),
                                     float(diff.max(initial=0)), by_codes[out].source))
            continue
        for later in nodes[position + 1:]:  # the host's dequantization of a float output
            if later.domain != DOMAIN:
                execute_node(later, local, graph, _opset(lbir_model))
        name = graph.output[0].name
        diff = np.abs(local[name].astype(np.float64) - reference[name].astype(np.float64))
        scale = lsb or 1.0
        checks.append(LayerCheck(node.name, node.op_type, int(diff.size), float(np.mean(diff < 0.5 * scale)),
                                 float(diff.max(initial=0) / scale), name))
    return checks


def layer_table(checks, first_failing, decides=True):
    """The per-layer lines of VerifyReport.table(); `decides`: the per-layer rule is the
    verdict (no exact reference), else the lines are diagnostics."""
    role = "" if decides else " (diagnostic: the exact reference decides)"
    lines = [f"layerwise (each layer fed the float32 reference's input codes): {len(checks)} layers, "
             + (f"first outside the float32 rule: {first_failing}" if first_failing else "all within the float32 rule")
             + role]
    for c in checks:
        lines.append(f"  {c.name:32} {c.op:11} {100 * c.same_code_fraction:8.3f}% {c.max_diff_lsb:6.3g} LSB"
                     f"{'' if c.ok else '  outside the rule'}")
    return "\n".join(lines)
