"""Verilator build time of whole designs through `build_library`, in one run, with ratios.

    python benchmarks/build_time.py [--repeats 3] [--skip-784]

Rows (each build into an empty design cache and an empty ccache, `CCACHE_DIR` a new temp dir):
- demo MLP (64-64-32-32-10 digits, w4a4) on a fresh machine: runtime and precompiled headers
  not prebuilt (empty `XDG_CACHE_HOME`), then with them prebuilt (the same `XDG_CACHE_HOME`);
- `random_mlp([784, 64, 64, 64, 10], bits=2, seed=0)` on a fresh machine and with the runtime
  prebuilt, and a second, different design of the same size (seed=1) with the runtime prebuilt;
- the cached rebuild (same design, same cache: a directory lookup);
- the hls4ml `compile()` anchor of benchmarks/hls4ml_anchor.py, when hls4ml is installed.
Each row: median wall seconds and median CPU seconds (user + system of all processes of the
build, from getrusage, so a loaded machine inflates them less than wall time) of `--repeats`
runs, with the ratios the targets are stated in. Verilog generation is not timed here.
"""
import argparse
import importlib.util
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from jets_flow import environment  # os.environ set (None: removed) for a block

ROOT = Path(__file__).resolve().parents[1]
DEMO_MODEL = ROOT / "src" / "qonnx_c4ml" / "data" / "digits_w4a4.onnx"
BIG_TOPOLOGY = [784, 64, 64, 64, 10]


def generate(model, out_dir):
    """(Verilog files, top, in_bits, out_bits) of `model` (pipeline none, like build_profile)."""
    from qonnx_c4ml.metadata import circuit_description
    from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR

    model = model.transform(InferLBIR()).transform(
        GenerateChiselCircuit(str(out_dir), pipeline="none", max_operators=10**8))
    description = circuit_description(model)
    return ([Path(out_dir) / name for name in description.files], description.top,
            description.inp.width, description.out.width)


def timed_build(design, cache_dir):
    """(wall s, CPU s of all child processes) of one build_library call."""
    from qonnx_c4ml.sim.verilator import build_library

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    build_library(*design, cache_dir=cache_dir)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def cold_build(design, work, xdg_cache):
    """A build into a new design cache with a new, empty ccache; `xdg_cache` holds the runtime."""
    cache = Path(tempfile.mkdtemp(prefix="cache_", dir=work))
    ccache = Path(tempfile.mkdtemp(prefix="ccache_", dir=work))
    with environment(XDG_CACHE_HOME=xdg_cache, CCACHE_DIR=ccache, CCACHE_DISABLE=None):
        result = timed_build(design, cache)
    shutil.rmtree(ccache, ignore_errors=True)
    return result, cache


def measure(label, runs, rows):
    walls, cpus = [r[0] for r in runs], [r[1] for r in runs]
    row = (label, statistics.median(walls), statistics.median(cpus), walls, cpus)
    rows.append(row)
    print(f"{label:58} {row[1]:8.2f} {row[2]:8.2f}   wall {' '.join(f'{w:.1f}' for w in walls)}",
          flush=True)
    return row


def fresh_and_prebuilt(name, design, work, repeats, rows):
    """Rows of `design` on a fresh machine (new XDG_CACHE_HOME each run) and runtime prebuilt."""
    fresh = []
    for _ in range(repeats):
        xdg = Path(tempfile.mkdtemp(prefix="xdg_", dir=work))
        fresh.append(cold_build(design, work, xdg)[0])
    fresh_row = measure(f"{name}: fresh machine (runtime + PCH built too)", fresh, rows)
    prebuilt = [cold_build(design, work, xdg)[0] for _ in range(repeats)]
    return fresh_row, measure(f"{name}: runtime prebuilt", prebuilt, rows), xdg


