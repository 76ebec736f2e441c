"""Where a Verilator build's seconds go: verilation, the runtime, each file of verilated C++.

    python benchmarks/build_profile.py [--model src/qonnx_c4ml/data/digits_w4a4.onnx]
    python benchmarks/build_profile.py --topology 784,64,64,64,10 --bits 2 [--no-split]

Generates the model's Verilog, verilates it with build_library's flags
(`--no-split`: without `--output-split-cfuncs`) and compiles, one at a time with Verilator's own Makefile and
build_library's optimization levels, the runtime objects and every generated .cpp file
separately (no bundles, no precompiled header, no ccache): CPU seconds per step (user + system
of the step's processes, so a loaded machine inflates them less than wall time) and bytes,
and verilation's slowest stages from Verilator's `--stats` report.
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "src" / "qonnx_c4ml" / "data" / "digits_w4a4.onnx"


def cpu_of(command, cwd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return cpu, time.perf_counter() - start


def verilation_stages(stats_path):
    """[(stage, elapsed seconds)] from Verilator's --stats report, slowest first."""
    stages = []
    for line in stats_path.read_text(encoding="utf-8").splitlines():
        if "Stage, Elapsed time (sec)," in line and "TOTAL" not in line:
            name, seconds = line.split(",")[-1].split()
            stages.append((name, float(seconds)))
    return sorted(stages, key=lambda stage: -stage[1])


def generate(args, out_dir):
    from qonnx_c4ml.io import read_model
    from qonnx_c4ml.models import random_mlp
    from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR
    from qonnx_c4ml.metadata import circuit_description

    if args.topology:
        model = random_mlp([int(w) for w in args.topology.split(",")], args.bits, seed=0)
    else:
        model = read_model(args.model)
    start = time.perf_counter()
    model = model.transform(InferLBIR()).transform(
        GenerateChiselCircuit(out_dir, pipeline="none", max_operators=10**8))
    description = circuit_description(model)
    return description, time.perf_counter() - start


def main(argv=None):
    import qonnx_c4ml.sim.verilator as verilator
    from qonnx_c4ml.sim.tools import _compiler, find_verilator

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--topology")
    parser.add_argument("--bits", type=int, default=2)
    parser.add_argument("--no-split", action="store_true")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="c4ml_profile_"))
    description, gen_s = generate(args, work / "verilog")
    files = [work / "verilog" / name for name in description.files]
    flags = list(verilator.VERILATOR_FLAGS)
    if args.no_split and "--output-split-cfuncs" in flags:
        index = flags.index("--output-split-cfuncs")
        del flags[index:index + 2]
    tool = find_verilator()
    env = tool.environment()
    env["CCACHE_DISABLE"] = "1"
    obj = work / "obj"
    rows = [("generation (Python)", gen_s, gen_s, sum(f.stat().st_size for f in files))]
    cpu, wall = cpu_of([tool.path, "--cc", "--top-module", description.top, "--prefix", "Vp",
                        "-Mdir", str(obj), "--stats", *flags, "-CFLAGS", " ".join(verilator.CXXFLAGS),
                        *map(str, files)], work, env)
    rows.append(("verilation", cpu, wall, sum(p.stat().st_size for p in obj.glob("*.cpp"))))
    make = ["make", "-f", "Vp.mk", f"CXX={_compiler(tool.root)[0]}", *verilator.MAKE_OPT_FLAGS]
    targets = [("runtime verilated.o", "verilated.o"),
               ("runtime verilated_threads.o", "verilated_threads.o")]
    targets += [(p.name, p.stem + ".o") for p in sorted(obj.glob("Vp*.cpp"), key=lambda p: -p.stat().st_size)]
    for label, target in targets:
        cpu, wall = cpu_of(make + [target], obj, env)
        source = obj / (Path(target).stem + ".cpp")
        rows.append((label, cpu, wall, source.stat().st_size if source.is_file() else 0))
    print(f"model: {args.topology or args.model}; flags: {' '.join(flags)}")
    print(f"{'step':64} {'CPU s':>8} {'wall s':>8} {'bytes':>11}")
    for label, cpu, wall, size in rows:
        print(f"{label[:64]:64} {cpu:8.2f} {wall:8.2f} {size:11,}")
    stages = verilation_stages(obj / "Vp__stats.txt")
    print("verilation's slowest stages (s): " + ", ".join(f"{name} {seconds:.2f}"
                                                        for name, seconds in stages[:6]))
    model_cpu = sum(cpu for label, cpu, _, _ in rows[2:] if not label.startswith("runtime"))
    print(f"{'all model files (serial)':64} {model_cpu:8.2f}")
    print(f"load average {os.getloadavg()[0]:.1f}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
