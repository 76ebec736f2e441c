"""The CNN benchmark: both circuit styles of the MNIST CNN, with anchors measured in the same run.

    python benchmarks/cnn_flow.py [--model tests/fixtures/cnn/mnist_cnn_w4a4_po2.onnx] [--repeat 3]

For `parallel` and `streaming` (GenerateChiselCircuit(style=...)) on the shipped 1,000 MNIST
test digits: QONNX -> Verilog time, Verilator build time (cold: empty cache dir; set
CCACHE_DISABLE=1 to keep ccache out of it) and cached, images/s end to end through
`execute_onnx` (median of --repeat), cycles per image and latency, and that the RTL equals
qonnx bit for bit.  Anchors: qonnx `execute_onnx` and onnxruntime (QCDQ, unfused) images/s.
The machine is shared and noisy: read the ratios.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CNN = ROOT / "tests" / "fixtures" / "cnn"


def median_time(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None):
    from qonnx.custom_op.registry import getCustomOp

    from qonnx_c4ml.io import read_model
    from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim
    from qonnx_c4ml.metadata import circuit_description
    from qonnx_c4ml.reference import execute
    from qonnx_c4ml.verify import run_qcdq

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(CNN / "mnist_cnn_w4a4_po2.onnx"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    data = np.load(CNN / "mnist_test.npz")
    x = data["x_uint8"].astype(np.float32) / data["divisor"]
    model = read_model(args.model)
    ref_s, reference = median_time(lambda: execute(model, x), args.repeat)
    ort_s, _ = median_time(lambda: run_qcdq(model, x), args.repeat)
    work = Path(tempfile.mkdtemp(prefix="c4ml_cnn_bench_"))
    rows = []
    for style in ("parallel", "streaming"):
        gen_s, generated = median_time(lambda: read_model(args.model).transform(InferLBIR()).transform(
            GenerateChiselCircuit(work / style, style=style)), args.repeat)
        cold_s, simulated = median_time(lambda: generated.transform(RTLSim(cache_dir=work / f"cache_{style}")), 1)
        cached_s, simulated = median_time(lambda: generated.transform(RTLSim(cache_dir=work / f"cache_{style}")), 1)
        run_s, out = median_time(lambda: execute(simulated, x), args.repeat)
        description = circuit_description(generated)
        node = next(n for n in simulated.graph.node if n.op_type == "RTLCircuit")
        stats = getCustomOp(node).run_statistics()
        cycles = f"{stats['ii']} cycles/image, latency {stats['latency']}" if stats else \
            f"1 image/cycle, latency {description.latency_cycles}"
        rows.append((style, gen_s, cold_s, cached_s, len(x) / run_s, cycles, bool(np.array_equal(out, reference))))
    print(f"model: {args.model}, {len(x)} MNIST test digits")
    print(f"{'style':10} {'generate':>9} {'build cold':>11} {'cached':>8} {'images/s':>10}  {'cycles':34} bit-exact")
    for style, gen_s, cold_s, cached_s, rate, cycles, exact in rows:
        print(f"{style:10} {gen_s:8.2f}s {cold_s:10.1f}s {cached_s:7.3f}s {rate:10.0f}  {cycles:34} {exact}")
    print(f"anchors: qonnx execute_onnx {len(x) / ref_s:.0f} images/s, onnxruntime QCDQ {len(x) / ort_s:.0f} images/s")
    parallel, streaming = rows
    print(f"streaming / parallel: build {streaming[2] / parallel[2]:.3f}x, simulation {streaming[4] / parallel[4]:.3f}x; "
          f"parallel RTL sim / qonnx {parallel[4] / (len(x) / ref_s):.1f}x")
    return 0 if all(row[-1] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
