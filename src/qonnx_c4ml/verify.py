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
import time

import numpy as np

from qonnx_c4ml.comparison import Comparison, compare, compare_exact, exact_failure, output_lsb, output_lsbs
from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.reference import execute, execute_context, load_model, with_batch
from qonnx_c4ml.verify_report import VerifyReport
from qonnx_c4ml.transformations.batch_axis import model_is_batchless
from qonnx_c4ml.transformations.constants import QUANTIZER_OPS, ConstantEvaluator, quant_code_range, quant_parameters
from qonnx_c4ml.transformations.zero_point import zero_point


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


def run_qcdq(model, x):
    """onnxruntime on the QCDQ form of `model`; raises ValueError if it cannot be formed."""
    session, name = qcdq_session(model, x.shape[0])
    return session.run(None, {name: x.astype(np.float32)})[0]


def qcdq_session(model, batch):
    """(onnxruntime session of the QCDQ form of `model` for `batch` samples, its input name);
    raises ValueError if the form cannot be made (see run_qcdq)."""
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
    qcdq = with_batch(qcdq, batch)
    # ORT's default graph optimizations fuse QDQ pairs into integer kernels that requantize
    # differently (measured: up to 41 LSB off on a 4-bit MLP); the QDQ graph's own semantics
    # is what qonnx defines, so run it unfused.
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(qcdq.model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session, qcdq.graph.input[0].name


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


def verify(model, samples=1000, seed=0, inputs=None, rtl=True, pipeline="none", build_dir=None, style="auto",
           exact=True, layerwise=False, input_datatype=None, reuse_factor=None,
           target_ii=None, max_luts=None, weight_memory="auto"):
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
        _rtl_stage(report, lowered[0], x, reference, results, pipeline, build_dir, style, lsb,
                   dict(reuse_factor=reuse_factor, target_ii=target_ii, max_luts=max_luts, weight_memory=weight_memory))
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


def _rtl_stage(report, lbir_model, x, reference, results, pipeline, build_dir, style, lsb, folding=None):
    import tempfile

    from qonnx_c4ml.circuit import Circuit

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qonnx_c4ml_verify_") as scratch:
        # the Verilog is only needed until the (content-hash cached) library is built
        circuit = Circuit(lbir_model, output_dir=build_dir or scratch, pipeline=pipeline, style=style,
                          **(folding or {}))
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
