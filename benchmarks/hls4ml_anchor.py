"""hls4ml anchor: hls4ml's QONNX frontend + C simulation against our flow, in the same run.

    python benchmarks/hls4ml_anchor.py [--samples 20000] [--cnn-samples 20000] [--repeat 3]

Measured with hls4ml 1.3.0 (`pip install hls4ml==1.3.0`; only its small pure-Python deps
h5py, pyDigitalWaveTools; no tensorflow/torch extras).  hls4ml is a benchmark anchor only:
it is not a dependency of qonnx-c4ml.  Without hls4ml installed the script prints "skipped"
and exits 0.

For each model (default: the jets 16-64-32-32-5 w4a4 fixture and the chisel4ml CNN fixture):
- inputs: `qonnx_c4ml.verify.random_inputs(model, n, seed=1)` (quantizer codes, clipping and
  exact rounding ties); reference: qonnx `execute_onnx` on the original model.
- hls4ml (backend Vitis, io_parallel, `config_from_onnx_model(granularity="name")`, default
  precision fixed<16,6>): the preprocessing hls4ml's QONNX docs ask for (qonnx
  `cleanup_model`, `ConvertToChannelsLastAndClean`, `GemmToMatMul`, `cleanup_model`), then
  `convert_from_onnx_model` + `write()` = "generate"; `compile()`'s g++ build of the
  bit-accurate C++ emulation = "build"; `predict(x)` = C simulation throughput.
- ours: `Circuit(model)` = InferLBIR + GenerateChiselCircuit ("generate") + RTLSim Verilator
  build ("build", cold cache dir); `circuit(x)` = RTL simulation throughput end to end.
- exactness against qonnx: fraction of output elements bit-identical, fraction within half an
  output LSB (same integer code), max abs diff.
- a second hls4ml run differing only in the input precision (`--wide-input`, default
  fixed<32,8> for `global_in`): with the default fixed<16,6> hls4ml truncates (AP_TRN) each
  float input to 10 fractional bits before its input quantizer rounds, i.e. it rounds twice,
  and inputs just off a rounding tie get the wrong code; on-grid codes, exact ties and
  clipping alone are bit-exact (checked when this script was written).  Ratios use the
  default run; the wide run shows what the same hls4ml does once the user widens the input.
A stage hls4ml cannot do is caught and its exact error printed (a finding, not a bug to hide):
models are never edited beyond the preprocessing above.  g++ and Verilator builds run with
CCACHE_DISABLE=1.  Artifacts go to a temp dir (removed unless --keep).  The machine is shared
and noisy: read the ratios.
"""
import argparse
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "jets": ROOT / "tests" / "fixtures" / "jets_w4a4_po2.onnx",
    "cnn": ROOT / "tests" / "fixtures" / "cnn" / "chisel4ml_cnn.onnx",
}


def median_time(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def reason(error):
    """One line: exception type and message (the first traceback frame inside hls4ml/qonnx)."""
    text = f"{type(error).__name__}: {error}".strip()
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "site-packages" in f.filename]
    if frames:
        f = frames[-1]
        where = f.filename.split("site-packages/")[-1]
        text += f"  [at {where}:{f.lineno} in {f.name}]"
    return text.replace("\n", " | ")


@contextlib.contextmanager
def quiet(enabled=True):
    """hls4ml prints its whole topology on every conversion; keep the table readable."""
    if not enabled:
        yield
        return
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        yield


def agreement(reference, result, lsb):
    from qonnx_c4ml.comparison import compare

    result = np.asarray(result, dtype=np.float64).reshape(reference.shape)
    c = compare("", reference, result, lsb, 0.0)
    return c.exact_fraction, c.same_code_fraction, c.max_abs_diff


def hls4ml_preprocess(path):
    """The preprocessing hls4ml's ONNX/QONNX docs prescribe, nothing more."""
    import qonnx.util.cleanup
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
    from qonnx.transformation.gemm_to_matmul import GemmToMatMul

    model = ModelWrapper(str(path))
    model = qonnx.util.cleanup.cleanup_model(model)
    model = model.transform(ConvertToChannelsLastAndClean())
    model = model.transform(GemmToMatMul())
    return qonnx.util.cleanup.cleanup_model(model)


