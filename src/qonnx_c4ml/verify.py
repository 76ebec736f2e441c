"""The differential check: exact reference == LBIR numpy == RTL, beside qonnx and onnxruntime(QCDQ).

`verify(model, samples=N)` runs the same N inputs through
- `reference`: qonnx `execute_onnx` on the original QONNX model,
- `qcdq`: onnxruntime on the model converted by qonnx's QuantToQCDQ (2-8 bit quantizers;
  "skipped" with the reason when the conversion does not apply, e.g. bipolar/1-bit),
- `lbir`: qonnx `execute_onnx` on the InferLBIR graph (numpy integer layers),
- `rtl`: the same graph with the layers replaced by the Verilator-built circuit,
and reports, for each against the reference, the exact-match fraction of output elements,
the largest absolute difference and that difference in output LSBs, plus each stage's time.

The exact reference (`qonnx_c4ml.exact`: the same graph in exact rational arithmetic) is
run too. Each stage is also compared with it (`exact_same_code_fraction`,
`exact_max_diff_lsb`), and so is the float32 reference itself: `reference_noise` says how
often qonnx's own float32 execution lands on another code than the exact value (rounding
ties its summation order decides). Pass/fail (`VerifyReport.passed`, the CLI's exit status):
with the exact reference, LBIR and RTL must be on the exact reference's code for every
output element — the noise is reported, never a reason to pass or fail; without it (a
graph op it has no exact rule for, named in `exact_skipped`) the float32 rule decides
(`within_tolerance`: >= 99.9 % same code, <= 1 LSB); an exact reference that fails (an
engine bug, `exact_failed`) fails the check. `layerwise=True` adds the per-layer check of
`qonnx_c4ml.layerwise`. The float32 and exact references run on the graph InferLBIR
prepares (prepare.prepare_for_lowering: with the input quantizer a model without one gets).
"""
import copy
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.change_batchsize import ChangeBatchSize
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.transformations.batch_axis import model_is_batchless
from qonnx_c4ml.transformations.constants import QUANTIZER_OPS, ConstantEvaluator, quant_code_range, quant_parameters
from qonnx_c4ml.transformations.zero_point import zero_point


def load_model(model):
    """A ModelWrapper from a path or a ModelWrapper (copied, never modified in place)."""
    if isinstance(model, ModelWrapper):
        return ModelWrapper(model.model.__deepcopy__())
    from qonnx_c4ml.io import read_model

    return read_model(model)


def with_batch(model, batch):
    """A copy of `model` whose batch dimension is `batch` (qonnx executes fixed shapes).

    qonnx's ChangeBatchSize drops every intermediate shape, which its channels-last ops
    cannot re-infer; so the batch axis of each tensor that depends on the graph input is
    rewritten in place when the model has such ops."""
    if not any(n.domain == "qonnx.custom_op.channels_last" for n in model.graph.node):
        model = model.transform(ChangeBatchSize(batch))
        return model.transform(InferShapes())
    model = ModelWrapper(copy.deepcopy(model.model))
    graph = model.graph
    dynamic, changed = {graph.input[0].name}, True
    while changed:
        changed = False
        for node in graph.node:
            if any(i in dynamic for i in node.input) and not set(node.output) <= dynamic:
                dynamic.update(node.output)
                changed = True
    for info in list(graph.input) + list(graph.output) + list(graph.value_info):
        dims = info.type.tensor_type.shape.dim
        if info.name in dynamic and len(dims):
            dims[0].dim_value = batch
    return model.transform(InferShapes())


def execute(model, x):
    """Outputs of `model` (qonnx execute_onnx) for the batch `x`, as one numpy array (a batch-less
    model, e.g. torch.flatten(x), runs one sample at a time: its outputs one after another)."""
    if x.shape[0] != 1 and model_is_batchless(model):
        return np.concatenate([execute(model, x[i:i + 1]) for i in range(x.shape[0])])
    batch_model, context = execute_context(model, x)
    return context[batch_model.graph.output[0].name]


