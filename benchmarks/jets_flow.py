"""The jets flow benchmark: generation, Verilator build and simulation speed, with anchors.

    python benchmarks/jets_flow.py [--model tests/fixtures/jets_w4a4_po2.onnx] [--samples 1000000]

Measures in one run, on one model (default: the repo's Brevitas jets 16-64-32-32-5 w4a4 fixture):
- QONNX -> Verilog (InferLBIR + GenerateChiselCircuit), median of 5 runs
- Verilator build: cold (empty cache dir) and cached rebuild
- RTL simulation throughput for `--samples` vectors (median of 3): the Verilator model alone
  on packed words (all cores), and end to end with packing/unpacking of integer codes
- anchors measured here too: qonnx `execute_onnx` (reference) and onnxruntime (QCDQ form,
  unfused) samples/s on a 2,000-sample batch.  (hls4ml's C simulation is not measured here.)
Prints medians and ratios; the machine is shared and noisy, so read ratios, not absolutes.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "tests" / "fixtures" / "jets_w4a4_po2.onnx"


def median_time(fn, repeats):
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv=None):
    from qonnx_c4ml.circuit import Circuit
    from qonnx_c4ml.io import read_model
    from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim
    from qonnx_c4ml.verify import execute, random_inputs, run_qcdq

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--pipeline", default="none", choices=["none", "layer"])
    args = parser.parse_args(argv)

    model = read_model(args.model)
    work = Path(tempfile.mkdtemp(prefix="c4ml_bench_"))
    gen_s, generated = median_time(
        lambda: read_model(args.model).transform(InferLBIR()).transform(
            GenerateChiselCircuit(work / "verilog", pipeline=args.pipeline)), 5)
    cold_s, simmed = median_time(lambda: generated.transform(RTLSim(cache_dir=work / "cache")), 1)
    cached_s, simmed = median_time(lambda: generated.transform(RTLSim(cache_dir=work / "cache")), 3)
    circuit = Circuit(simmed)

    rng = np.random.default_rng(0)
    desc = circuit.description
    lo, hi = (-(1 << (desc.inp.bits - 1)), (1 << (desc.inp.bits - 1)) - 1) if desc.inp.signed \
        else (0, (1 << desc.inp.bits) - 1)
    codes = rng.integers(lo, hi + 1, size=(args.samples, desc.inp.elements))
    sim_s, _ = median_time(lambda: circuit.run_codes(codes), 3)
    from qonnx_c4ml.lbir.circuit import simulator_for
    from qonnx_c4ml.sim import pack_codes

    words = pack_codes(codes, desc.inp.bits, desc.inp.signed)
    simulator = simulator_for(circuit.op.get_nodeattr("library"), desc)
    core_s, _ = median_time(lambda: simulator.run_packed(words), 3)

    x = random_inputs(model, 2000, seed=1)
    ref_s, _ = median_time(lambda: execute(model, x), 3)
    try:
        ort_s, _ = median_time(lambda: run_qcdq(model, x), 3)
    except ValueError as error:
        ort_s = None
        print(f"onnxruntime QCDQ: skipped ({error})")

    rtl_rate = args.samples / sim_s
    ref_rate = len(x) / ref_s
    print(f"model: {args.model} (pipeline={args.pipeline}, latency {desc.latency_cycles} cycles)")
    print(f"{'step':34} {'median':>12}")
    print(f"{'QONNX -> Verilog':34} {gen_s:10.3f} s")
    print(f"{'Verilator build, cold':34} {cold_s:10.2f} s")
    print(f"{'Verilator build, cached':34} {cached_s:10.3f} s")
    print(f"{'RTL simulation, Verilator model':34} {args.samples / core_s:10.0f} samples/s "
          f"({args.samples} samples, {simulator.threads} threads)")
    print(f"{'RTL simulation, codes in/out':34} {rtl_rate:10.0f} samples/s")
    print(f"{'qonnx execute_onnx (reference)':34} {ref_rate:10.0f} samples/s")
    if ort_s:
        print(f"{'onnxruntime QCDQ':34} {len(x) / ort_s:10.0f} samples/s")
        print(f"RTL sim / onnxruntime: {rtl_rate / (len(x) / ort_s):.2f}x")
    print(f"RTL sim / qonnx reference: {rtl_rate / ref_rate:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