def run_hls4ml(path, x, reference, lsb, work, repeat, backend, verbose, input_precision=None):
    import hls4ml

    row = {"generate": None, "build": None, "rate": None, "exact": None, "failed": ""}
    stage = "preprocess (qonnx cleanup/channels-last/GemmToMatMul)"
    try:
        start = time.perf_counter()
        with quiet(not verbose):
            model = hls4ml_preprocess(path)
            stage = "config_from_onnx_model"
            config = hls4ml.utils.config.config_from_onnx_model(
                model, granularity="name", backend=backend, default_precision="fixed<16,6>")
            if input_precision:
                config["LayerName"]["global_in"]["Precision"]["result"] = input_precision
            stage = "convert_from_onnx_model"
            hls_model = hls4ml.converters.convert_from_onnx_model(
                model, output_dir=str(work), project_name="myproject", backend=backend,
                io_type="io_parallel", hls_config=config)
            stage = "write"
            hls_model.write()
        row["generate"] = time.perf_counter() - start
        stage = "compile (g++ C++ emulation)"
        start = time.perf_counter()
        with quiet(not verbose):
            hls_model._compile()  # compile() = write() (timed above) + this g++ build + dlopen
        row["build"] = time.perf_counter() - start
        stage = "predict (C simulation)"
        xc = np.ascontiguousarray(x, dtype=np.float32)
        seconds, out = median_time(lambda: hls_model.predict(xc), repeat)
        row["rate"] = len(x) / seconds
        stage = "compare with qonnx"
        row["exact"] = agreement(reference, out, lsb)
    except Exception as error:  # noqa: BLE001 - a finding to report, not to hide
        row["failed"] = f"{stage}: {reason(error)}"
    return row


def run_ours(path, x, reference, work, repeat):
    from qonnx_c4ml.circuit import Circuit
    from qonnx_c4ml.io import read_model
    from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim
    from qonnx_c4ml.comparison import output_lsb

    row = {"generate": None, "build": None, "rate": None, "exact": None, "failed": "", "lsb": 0.0}
    stage = "generate (InferLBIR + GenerateChiselCircuit)"
    try:
        # What Circuit(model) does, split so generation and the Verilator build are timed apart.
        start = time.perf_counter()
        generated = read_model(str(path)).transform(InferLBIR()).transform(
            GenerateChiselCircuit(work / "verilog"))
        row["generate"] = time.perf_counter() - start
        stage = "Verilator build (RTLSim, cold cache)"
        start = time.perf_counter()
        simulated = generated.transform(RTLSim(cache_dir=work / "cache"))
        row["build"] = time.perf_counter() - start
        circuit = Circuit(simulated)
        try:
            row["lsb"] = output_lsb(circuit.model)
        except Exception:  # noqa: BLE001 - only refines the "same code" column
            row["lsb"] = 0.0
        stage = "RTL simulation"
        seconds, out = median_time(lambda: circuit(x), repeat)
        row["rate"] = len(x) / seconds
        row["exact"] = agreement(reference, out, row["lsb"])
    except Exception as error:  # noqa: BLE001
        row["failed"] = f"{stage}: {reason(error)}"
    return row


