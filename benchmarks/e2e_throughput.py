"""End-to-end RTL simulation throughput against the float anchors, measured in one run.

    python benchmarks/e2e_throughput.py [--samples 100000] [--images 1000] [--repeats 5] [--no-stream]

jets (tests/fixtures/jets_w4a4_po2.onnx, `--samples` inputs from verify.random_inputs):
- anchors: qonnx `execute_onnx` on a model already re-batched to the batch (the per-call
  ChangeBatchSize left out, so the anchor is as fast as qonnx gets) and onnxruntime on the QCDQ
  form (session built once, graph optimizations off as in verify.run_qcdq);
- `Circuit(x)` end to end (host quantizer + RTL + dequantization through execution.run_model),
  `Circuit.run_codes` (integer codes in and out), the Verilator model alone
  (CircuitSimulator.run_packed on words packed beforehand), on all cores and on one;
- where one `Circuit(x)` call spends its time: each node of the circuit model (as
  execution.run_node runs it, sanitization excluded), and the C++ run inside the RTL node;
- that Circuit(x) equals execute_onnx bit for bit.
Streaming MNIST (tests/fixtures/cnn/mnist_cnn_w4a4_po2.onnx, style="streaming", the shipped
test digits tiled to `--images`): Circuit(x) images/s, cycles per image, and the same anchors.
Medians of `--repeats`; samples/s and the ratio to each anchor, wall and CPU milliseconds of
this process (all threads). The machine is shared: the load average is printed; read the
ratios and the CPU time.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
JETS = ROOT / "tests" / "fixtures" / "jets_w4a4_po2.onnx"
MNIST = ROOT / "tests" / "fixtures" / "cnn" / "mnist_cnn_w4a4_po2.onnx"
DIGITS = ROOT / "tests" / "fixtures" / "cnn" / "mnist_test.npz"


class Seconds(float):
    """Median wall seconds, with the median CPU seconds of this process (all its threads) in
    `cpu`: on a shared machine the CPU time is what the other jobs do not change."""

    def __new__(cls, wall, cpu):
        value = super().__new__(cls, wall)
        value.cpu = cpu
        return value


def median_time(fn, repeats):
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - start)
    return Seconds(statistics.median(walls), statistics.median(cpus)), result


def anchors(model, x, repeats):
    """{name: (seconds, outputs)} of qonnx (pre-batched) and onnxruntime QCDQ on `x`."""
    from qonnx.core.onnx_exec import execute_onnx

    from qonnx_c4ml.reference import with_batch

    batched = with_batch(model, x.shape[0])
    feed = {batched.graph.input[0].name: x.astype(np.float32)}
    out_name = batched.graph.output[0].name
    found = {"qonnx execute_onnx (batched)": median_time(lambda: execute_onnx(batched, feed)[out_name], repeats)}
    try:
        from qonnx_c4ml.verify import qcdq_session

        session, name = qcdq_session(model, x.shape[0])
    except (ValueError, ImportError) as error:
        print(f"onnxruntime QCDQ: skipped ({error})")
        return found
    x32 = x.astype(np.float32)
    found["onnxruntime QCDQ"] = median_time(lambda: session.run(None, {name: x32})[0], repeats)
    return found


def node_times(circuit, x, repeats):
    """[(label, median seconds)] of each node of one Circuit(x) call; the RTL node's C++ run apart."""
    import qonnx_c4ml.sim.verilator as verilator
    from qonnx_c4ml.reference import with_batch

    try:  # as Circuit(x) runs each node (before run_node existed: qonnx's execute_node)
        from qonnx_c4ml.execution import run_node
    except ImportError:
        from qonnx.core.onnx_exec import execute_node

        def run_node(node, context, graph, opsets):
            execute_node(node, context, graph, opsets.get(node.domain, 11))

    model = with_batch(circuit.model, x.shape[0])
    opsets = model.get_opset_imports()
    per_node = {}
    core = []
    # (absent before the driver packed codes: run this file against an older src/ to compare)
    chunk = getattr(verilator.CircuitSimulator, "_run_codes_chunk", None)

    def timed_chunk(self, *args):  # the C++ call of one thread (pack, eval, unpack)
        start = time.perf_counter()
        stats = chunk(self, *args)
        core.append(time.perf_counter() - start)
        return stats

    if chunk is not None:
        verilator.CircuitSimulator._run_codes_chunk = timed_chunk
    try:
        for _ in range(repeats):
            context = model.make_empty_exec_context()
            context[model.graph.input[0].name] = x.astype(np.float32)
            for node in model.graph.node:
                start = time.perf_counter()
                run_node(node, context, model.graph, opsets)
                per_node.setdefault(f"{node.op_type} {node.name}", []).append(time.perf_counter() - start)
    finally:
        if chunk is not None:
            verilator.CircuitSimulator._run_codes_chunk = chunk
    rows = [(label, statistics.median(times)) for label, times in per_node.items()]
    if core:
        threads = len(core) // repeats
        rows.append((f"  of which the C++ run (pack+eval+unpack), longest of {threads} threads",
                     statistics.median(max(core[i:i + threads]) for i in range(0, len(core), threads))))
    return rows


