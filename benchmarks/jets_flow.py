"""The user-loop benchmark: generation, Verilator build and simulation speed, with anchors.

    python benchmarks/jets_flow.py [--model tests/fixtures/jets_w4a4_po2.onnx] [--samples 1000000]
    python benchmarks/jets_flow.py --topology 784,64,64,64,10 --bits 2 --samples 20000   # random_mlp

Measures in one run, on one model (default: the repo's Brevitas jets 16-64-32-32-5 w4a4 fixture,
or `qonnx_c4ml.models.random_mlp(topology, bits)`), medians of `--repeats` runs (default 3):
- QONNX -> Verilog (InferLBIR + GenerateChiselCircuit) and adders generated per second
- Verilator build, each repeat into an empty design cache with ccache off (CCACHE_DISABLE=1):
  "fresh machine" (empty XDG_CACHE_HOME, so the Verilator runtime is compiled too) and
  "runtime prebuilt" (the runtime objects of sim/cxx.py exist: a second, different design);
  then the cached rebuild. Wall seconds, and CPU seconds of all build processes (robust to a
  loaded machine: on a busy shared box read those, and ratios).
- RTL simulation for `--samples` vectors: the Verilator model on packed words (all cores),
  `Circuit.run_codes` (integer codes in and out) and `Circuit(x)` end to end (host quantizer
  + RTL + dequantization, qonnx_c4ml.execution)
- anchors measured here too: qonnx `execute_onnx` (batched reference) and onnxruntime (QCDQ
  form) on a `--anchor-samples` batch, and the ratios.  (hls4ml: benchmarks/hls4ml_anchor.py.)
"""
import argparse
import contextlib
import os
import resource
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


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def environment(**values):
    """os.environ with `values` set (None: removed) for the block."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = str(value)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def timed_build(build, work, fresh_machine):
    """(wall s, CPU s of the build's processes) of one cold build into a new cache dir."""
    cache = Path(tempfile.mkdtemp(prefix="cache_", dir=work))
    xdg = str(Path(tempfile.mkdtemp(prefix="xdg_", dir=work))) if fresh_machine else None
    with environment(CCACHE_DISABLE="1", XDG_CACHE_HOME=xdg):
        cpu, start = children_cpu(), time.perf_counter()
        build(cache)
        return time.perf_counter() - start, children_cpu() - cpu


def load(args):
    from qonnx_c4ml.io import read_model
    from qonnx_c4ml.models import random_mlp

    if args.topology:
        topology = [int(width) for width in args.topology.split(",")]
        return lambda: random_mlp(topology, args.bits, prune=args.prune, seed=0), \
            f"random_mlp({topology}, bits={args.bits}, prune={args.prune})"
    return lambda: read_model(args.model), args.model


def measure_builds(generated, work, repeats):
    from qonnx_c4ml.transformations import RTLSim

    def build(cache):
        return generated.transform(RTLSim(cache_dir=cache, timeout_s=7200))

    fresh = [timed_build(build, work, fresh_machine=True) for _ in range(repeats)]
    timed_build(build, work, fresh_machine=False)  # makes sure this machine's runtime exists
    prebuilt = [timed_build(build, work, fresh_machine=False) for _ in range(repeats)]
    cache = work / "cache"
    simmed = build(cache)
    cached_s, simmed = median_time(lambda: build(cache), repeats)
    medians = [tuple(statistics.median(values) for values in zip(*runs)) for runs in (fresh, prebuilt)]
    return medians[0], medians[1], cached_s, simmed


def measure_simulation(circuit, model, args):
    from qonnx_c4ml.rtlsim.simulators import simulator_for
    from qonnx_c4ml.sim import pack_codes
    from qonnx_c4ml.reference import execute
    from qonnx_c4ml.verify import random_inputs

    desc = circuit.description
    rng = np.random.default_rng(0)
    lo, hi = (-(1 << (desc.inp.bits - 1)), (1 << (desc.inp.bits - 1)) - 1) if desc.inp.signed \
        else (0, (1 << desc.inp.bits) - 1)
    codes = rng.integers(lo, hi + 1, size=(args.samples, desc.inp.elements))
    words = pack_codes(codes, desc.inp.bits, desc.inp.signed)
    simulator = simulator_for(circuit.op.get_nodeattr("library"), desc)
    rates = {}
    rates["core"] = args.samples / median_time(lambda: simulator.run_packed(words), args.repeats)[0]
    rates["codes"] = args.samples / median_time(lambda: circuit.run_codes(codes), args.repeats)[0]
    x = random_inputs(model, args.samples, seed=2)
    circuit(x[:8])
    rates["e2e"] = args.samples / median_time(lambda: circuit(x), args.repeats)[0]
    x_anchor = x[:args.anchor_samples]
    rates["qonnx"] = len(x_anchor) / median_time(lambda: execute(model, x_anchor), args.repeats)[0]
    same = np.array_equal(circuit(x_anchor), execute(model, x_anchor))
    return rates, simulator.threads, same, x_anchor


def anchor_ort(model, x, repeats):
    from qonnx_c4ml.verify import run_qcdq

    try:
        return len(x) / median_time(lambda: run_qcdq(model, x), repeats)[0]
    except ValueError as error:
        print(f"onnxruntime QCDQ: skipped ({error})")
        return None


def report(name, args, gen, builds, sim):
    gen_s, adders, latency = gen
    fresh, prebuilt, cached_s = builds
    rates, threads, same, ort_rate = sim
    print(f"model: {name} (pipeline={args.pipeline}, latency {latency} cycles, {adders:,} adders)")
    print(f"medians of {args.repeats} runs; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the end")
    print(f"{'QONNX -> Verilog':44} {gen_s:10.3f} s   ({adders / gen_s:,.0f} adders/s)")
    print(f"{'Verilator build, fresh machine':44} {fresh[0]:10.2f} s   (CPU {fresh[1]:.1f} s)")
    print(f"{'Verilator build, runtime prebuilt':44} {prebuilt[0]:10.2f} s   (CPU {prebuilt[1]:.1f} s, "
          f"{prebuilt[0] / fresh[0]:.0%} of fresh)")
    print(f"{'Verilator build, cached rebuild':44} {cached_s:10.3f} s")
    print(f"{'RTL simulation, Verilator model':44} {rates['core']:10.0f} samples/s "
          f"({args.samples} samples, {threads} threads)")
    print(f"{'RTL simulation, Circuit.run_codes':44} {rates['codes']:10.0f} samples/s")
    print(f"{'RTL simulation, Circuit(x) end to end':44} {rates['e2e']:10.0f} samples/s")
    print(f"{'qonnx execute_onnx (batched reference)':44} {rates['qonnx']:10.0f} samples/s "
          f"({args.anchor_samples} samples)")
    if ort_rate:
        print(f"{'onnxruntime QCDQ':44} {ort_rate:10.0f} samples/s")
        print(f"Circuit(x) / onnxruntime: {rates['e2e'] / ort_rate:.2f}x")
    print(f"Circuit(x) / qonnx: {rates['e2e'] / rates['qonnx']:.1f}x; run_codes / qonnx: "
          f"{rates['codes'] / rates['qonnx']:.1f}x")
    print(f"Circuit(x) == execute_onnx on the anchor batch: {same}")


def main(argv=None):
    from qonnx_c4ml.circuit import Circuit
    from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--topology", help="random_mlp widths, input first, e.g. 784,64,64,64,10")
    parser.add_argument("--bits", type=int, default=2)
    parser.add_argument("--prune", type=float, default=0.0)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--anchor-samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pipeline", default="none", choices=["none", "layer"])
    args = parser.parse_args(argv)

    make_model, name = load(args)
    model = make_model()
    work = Path(tempfile.mkdtemp(prefix="c4ml_bench_"))
    gen_s, generated = median_time(
        lambda: make_model().transform(InferLBIR()).transform(
            GenerateChiselCircuit(work / "verilog", pipeline=args.pipeline, max_operators=10**8)), args.repeats)
    fresh, prebuilt, cached_s, simmed = measure_builds(generated, work, args.repeats)
    circuit = Circuit(simmed)
    desc = circuit.description
    rates, threads, same, x_anchor = measure_simulation(circuit, model, args)
    ort_rate = anchor_ort(model, x_anchor, args.repeats)
    report(name, args, (gen_s, sum(layer.adders for layer in desc.layers), desc.latency_cycles),
           (fresh, prebuilt, cached_s), (rates, threads, same, ort_rate))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
