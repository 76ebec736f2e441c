"""Layer-by-layer check: every LBIR layer fed the float32 reference's own input tensor.

End to end, float32 tie flips compound in a deep network (a flipped code in layer 3 moves
every later accumulator), so a correct circuit can be many LSBs off qonnx's float32 output
at the end. Here each LBIR layer instead gets, as its input codes, qonnx's float32
intermediate activation for that layer converted back to codes ((value - offset) / scale,
which is an integer up to float32 rounding), and its output codes are compared with the
reference's output activation of that layer. Each layer then only sees its own ties, so the
float32 rule applies per layer (>= 99.9 % same code, <= 1 LSB). Where the exact reference
has rules for the graph, each layer is also computed exactly from the same input codes (the
exact engine seeded with the reference's activations): the LBIR layer must then agree with
it on every element — that decides, and the float32 reference's per-layer disagreement with
it is reported as the layer's noise. The first failing layer is named. A last layer without
quantizer is compared through the host's dequantization with the graph output, in output
LSBs.
"""
from dataclasses import dataclass

import numpy as np

from qonnx.core.onnx_exec import execute_node
from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.lbir import DOMAIN

SAME_CODE_MIN, MAX_LSB = 0.999, 1.0


@dataclass
class LayerCheck:
    """One LBIR layer fed the float32 reference's input codes. `same_code_fraction` /
    `max_diff_lsb`: its output against the float32 reference's output of that layer;
    `exact_same_code_fraction`: against the exact reference computed from the same input
    codes (None without one); `noise_same_code_fraction`: float32 reference vs that exact
    output. `ok`: exact agreement when there is an exact value, else the float32 rule."""

    name: str
    op: str
    elements: int
    same_code_fraction: float
    max_diff_lsb: float
    compared_with: str  # the reference tensor (original graph) the output was compared with
    exact_same_code_fraction: float = None
    noise_same_code_fraction: float = None
    ok: bool = None

    def __post_init__(self):
        if self.exact_same_code_fraction is not None:
            self.ok = self.exact_same_code_fraction == 1.0
        else:
            self.ok = bool(self.same_code_fraction >= SAME_CODE_MIN and self.max_diff_lsb <= MAX_LSB)


def lower_with_activations(model, input_datatype=None):
    """InferLBIR's result and its map {original tensor: Activation} (where each integer
    tensor's codes live and what float value they stand for)."""
    from qonnx_c4ml.transformations.infer_lbir import InferLBIR

    return InferLBIR(input_datatype=input_datatype).lower(model)


def reference_codes(value, act, shape):
    """The integer codes (float32 array of `shape`) a float32 reference tensor stands for."""
    n = value.shape[0]
    codes = (value.reshape(n, -1).astype(np.float64) - act.offset_f32.reshape(1, -1)) / act.scale_f32.reshape(1, -1)
    rounded = np.rint(codes)
    if codes.size and np.abs(codes - rounded).max() > 1e-2:
        raise C4mlError(f"layerwise: the reference tensor '{act.source}' is not on its quantizer's grid "
                        f"(max {np.abs(codes - rounded).max():.3g} codes off); the layer-by-layer check "
                        "cannot feed it to the circuit (run verify without --layerwise)")
    flat = np.zeros((n, int(np.prod(shape[1:]))), np.float32)
    flat[:, act.index.ravel()] = rounded
    return flat.reshape(shape)


def _opset(model):
    return next((o.version for o in model.model.opset_import if o.domain in ("", "ai.onnx")), 13)


def layer_exact_outputs(batch_model, reference, acts, problems=None):
    """{tensor: float64 values} of every layer output computed exactly from the float32
    reference's own input activations (the exact engine seeded with them), and the exact
    graph output; ({}, None) when the exact reference has no rule for the graph, or when it
    fails (as verify.run_exact: the failure is appended to `problems`, and verify fails)."""
    from qonnx_c4ml.exact import Exact, ExactUnsupported
    from qonnx_c4ml.exact.engine import ExactEngine
    from qonnx_c4ml.comparison import exact_failure

    seeds = {}
    for act in acts.values():
        if act.source is not None and act.source in reference:
            value = reference[act.source].astype(np.float64)
            codes = np.rint((value - act.offset_f32) / act.scale_f32).astype(np.int64)
            seeds[act.source] = Exact(codes, act.scale, act.offset)
    engine = ExactEngine(batch_model, dict(reference), seeds)
    try:
        output = engine.run()
    except ExactUnsupported:
        return {}, None
    except Exception as error:  # noqa: BLE001 - shown and failing, as in verify.run_exact
        if problems is not None:
            problems.append("layerwise " + exact_failure(error))
        return {}, None
    return {name: value.approx() for name, value in engine.computed.items()}, output.approx()