def print_rates(title, n, unit, rows, anchor_rows):
    print(title)
    rates = {}
    for label, seconds in anchor_rows + rows:
        rates[label] = n / seconds
        print(f"  {label:48} {n / seconds:12,.0f} {unit}/s   ({seconds * 1e3:8.1f} ms, CPU {seconds.cpu * 1e3:8.1f} ms)")
    for label, _ in rows:
        ratios = ", ".join(f"{rates[label] / rates[anchor]:.2f}x {anchor}" for anchor, _ in anchor_rows)
        print(f"  {label}: {ratios}")


def jets(args):
    from qonnx_c4ml.circuit import Circuit
    from qonnx_c4ml.io import read_model
    from qonnx_c4ml.rtlsim.simulators import simulator_for
    from qonnx_c4ml.sim import CircuitSimulator, pack_codes
    from qonnx_c4ml.verify import random_inputs

    model = read_model(JETS)
    circuit = Circuit(JETS, output_dir=tempfile.mkdtemp(prefix="e2e_jets_"))
    desc = circuit.description
    x = random_inputs(model, args.samples, seed=2)
    rng = np.random.default_rng(0)
    lo, hi = (-(1 << (desc.inp.bits - 1)), (1 << (desc.inp.bits - 1)) - 1) if desc.inp.signed \
        else (0, (1 << desc.inp.bits) - 1)
    codes = rng.integers(lo, hi + 1, size=(args.samples, desc.inp.elements))
    words = pack_codes(codes, desc.inp.bits, desc.inp.signed)
    simulator = simulator_for(circuit.op.get_nodeattr("library"), desc)
    circuit(x[:8])
    # the circuit first: the anchors leave BLAS / onnxruntime worker threads spinning a while
    e2e_s, y = median_time(lambda: circuit(x), args.repeats)
    rows = [("Circuit(x) end to end", e2e_s),
            ("Circuit.run_codes", median_time(lambda: circuit.run_codes(codes), args.repeats)[0]),
            ("Verilator model alone (run_packed)", median_time(lambda: simulator.run_packed(words), args.repeats)[0])]
    with CircuitSimulator(circuit.op.get_nodeattr("library"), desc.inp.width, desc.out.width,
                          desc.latency_cycles, threads=1) as one:
        rows.append(("Verilator model alone, 1 thread", median_time(lambda: one.run_packed(words), args.repeats)[0]))
    breakdown = node_times(circuit, x, args.repeats)
    found = anchors(model, x, args.repeats)
    anchor_rows = [(label, seconds) for label, (seconds, _) in found.items()]
    adders = sum(layer.adders for layer in desc.layers)
    print_rates(f"jets w4a4 ({JETS.name}: {adders:,} adders, latency {desc.latency_cycles}), "
                f"{args.samples:,} samples, {simulator.threads} threads, medians of {args.repeats}",
                args.samples, "samples", rows, anchor_rows)
    reference = found["qonnx execute_onnx (batched)"][1]
    print(f"  Circuit(x) == execute_onnx bit for bit: {np.array_equal(y, reference)}")
    print(f"  one Circuit(x) call, per node (median of {args.repeats}; sanitization excluded):")
    for label, seconds in breakdown:
        print(f"    {label:70} {seconds * 1e3:8.1f} ms")
    return np.array_equal(y, reference)


def streaming(args):
    from qonnx_c4ml.circuit import Circuit
    from qonnx_c4ml.io import read_model

    digits = np.load(DIGITS)
    x = digits["x_uint8"].astype(np.float32) / digits["divisor"]
    x = np.concatenate([x] * -(-args.images // len(x)))[:args.images]
    model = read_model(MNIST)
    circuit = Circuit(MNIST, output_dir=tempfile.mkdtemp(prefix="e2e_mnist_"), style="streaming")
    circuit(x[:2])
    e2e_s, y = median_time(lambda: circuit(x), args.repeats)
    stats = circuit.op.run_statistics()
    found = anchors(model, x, args.repeats)
    anchor_rows = [(label, seconds) for label, (seconds, _) in found.items()]
    print_rates(f"streaming MNIST CNN ({MNIST.name}, style {circuit.description.style}), {args.images:,} images, "
                f"medians of {args.repeats}", args.images, "images", [("Circuit(x) end to end", e2e_s)], anchor_rows)
    print(f"  cycles {stats['cycles']:,} ({stats['cycles'] / args.images:.0f} per image, ii {stats['ii']}), "
          f"{stats['cycles'] / e2e_s / 1e6:.2f} M cycles/s")
    same = np.array_equal(y, found["qonnx execute_onnx (batched)"][1])
    print(f"  Circuit(x) == execute_onnx bit for bit: {same}")
    return same


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-stream", action="store_true", help="jets only")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    same = jets(args)
    if not args.no_stream:
        same = streaming(args) and same
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