def execute_context(model, x):
    """(batch-sized model, every tensor of qonnx's float32 execution of it) for the batch `x`."""
    if model.get_tensor_shape(model.graph.input[0].name)[0] != x.shape[0]:
        model = with_batch(model, x.shape[0])
    elif not model.check_all_tensor_shapes_specified():  # a raw export: qonnx needs shapes to execute
        model = model.transform(InferShapes())
    context = execute_onnx(model, {model.graph.input[0].name: x.astype(np.float32)},
                           return_full_exec_context=True)
    return model, context


def input_quantizer(model):
    """(scale, lo, hi) of the first quantizer after the model input (lo, hi: the codes q - zp of
    its values), or None."""
    consts = ConstantEvaluator(model)
    tensor = model.graph.input[0].name
    for _ in range(len(model.graph.node)):
        users = model.find_consumers(tensor)
        if not users or len(users) != 1:
            return None
        node = users[0]
        if node.op_type in ("Quant", "IntQuant"):
            scale, bits, signed, narrow, _ = quant_parameters(node, consts)
            lo, hi = quant_code_range(bits, signed, narrow)
            zero = int(np.asarray(zero_point(node, consts)).ravel()[0])
            return float(np.asarray(scale).ravel()[0]), lo - zero, hi - zero
        if node.op_type in QUANTIZER_OPS:
            return None
        tensor = node.output[0]
    return None


def random_inputs(model, samples, seed=0, input_datatype=None):
    """Inputs covering the input quantizer's codes, its clipping, and exact rounding ties (on the
    input type's grid for a model without input quantizer, see transformations/input_type.py;
    drawn through constant Add/Sub/Mul/Div preprocessing, else an UnsupportedModelError asks for
    inputs)."""
    from qonnx_c4ml.transformations.input_type import input_grid_at_graph_input

    rng = np.random.default_rng(seed)
    shape = [samples] + list(model.get_tensor_shape(model.graph.input[0].name)[1:])
    grid = input_grid_at_graph_input(model, input_datatype)  # None when an input quantizer comes first
    if grid is not None:
        return grid.random(shape, rng)
    found = input_quantizer(model)
    if found is None:
        return rng.normal(0, 1, shape).astype(np.float32)
    scale, lo, hi = found
    x = rng.uniform(lo - 1.5, hi + 1.5, shape)
    ties = rng.random(shape) < 0.2  # exactly halfway between two codes
    x[ties] = np.floor(x[ties]) + 0.5
    return (x * scale).astype(np.float32)


@dataclass
class Comparison:
    """One stage against the reference.

    exact_fraction: output elements bit-identical.  same_code_fraction: elements within half
    an output LSB, i.e. the same integer code; for a float output (a last layer without
    quantizer, LSB = its accumulator's scale) the reference's float32 summation order makes
    bit identity impossible while the integer accumulator is still exact.
    """

    stage: str
    exact_fraction: float
    max_abs_diff: float
    max_diff_lsb: float
    seconds: float
    skipped: str = ""
    same_code_fraction: float = 0.0
    # against the exact reference (None when it is not available)
    exact_same_code_fraction: float = None
    exact_max_diff_lsb: float = None