def _same_code_fraction(a, b, tolerance):
    diff = np.abs(a - b)
    return float(np.mean(diff < tolerance))


def check_layers(original, x, context=None, lowered=None, lbir_context=None, input_datatype=None, problems=None):
    """One LayerCheck per LBIR layer, in graph order (see module doc). `original`: the model
    as InferLBIR prepares it (prepare.prepare_for_lowering: its tensor names are the map's and
    it has the input quantizer the exact engine needs). Already computed parts may be passed:
    `context` (batch model, qonnx float32 execution context of `original` on `x`), `lowered`
    (lower_with_activations(original, input_datatype)), `lbir_context` (batch LBIR model, its
    execution context on `x`). A failing exact engine is appended to `problems`."""
    from qonnx_c4ml.comparison import output_lsb
    from qonnx_c4ml.reference import execute_context

    batch_model, reference = context or execute_context(original, x)
    lbir_model, acts = lowered or lower_with_activations(original, input_datatype)
    lsb = output_lsb(lbir_model)
    lbir_model, lbir_context = lbir_context or execute_context(lbir_model, x)
    exact, exact_output = layer_exact_outputs(batch_model, reference, acts, problems)
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
            act = by_codes[out]
            expected = reference_codes(reference[act.source], act, local[out].shape)
            got = local[out].astype(np.float64)
            diff = np.abs(got - expected)
            row = dict(name=node.name, op=node.op_type, elements=int(diff.size),
                       same_code_fraction=float(np.mean(diff == 0)), max_diff_lsb=float(diff.max(initial=0)),
                       compared_with=act.source)
            if act.source in exact:
                exact_codes = reference_codes(exact[act.source], act, local[out].shape)
                row.update(exact_same_code_fraction=float(np.mean(got == exact_codes)),
                           noise_same_code_fraction=float(np.mean(expected == exact_codes)))
            checks.append(LayerCheck(**row))
            continue
        for later in nodes[position + 1:]:  # the host's dequantization of a float output
            if later.domain != DOMAIN:
                execute_node(later, local, graph, _opset(lbir_model))
        name, scale = graph.output[0].name, lsb or 1.0
        got, expected = local[name].astype(np.float64), reference[name].astype(np.float64)
        diff = np.abs(got - expected)
        row = dict(name=node.name, op=node.op_type, elements=int(diff.size),
                   same_code_fraction=float(np.mean(diff < 0.5 * scale)),
                   max_diff_lsb=float(diff.max(initial=0) / scale), compared_with=name)
        if exact_output is not None:
            row.update(exact_same_code_fraction=_same_code_fraction(got, exact_output, 0.5 * scale),
                       noise_same_code_fraction=_same_code_fraction(expected, exact_output, 0.5 * scale))
        checks.append(LayerCheck(**row))
    return checks


def layer_table(checks, first_failing):
    """The per-layer lines of VerifyReport.table()."""
    exact = any(c.exact_same_code_fraction is not None for c in checks)
    judge = "exact per-layer reference" if exact else "float32 rule"
    lines = [f"layerwise (each layer fed the float32 reference's input codes; judged by the {judge}): "
             f"{len(checks)} layers, " + (f"first failing: {first_failing}" if first_failing else "all pass"),
             f"  {'layer':32} {'op':11} {'vs float32: same code':>21} {'max LSB':>7}"
             + (f" {'vs exact':>9} {'noise':>8}" if exact else "")]
    for c in checks:
        line = f"  {c.name:32} {c.op:11} {100 * c.same_code_fraction:20.3f}% {c.max_diff_lsb:7.3g}"
        if c.exact_same_code_fraction is not None:
            line += f" {100 * c.exact_same_code_fraction:8.3f}% {100 * (1 - c.noise_same_code_fraction):7.3f}%"
        lines.append(line + ("" if c.ok else "  FAILS"))
    return "\n".join(lines)