def hls4ml_anchor_rows(rows, repeats, work):
    """hls4ml compile() of the jets model (benchmarks/hls4ml_anchor.py), or why not."""
    if importlib.util.find_spec("hls4ml") is None:
        print("hls4ml compile() anchor: skipped, hls4ml is not installed "
              "(pip install hls4ml==1.3.0; see benchmarks/hls4ml_anchor.py)")
        return None
    sys.path.insert(0, str(Path(__file__).parent))
    import hls4ml_anchor
    from qonnx_c4ml.reference import execute, load_model
    from qonnx_c4ml.verify import random_inputs

    path = hls4ml_anchor.MODELS["jets"]
    model = load_model(str(path))
    x = random_inputs(model, 100, seed=1)
    reference = execute(model, x)
    runs = []
    for index in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with environment(CCACHE_DISABLE=1):
            row = hls4ml_anchor.run_hls4ml(path, x, reference, 1.0, Path(tempfile.mkdtemp(dir=work)),
                                           1, "Vitis", False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if row["build"] is None:
            print(f"hls4ml compile() anchor failed: {row['failed']}")
            return None
        runs.append((row["build"], after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime))
    return measure("hls4ml compile() (jets)", runs, rows)


def main(argv=None):
    from qonnx_c4ml.io import read_model
    from qonnx_c4ml.models import random_mlp
    from qonnx_c4ml.sim.tools import find_verilator
    import qonnx_c4ml.sim.verilator as verilator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--big-repeats", type=int, default=None,
                        help="repeats of the 784-input builds (default: --repeats)")
    parser.add_argument("--skip-784", action="store_true")
    args = parser.parse_args(argv)
    big_repeats = args.big_repeats or args.repeats

    work = Path(tempfile.mkdtemp(prefix="c4ml_build_time_"))
    tool = find_verilator()
    print(f"{tool.version}; flags {' '.join(verilator.VERILATOR_FLAGS)}; "
          f"{' '.join(verilator.MAKE_OPT_FLAGS)}; cores {len(os.sched_getaffinity(0))}; "
          f"load average at start {os.getloadavg()[0]:.1f}")
    print(f"{'build':58} {'wall s':>8} {'CPU s':>8}   (medians of {args.repeats} runs; "
          f"784-input: {big_repeats})")
    rows = []
    try:
        demo = generate(read_model(str(DEMO_MODEL)), work / "demo")
        demo_fresh, demo_prebuilt, _ = fresh_and_prebuilt("demo MLP 64-64-32-32-10", demo, work,
                                                          args.repeats, rows)
        if not args.skip_784:
            first = generate(random_mlp(BIG_TOPOLOGY, 2, seed=0), work / "mlp784_a")
            second = generate(random_mlp(BIG_TOPOLOGY, 2, seed=1), work / "mlp784_b")
            big_fresh, big_prebuilt, xdg = fresh_and_prebuilt("784-64-64-64-10 2-bit (seed 0)",
                                                              first, work, big_repeats, rows)
            other = measure("second 784 design (seed 1), runtime prebuilt",
                            [cold_build(second, work, xdg)[0] for _ in range(big_repeats)], rows)
            (_, cache) = cold_build(first, work, xdg)
            with environment(XDG_CACHE_HOME=xdg):
                cached = measure("784 cached rebuild (same design, same cache)",
                                 [timed_build(first, cache) for _ in range(3)], rows)
        anchor = hls4ml_anchor_rows(rows, args.repeats, work)
        print("ratios (wall / CPU):")
        print(f"  demo runtime prebuilt / fresh machine: {demo_prebuilt[1] / demo_fresh[1]:.2f} / "
              f"{demo_prebuilt[2] / demo_fresh[2]:.2f}")
        if not args.skip_784:
            print(f"  second 784 design / first 784 on a fresh machine: {other[1] / big_fresh[1]:.2f}"
                  f" / {other[2] / big_fresh[2]:.2f}")
            print(f"  second 784 design / first 784, both runtime prebuilt: "
                  f"{other[1] / big_prebuilt[1]:.2f} / {other[2] / big_prebuilt[2]:.2f}")
            print(f"  784 cached rebuild / 784 runtime prebuilt: {cached[1] / big_prebuilt[1]:.4f}")
        if anchor:
            print(f"  demo runtime prebuilt / hls4ml compile(): {demo_prebuilt[1] / anchor[1]:.2f}")
        print(f"load average at end {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