@dataclass
class VerifyReport:
    samples: int
    seed: int
    output_lsb: float
    comparisons: list = field(default_factory=list)
    reference_seconds: float = 0.0
    exact_seconds: float = 0.0
    exact_skipped: str = ""  # why there is no exact reference ("" when there is one)
    exact_failed: bool = False  # the exact reference raised (a bug in it, not a missing rule): fails
    reference_noise: Comparison = None  # float32 qonnx against the exact reference
    layers: list = None  # layerwise=True: one qonnx_c4ml.layerwise.LayerCheck per layer
    first_failing_layer: str = None
    reference: str = ""  # which graph "qonnx" is (finn_front.reference_description)

    def as_dict(self):
        return asdict(self)

    def table(self):
        """One row per stage: against float32 qonnx (bit-exact, same code, max |diff|, max LSB)
        and against the exact reference (same code, max LSB); the qonnx row is the noise."""
        exact = not self.exact_skipped and self.reference_noise is not None
        head = f"{'stage':8} {'bit-exact':>9} {'same code':>9} {'max |diff|':>11} {'max LSB':>8} {'time s':>8}"
        lines = [head + (f"   vs exact: {'same code':>9} {'max LSB':>8}" if exact else "")]
        ref = f"{'qonnx':8} {'(ref)':>9} {'':>9} {'':>11} {'':>8} {self.reference_seconds:8.3f}"
        if exact:
            noise = self.reference_noise
            ref += (f"   noise: {100 * (1 - noise.same_code_fraction):.3f}% of outputs on another code, "
                    f"max {noise.max_diff_lsb:.3g} LSB")
        lines.append(ref)
        if self.reference:
            lines.append(f"{'':8} reference: {self.reference}")
        for c in self.comparisons:
            if c.skipped:
                lines.append(f"{c.stage:8} skipped: {c.skipped}")
                continue
            line = (f"{c.stage:8} {100 * c.exact_fraction:8.3f}% {100 * c.same_code_fraction:8.3f}% "
                    f"{c.max_abs_diff:11.4g} {c.max_diff_lsb:8.3g} {c.seconds:8.3f}")
            if exact and c.exact_same_code_fraction is not None:
                line += f"              {100 * c.exact_same_code_fraction:8.3f}% {c.exact_max_diff_lsb:8.3g}"
            lines.append(line)
        if exact:
            lines.append(f"{'exact':8} exact reference in {self.exact_seconds:.3f} s; "
                         f"qonnx float32 on another code for {100 * (1 - noise.same_code_fraction):.3f}% of outputs")
        elif self.exact_failed:
            lines.append(f"{'exact':8} FAILED: {self.exact_skipped} (a failure of the reference itself: "
                         "verify fails; --no-exact runs the float32 rule alone)")
        else:
            lines.append(f"{'exact':8} skipped: {self.exact_skipped or 'not run'} (float32 rule decides)")
        if self.layers is not None:
            from qonnx_c4ml.layerwise import layer_table

            lines.append(layer_table(self.layers, self.first_failing_layer))
        return "\n".join(lines)

    @property
    def exact_agreement(self):
        """LBIR and RTL on the exact reference's code for every output element (None: no
        exact reference)."""
        if self.exact_skipped or self.reference_noise is None:
            return None
        return all(c.exact_same_code_fraction == 1.0 for c in self.comparisons
                   if c.stage in ("lbir", "rtl") and not c.skipped)

    @property
    def passed(self):
        """The verdict (CLI exit status): exact agreement end to end when the exact reference
        exists, else the float32 rule — per layer when layerwise checks ran (deep networks
        compound float32 flips end to end), end to end otherwise; with layerwise checks,
        also every layer passing (exactly, where the exact reference exists)."""
        if self.exact_failed:
            return False  # an engine bug must not pass on the float32 rule unnoticed
        layers_ok = self.first_failing_layer is None
        verdict = self.exact_agreement
        if verdict is not None:
            return verdict and layers_ok
        if self.layers is not None:
            return layers_ok
        return self.within_tolerance

    @property
    def all_exact(self):
        return all(c.skipped or c.exact_fraction == 1.0 for c in self.comparisons)

    @property
    def within_tolerance(self):
        """LBIR and RTL obey the float32 rule (docs/ARCHITECTURE.md §2.4): >= 99.9 % same code,
        never > 1 LSB off.

        (The QCDQ stage is a second witness of the reference's semantics, reported only.)
        """
        return all(c.same_code_fraction >= 0.999 and c.max_diff_lsb <= 1.0
                   for c in self.comparisons if c.stage in ("lbir", "rtl") and not c.skipped)


def _in_lsbs(diff, lsb):
    """diff in output LSBs (lsb: a float or a per-element array, see output_lsbs); None if unknown."""
    return diff / lsb if np.all(np.asarray(lsb) > 0) else None


