"""Where GenerateChiselCircuit's seconds go on a real network (issue 13: generation <= 60 s).

    python benchmarks/generation_profile.py [--network cnv_1w1a] [--style folded] [--runs 3]
                                            [--target-ii N] [--profile] [--top 30]

Exports the network (scripts/make_brevitas_example_fixtures.py, seeded random weights), runs
InferLBIR once, then GenerateChiselCircuit (`--style`, the default target or `--target-ii` cycles
per frame) `--runs` times on fresh
copies of the LBIR model, each into a new directory: wall and CPU seconds per run (CPU: this
process's, which a machine shared with other jobs inflates less), their medians, and the
circuit's adders/comparators per second of the median wall time.
`--profile` adds one cProfile run and prints its `--top` functions by cumulative and by own time.
"""
import argparse
import copy
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))


def lbir_model(name, work):
    """The network exported and lowered (InferLBIR) once."""
    import make_brevitas_example_fixtures as examples
    from qonnx_c4ml.io import read_model
    from qonnx_c4ml.transformations import InferLBIR

    path = Path(work) / f"{name}.onnx"
    examples.export(name, path)
    raw = read_model(path)
    start = time.perf_counter()
    model = raw.transform(InferLBIR())
    print(f"InferLBIR: {time.perf_counter() - start:.1f} s", flush=True)
    return model


def generate(model, style, out_dir, target_ii=None):
    """GenerateChiselCircuit on a copy of `model`; returns (wall seconds, CPU seconds of this
    process, the circuit description's stream dict, its adders/comparators: the sum of the
    layers' `adders`, as real_networks.py counts)."""
    from qonnx_c4ml.metadata import circuit_description
    from qonnx_c4ml.transformations import GenerateChiselCircuit

    model = copy.deepcopy(model)
    start, cpu = time.perf_counter(), time.process_time()
    model = model.transform(GenerateChiselCircuit(out_dir, style=style, target_ii=target_ii))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    description = circuit_description(model)
    return seconds, cpu, description.stream, sum(layer.adders for layer in description.layers)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--network", default="cnv_1w1a")
    parser.add_argument("--style", default="folded", choices=["folded", "streaming"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--target-ii", type=int, default=None)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        model = lbir_model(args.network, work)
        print(f"export + InferLBIR: {time.perf_counter() - start:.1f} s", flush=True)
        seconds, cpus, adders = [], [], 0
        for run in range(args.runs):
            s, cpu, stream, adders = generate(model, args.style, Path(work) / f"run{run}", args.target_ii)
            seconds.append(s)
            cpus.append(cpu)
            print(f"run {run}: {s:.1f} s wall, {cpu:.1f} s CPU  (estimated LUTs {stream.get('estimated_luts')}, "
                  f"ii {stream.get('ii_cycles')}, {adders} adders)", flush=True)
        if seconds:
            median = statistics.median(seconds)
            print(f"GenerateChiselCircuit median {median:.1f} s wall ({', '.join(f'{s:.1f}' for s in seconds)}), "
                  f"{statistics.median(cpus):.1f} s CPU over {len(seconds)} runs; {adders / median:,.0f} adders/s")
        if args.profile:
            profile = cProfile.Profile()
            profile.enable()
            generate(model, args.style, Path(work) / "profiled", args.target_ii)
            profile.disable()
            for key in ("cumulative", "tottime"):
                text = io.StringIO()
                pstats.Stats(profile, stream=text).sort_stats(key).print_stats(args.top)
                print(text.getvalue())


if __name__ == "__main__":
    main()