def fmt(value, spec, missing="-"):
    return missing if value is None else format(value, spec)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), help="names in MODELS or .onnx paths")
    parser.add_argument("--samples", type=int, default=20_000, help="jets (and path) inputs")
    parser.add_argument("--cnn-samples", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", default="Vitis", choices=["Vitis", "Vivado"])
    parser.add_argument("--wide-input", default="fixed<32,8>",
                        help="also run hls4ml with this global_in precision ('' to skip)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with both projects")
    parser.add_argument("--verbose", action="store_true", help="show hls4ml's own output")
    args = parser.parse_args(argv)

    try:
        import hls4ml
    except ImportError as error:
        print(f"hls4ml anchor: skipped (hls4ml is not installed: {error}); `pip install hls4ml==1.3.0`")
        return 0

    from qonnx_c4ml.reference import execute, load_model

    from qonnx_c4ml.verify import random_inputs

    os.environ.setdefault("CCACHE_DISABLE", "1")
    total_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="c4ml_hls4ml_anchor_"))
    results = []
    try:
        for name in args.models:
            path = MODELS.get(name, Path(name))
            samples = args.cnn_samples if name == "cnn" else args.samples
            model = load_model(str(path))
            x = random_inputs(model, samples, seed=1)
            ref_s, reference = median_time(lambda: execute(model, x), args.repeat)
            ours = run_ours(path, x, reference, work / name / "ours", args.repeat)
            hls = run_hls4ml(path, x, reference, ours["lsb"], work / name / "hls4ml", args.repeat,
                             args.backend, args.verbose)
            wide = run_hls4ml(path, x, reference, ours["lsb"], work / name / "hls4ml_wide", args.repeat,
                              args.backend, args.verbose, args.wide_input) if args.wide_input else None
            results.append((name, path, samples, len(x) / ref_s, ours, hls, wide))
    finally:
        if args.keep:
            print(f"artifacts kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"hls4ml {hls4ml.__version__} (backend {args.backend}, io_parallel, default fixed<16,6>) vs "
          f"qonnx-c4ml; inputs: verify.random_inputs(seed=1); median of {args.repeat} for throughput")
    header = (f"{'model':5} {'flow':24} {'generate':>9} {'build':>8} {'samples/s':>11} "
              f"{'exact':>7} {'same code':>9} {'max |diff|':>10}")
    print(header)
    for name, path, samples, ref_rate, ours, hls, wide in results:
        rows = [("qonnx-c4ml (Verilator)", ours), ("hls4ml (C sim)", hls)]
        if wide:
            rows.append((f"hls4ml, in {args.wide_input}", wide))
        for label, row in rows:
            exact = row["exact"] or (None, None, None)
            print(f"{name:5} {label:24} {fmt(row['generate'], '8.3f')}s {fmt(row['build'], '7.2f')}s "
                  f"{fmt(row['rate'], '11.0f')} {fmt(exact[0], '7.4f')} {fmt(exact[1], '9.4f')} "
                  f"{fmt(exact[2], '10.3g')}")
        print(f"{name:5} {'qonnx execute_onnx':24} {'':>9} {'':>8} {ref_rate:11.0f}   (reference; "
              f"{samples} samples of {Path(path).name})")
    print()
    for name, path, samples, ref_rate, ours, hls, wide in results:
        rows = [("ours", ours), ("hls4ml", hls)] + ([(f"hls4ml in {args.wide_input}", wide)] if wide else [])
        for label, row in rows:
            if row["failed"]:
                print(f"{name}: {label} FAILED at {row['failed']}")
        if ours["generate"] is not None and hls["build"] is not None and ours["build"] is not None:
            ours_total = ours["generate"] + ours["build"]
            hls_total = hls["generate"] + hls["build"]
            print(f"{name}: generate+build ours/hls4ml {ours_total / hls_total:.2f}x "
                  f"({ours_total:.2f}s vs {hls_total:.2f}s; generate {ours['generate'] / hls['generate']:.2f}x, "
                  f"build {ours['build'] / hls['build']:.2f}x)")
        if ours["rate"] and hls["rate"]:
            print(f"{name}: simulation throughput ours/hls4ml {ours['rate'] / hls['rate']:.2f}x; "
                  f"vs qonnx execute_onnx: ours {ours['rate'] / ref_rate:.2f}x, hls4ml {hls['rate'] / ref_rate:.3f}x")
        for label, row in rows:
            if row["exact"]:
                exact, same, diff = row["exact"]
                verdict = "bit-exact" if exact == 1.0 else f"NOT exact ({1 - exact:.2%} of outputs differ)"
                print(f"{name}: {label} vs qonnx: {verdict}, max |diff| {diff:.3g}")
    print(f"total runtime {time.perf_counter() - total_start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