def compare(stage, reference, result, lsb, seconds):
    if reference.shape != result.shape:
        raise AssertionError(f"{stage}: output shape {result.shape} != reference {reference.shape}")
    diff = np.abs(reference.astype(np.float64) - result.astype(np.float64))
    lsbs = _in_lsbs(diff, lsb)
    same_code = float(np.mean(lsbs < 0.5)) if lsbs is not None else float(np.mean(diff == 0))
    return Comparison(stage, float(np.mean(diff == 0)), float(diff.max(initial=0.0)),
                      float(lsbs.max(initial=0.0)) if lsbs is not None else float("nan"), seconds,
                      same_code_fraction=same_code)


def compare_exact(comparison, exact_values, result, lsb):
    """Fill `comparison`'s fields against the exact reference (float64 nearest values: the
    circuit's outputs are whole LSBs apart, so half an LSB separates codes robustly)."""
    diff = np.abs(exact_values - result.astype(np.float64))
    lsbs = _in_lsbs(diff, lsb)
    comparison.exact_same_code_fraction = float(np.mean(lsbs < 0.5)) if lsbs is not None else float(np.mean(diff == 0))
    comparison.exact_max_diff_lsb = float(lsbs.max(initial=0.0)) if lsbs is not None else float("nan")
    return comparison


def output_lsb(lbir_model):
    """The float value of one output LSB (the host's dequantization scale), 0 if unknown."""
    for node in lbir_model.graph.node:
        if node.name.endswith("_dequant_mul"):
            scale = ConstantEvaluator(lbir_model).value(node.input[1])
            if scale is not None:
                return float(np.min(np.abs(scale)))
    return 0.0


def output_lsbs(lbir_model):
    """One output LSB per output element (an array broadcasting against the batched output)
    when the graph output is the host's dequantization by per-channel scales, else
    `output_lsb`: a code is half of its own channel's LSB wide (minifloat codes reach 2**19,
    so float32's rounding of code * scale exceeds half of the smallest channel's LSB)."""
    out = lbir_model.graph.output[0].name
    for node in lbir_model.graph.node:
        if node.name.endswith("_dequant_mul") and node.output[0] == out:
            scale = ConstantEvaluator(lbir_model).value(node.input[1])
            shape = lbir_model.get_tensor_shape(out)
            if scale is not None and shape and np.all(np.abs(scale) > 0) and np.size(scale) > 1:
                scale = np.abs(np.asarray(scale, np.float64))
                if np.broadcast_shapes(scale.shape, tuple(shape)) == tuple(shape):
                    return scale
    return output_lsb(lbir_model)


def run_qcdq(model, x):
    """onnxruntime on the QCDQ form of `model`; raises ValueError if it cannot be formed."""
    import onnxruntime as ort
    from qonnx.transformation.fold_constants import FoldConstantsFiltered
    from qonnx.transformation.qonnx_to_qcdq import QuantToQCDQ

    def wide_constant_quant(graph_model, node):
        # bias quantizers (Int16/Int32Bias) have > 8 bits, beyond QCDQ; their output is a
        # constant qonnx computes once, so fold it to that float32 value
        if node.op_type not in ("Quant", "IntQuant"):
            return False
        bits = graph_model.get_initializer(node.input[3])
        return bits is not None and float(np.asarray(bits).ravel()[0]) > 8

    modes = {a.s.decode().upper() for n in model.graph.node if n.op_type in ("Quant", "IntQuant")
             for a in n.attribute if a.name == "rounding_mode"}
    if modes - {"ROUND", "HALF_EVEN"}:
        # QuantizeLinear rounds half to even; qonnx 1.0.0's QuantToQCDQ converts such Quants
        # anyway (measured: FLOOR/CEIL models then differ), so it is no witness for them
        raise ValueError(f"QCDQ cannot express rounding modes {sorted(modes - {'ROUND', 'HALF_EVEN'})}")
    qcdq = model.transform(FoldConstantsFiltered(wide_constant_quant)).transform(QuantToQCDQ())
    remaining = [n.op_type for n in qcdq.graph.node if n.domain not in ("", "ai.onnx")]
    if remaining:
        raise ValueError(f"QuantToQCDQ left {sorted(set(remaining))} (only 2-8 bit Quant converts)")
    qcdq = with_batch(qcdq, x.shape[0])
    # ORT's default graph optimizations fuse QDQ pairs into integer kernels that requantize
    # differently (measured: up to 41 LSB off on a 4-bit MLP); the QDQ graph's own semantics
    # is what qonnx defines, so run it unfused.
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(qcdq.model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {qcdq.graph.input[0].name: x.astype(np.float32)})[0]


