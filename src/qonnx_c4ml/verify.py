"""The differential check: qonnx reference == onnxruntime(QCDQ) == LBIR numpy == RTL.

`verify(model, samples=N)` runs the same N inputs through
- `reference`: qonnx `execute_onnx` on the original QONNX model,
- `qcdq`: onnxruntime on the model converted by qonnx's QuantToQCDQ (2-8 bit quantizers;
  "skipped" with the reason when the conversion does not apply, e.g. bipolar/1-bit),
- `lbir`: qonnx `execute_onnx` on the InferLBIR graph (numpy integer layers),
- `rtl`: the same graph with the layers replaced by the Verilator-built circuit,
and reports, for each against the reference, the exact-match fraction of output elements,
the largest absolute difference and that difference in output LSBs, plus each stage's time.
"""
import copy
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.change_batchsize import ChangeBatchSize
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.transformations.constants import QUANTIZER_OPS, ConstantEvaluator, quant_code_range, quant_parameters


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
    """Outputs of `model` (qonnx execute_onnx) for the batch `x`, as one numpy array."""
    if model.get_tensor_shape(model.graph.input[0].name)[0] != x.shape[0]:
        model = with_batch(model, x.shape[0])
    elif any(model.get_tensor_shape(out) is None for node in model.graph.node for out in node.output):
        model = model.transform(InferShapes())  # a raw export (Brevitas without cleanup) has no inner shapes
    name = model.graph.input[0].name
    return execute_onnx(model, {name: x.astype(np.float32)})[model.graph.output[0].name]


def input_quantizer(model):
    """(scale, lo, hi) of the first quantizer after the model input, or None."""
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
            return float(np.asarray(scale).ravel()[0]), lo, hi
        if node.op_type in QUANTIZER_OPS:
            return None
        tensor = node.output[0]
    return None


def random_inputs(model, samples, seed=0):
    """Inputs covering the input quantizer's codes, its clipping, and exact rounding ties."""
    rng = np.random.default_rng(seed)
    shape = [samples] + list(model.get_tensor_shape(model.graph.input[0].name)[1:])
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


@dataclass
class VerifyReport:
    samples: int
    seed: int
    output_lsb: float
    comparisons: list = field(default_factory=list)
    reference_seconds: float = 0.0

    def as_dict(self):
        return asdict(self)

    def table(self):
        lines = [f"{'stage':8} {'bit-exact':>9} {'same code':>9} {'max |diff|':>11} {'max LSB':>8} {'time s':>8}"]
        lines.append(f"{'qonnx':8} {'(ref)':>9} {'':>9} {'':>11} {'':>8} {self.reference_seconds:8.3f}")
        for c in self.comparisons:
            if c.skipped:
                lines.append(f"{c.stage:8} skipped: {c.skipped}")
            else:
                lines.append(f"{c.stage:8} {100 * c.exact_fraction:8.3f}% {100 * c.same_code_fraction:8.3f}% "
                             f"{c.max_abs_diff:11.4g} {c.max_diff_lsb:8.3g} {c.seconds:8.3f}")
        return "\n".join(lines)

    @property
    def all_exact(self):
        return all(c.skipped or c.exact_fraction == 1.0 for c in self.comparisons)

    @property
    def within_tolerance(self):
        """LBIR and RTL obey DESIGN.md section 2: >= 99.9 % same code, never > 1 LSB off.

        (The QCDQ stage is a second witness of the reference's semantics, reported only.)
        """
        return all(c.same_code_fraction >= 0.999 and c.max_diff_lsb <= 1.0
                   for c in self.comparisons if c.stage in ("lbir", "rtl") and not c.skipped)


def compare(stage, reference, result, lsb, seconds):
    if reference.shape != result.shape:
        raise AssertionError(f"{stage}: output shape {result.shape} != reference {reference.shape}")
    diff = np.abs(reference.astype(np.float64) - result.astype(np.float64))
    same_code = float(np.mean(diff < 0.5 * lsb)) if lsb else float(np.mean(diff == 0))
    return Comparison(stage, float(np.mean(diff == 0)), float(diff.max(initial=0.0)),
                      float(diff.max(initial=0.0) / lsb) if lsb else float("nan"), seconds,
                      same_code_fraction=same_code)


def output_lsb(lbir_model):
    """The float value of one output LSB (the host's dequantization scale), 0 if unknown."""
    for node in lbir_model.graph.node:
        if node.name.endswith("_dequant_mul"):
            scale = ConstantEvaluator(lbir_model).value(node.input[1])
            if scale is not None:
                return float(np.min(np.abs(scale)))
    return 0.0


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


def verify(model, samples=1000, seed=0, inputs=None, rtl=True, pipeline="none", build_dir=None, style="auto"):
    """Run the differential check (see module doc); returns a VerifyReport."""
    from qonnx_c4ml.transformations import InferLBIR

    original = load_model(model)
    x = random_inputs(original, samples, seed) if inputs is None else np.asarray(inputs, np.float32)
    start = time.perf_counter()
    reference = execute(original, x)
    report = VerifyReport(int(x.shape[0]), seed, 0.0, reference_seconds=time.perf_counter() - start)

    start = time.perf_counter()
    try:
        qcdq = run_qcdq(original, x)
        report.comparisons.append(compare("qcdq", reference, qcdq, 0, time.perf_counter() - start))
    except Exception as error:  # noqa: BLE001 - QCDQ is an extra witness, not a requirement
        report.comparisons.append(Comparison("qcdq", 0, 0, 0, 0, skipped=str(error).splitlines()[0][:120]))

    start = time.perf_counter()
    lbir_model = original.transform(InferLBIR())
    lbir = execute(lbir_model, x)
    report.output_lsb = output_lsb(lbir_model)
    report.comparisons.append(compare("lbir", reference, lbir, report.output_lsb, time.perf_counter() - start))
    for c in report.comparisons:
        if c.stage == "qcdq" and not c.skipped and report.output_lsb:
            c.max_diff_lsb = c.max_abs_diff / report.output_lsb
            c.same_code_fraction = compare("qcdq", reference, qcdq, report.output_lsb, 0).same_code_fraction

    if rtl:
        import tempfile

        from qonnx_c4ml.circuit import Circuit

        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="qonnx_c4ml_verify_") as scratch:
            # the Verilog is only needed until the (content-hash cached) library is built
            circuit = Circuit(lbir_model, output_dir=build_dir or scratch, pipeline=pipeline, style=style)
            result = circuit(x)
        report.comparisons.append(compare("rtl", reference, result, report.output_lsb, time.perf_counter() - start))
    return report