def run_exact(report, model, context):
    """The exact reference's output values (float64, within a few ulps), or None with the
    reason in `report.exact_skipped`: an op without exact rule (the float32 rule decides), or a
    failure of the engine (shown, `report.exact_failed`: verify fails)."""
    from qonnx_c4ml.exact import ExactUnsupported, exact_reference

    start = time.perf_counter()
    try:
        values = exact_reference(model, context).approx()
    except ExactUnsupported as error:
        report.exact_skipped = str(error).splitlines()[0][:160]
        return None
    except Exception as error:  # noqa: BLE001 - a bug here must not stop the other checks; it is shown
        report.exact_skipped = exact_failure(error)
        report.exact_failed = True
        return None
    report.exact_seconds = time.perf_counter() - start
    return values


def exact_failure(error):
    """The one-line description of an exact-engine failure (not a missing rule)."""
    text = (str(error).splitlines() or [""])[0][:120]
    return f"exact reference failed ({type(error).__name__}: {text})"


def verify(model, samples=1000, seed=0, inputs=None, rtl=True, pipeline="none", build_dir=None, style="auto",
           exact=True, layerwise=False, input_datatype=None):
    """Run the differential check (see module doc); returns a VerifyReport. `exact=False`
    skips the exact reference, `layerwise=True` adds the per-layer check, `input_datatype`:
    InferLBIR's (a model without input quantizer); random inputs then lie on its grid.

    The float32 reference and the exact reference run on InferLBIR's prepared graph
    (prepare.prepare_for_lowering): the same function as the original on grid inputs, with the
    input quantizer the exact engine starts from and the tensor names of the layerwise map."""
    from qonnx_c4ml.transformations.finn_front import reference_description
    from qonnx_c4ml.transformations.prepare import prepare_for_lowering

    original = load_model(model)
    prepared = prepare_for_lowering(original, input_datatype)[0]
    x = random_inputs(original, samples, seed, input_datatype) if inputs is None else np.asarray(inputs, np.float32)
    # a batch-less model (e.g. torch.flatten(x)) runs one sample at a time: no full context
    batchless = model_is_batchless(original)
    if layerwise and batchless:
        raise C4mlError("--layerwise needs a model with a batch axis (this one reshapes it away, e.g. "
                        "torch.flatten(x)); run verify without --layerwise")
    report, reference, float_run = _reference_stage(prepared, x, seed, batchless)
    report.reference = reference_description(original)
    exact_values = _exact_stage(report, exact, batchless, float_run)
    results = {}
    _qcdq_stage(report, original, x, reference, results)
    lowered = _lbir_stage(report, original, x, reference, results, layerwise, input_datatype)
    lsb = output_lsbs(lowered[0])  # per output element where channels have their own scales
    if rtl:
        _rtl_stage(report, lowered[0], x, reference, results, pipeline, build_dir, style, lsb)
    if exact_values is not None:
        _compare_with_exact(report, exact_values, reference, results, lsb)
    if layerwise:
        _layerwise_stage(report, prepared, x, float_run, lowered, input_datatype)
    return report


def _reference_stage(prepared, x, seed, batchless):
    """(report, float32 reference output, (batch model, context) or None for a batch-less model)."""
    start = time.perf_counter()
    if batchless:
        reference, float_run = execute(prepared, x), None
    else:
        batch_model, context = execute_context(prepared, x)
        reference, float_run = context[batch_model.graph.output[0].name], (batch_model, context)
    report = VerifyReport(int(x.shape[0]), seed, 0.0, reference_seconds=time.perf_counter() - start)
    return report, reference, float_run


def _exact_stage(report, exact, batchless, float_run):
    if not exact:
        report.exact_skipped = "not requested"
    elif batchless:
        report.exact_skipped = "batch-less model (qonnx runs it one sample at a time)"
    else:
        return run_exact(report, *float_run)
    return None


def _qcdq_stage(report, original, x, reference, results):
    start = time.perf_counter()
    try:
        results["qcdq"] = run_qcdq(original, x)
        report.comparisons.append(compare("qcdq", reference, results["qcdq"], 0, time.perf_counter() - start))
    except Exception as error:  # noqa: BLE001 - QCDQ is an extra witness, not a requirement
        report.comparisons.append(Comparison("qcdq", 0, 0, 0, 0, skipped=str(error).splitlines()[0][:120]))


def _lbir_stage(report, original, x, reference, results, layerwise, input_datatype):
    """Lower and execute the LBIR graph; returns (lbir model, activation map or None, its batch
    run or None) — layerwise needs the map and the LBIR execution context."""
    from qonnx_c4ml.transformations import InferLBIR

    start = time.perf_counter()
    if layerwise:  # the same graph as InferLBIR, plus the map of its integer tensors
        from qonnx_c4ml.layerwise import lower_with_activations

        lbir_model, acts = lower_with_activations(original, input_datatype)
        lbir_batch, lbir_context = execute_context(lbir_model, x)
        lbir, lowered = lbir_context[lbir_batch.graph.output[0].name], (lbir_model, acts, (lbir_batch, lbir_context))
    else:
        lbir_model = original.transform(InferLBIR(input_datatype=input_datatype))
        lbir, lowered = execute(lbir_model, x), (lbir_model, None, None)
    report.output_lsb, lsb = output_lsb(lbir_model), output_lsbs(lbir_model)
    report.comparisons.append(compare("lbir", reference, lbir, lsb, time.perf_counter() - start))
    results["lbir"] = lbir
    for c in report.comparisons:
        if c.stage == "qcdq" and not c.skipped and report.output_lsb:
            again = compare("qcdq", reference, results["qcdq"], lsb, 0)
            c.max_diff_lsb, c.same_code_fraction = again.max_diff_lsb, again.same_code_fraction
    return lowered


def _rtl_stage(report, lbir_model, x, reference, results, pipeline, build_dir, style, lsb):
    import tempfile

    from qonnx_c4ml.circuit import Circuit

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qonnx_c4ml_verify_") as scratch:
        # the Verilog is only needed until the (content-hash cached) library is built
        circuit = Circuit(lbir_model, output_dir=build_dir or scratch, pipeline=pipeline, style=style)
        result = circuit(x)
    report.comparisons.append(compare("rtl", reference, result, lsb, time.perf_counter() - start))
    results["rtl"] = result


def _compare_with_exact(report, exact_values, reference, results, lsb):
    report.reference_noise = compare_exact(compare("qonnx", exact_values, reference, lsb, 0.0),
                                           exact_values, reference, lsb)
    for c in report.comparisons:
        if c.stage in results and not c.skipped:
            compare_exact(c, exact_values, results[c.stage], lsb)


def _layerwise_stage(report, prepared, x, float_run, lowered, input_datatype):
    from qonnx_c4ml.layerwise import check_layers

    lbir_model, acts, lbir_run = lowered
    problems = []
    report.layers = check_layers(prepared, x, context=float_run, lowered=(lbir_model, acts), lbir_context=lbir_run,
                                 input_datatype=input_datatype, problems=problems)
    report.first_failing_layer = next((layer.name for layer in report.layers if not layer.ok), None)
    if problems and not report.exact_failed:
        report.exact_skipped, report.exact_failed = problems[0], True
