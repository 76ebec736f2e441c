"""BNN-PYNQ CNV 1w1a with folded convolutions (style="folded", chisel/fold/conv.py, issue 13).

    python benchmarks/cnv_folding.py [--plan balanced|lean|both] [--repeat 3] [--rtl-frames 8]
                                     [--rtl-plan balanced|lean|both] [--out FILE]

CNV 1w1a from brevitas_examples.bnn_pynq (random weights, BN statistics calibrated on random
images, exported raw with export_qonnx(dynamo=False): scripts/make_brevitas_example_fixtures.py,
as tests/e2e/test_brevitas_examples.py does), InferLBIR, then GenerateChiselCircuit(
style="folded", reuse_factor=PLAN) with a per-layer R dict: the 3x3 convs stream one pixel
per cycle and compute their output channels over S cycles per window, the dense tail folds.
Printed per layer: R, units G, steps S, output pixels, the layer's cycles per frame
(max(H*W in, S*OH*OW out)), adders and estimated LUTs of its engine (chisel/logic/cost.py
on the lowered netlist + the step counter), line buffer bits; and the totals: generation
time (median of --repeat runs), estimated LUTs, frame II and latency from the description
(the control model), frames/s at 200 MHz = 200e6 / II.  With --rtl-frames N: RTLSim
(Verilator) build time, N random images through qonnx execute_onnx with the RTL node ==
qonnx on the raw export (exact), and the II the stream harness measured (a fresh Verilator
cache unless --keep-cache, so the build is timed).
The unfolded row is the max_operators estimate of the R = 1 circuit (not generated).
"""
import argparse
import importlib.util
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLOCK_HZ = 200e6
CONVS = ["conv_features_1_Conv", "conv_features_4_Conv", "conv_features_8_Conv", "conv_features_11_Conv",
         "conv_features_15_Conv", "conv_features_18_Conv"]
DENSE = ["linear_features_0_MatMul", "linear_features_3_MatMul", "linear_features_6_MatMul"]
# balanced: every layer within ~1,600 cycles per frame (the input alone is 1,024 pixels)
# lean: within ~3,200 cycles, about half the logic
PLANS = {
    "balanced": dict(zip(CONVS + DENSE, [1, 2, 8, 16, 128, 256, 256, 512, 10])),
    "lean": dict(zip(CONVS + DENSE, [1, 4, 16, 32, 256, 256, 512, 512, 10])),
}


def export_cnv(path):
    spec = importlib.util.spec_from_file_location("make_brevitas_example_fixtures",
                                                  REPO / "scripts" / "make_brevitas_example_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.export("cnv_1w1a", path)
    return lambda n, seed: module.sample_inputs("cnv_1w1a", n, seed)


def unfolded_estimate(lbir):
    """max_operators' estimate of the R = 1 circuit (window engines + dense layers unfolded)."""
    from qonnx.custom_op.registry import getCustomOp

    from qonnx_c4ml.lbir.graph import lbir_chain
    from qonnx_c4ml.transformations.generate_circuit import estimate_stream_operators
    from qonnx_c4ml.transformations.generate_folded import estimate

    nodes = lbir_chain(lbir)
    front = [n for n in nodes if n.op_type != "QDense"]
    dense = [n for n in nodes if n.op_type == "QDense"]
    return sum(estimate_stream_operators(getCustomOp(n)) for n in front) + estimate(dense, [1] * len(dense))


def generate(lbir, plan, out_dir, repeat):
    from qonnx_c4ml.transformations import GenerateChiselCircuit

    times, model = [], None
    for k in range(repeat):
        start = time.perf_counter()
        model = lbir.transform(GenerateChiselCircuit(Path(out_dir) / f"run{k}", style="folded", reuse_factor=plan,
                                                     max_operators=2_000_000))
        times.append(time.perf_counter() - start)
    return model, times


def layer_rows(description):
    from qonnx_c4ml.tables import text_lines

    rows = [("layer", "op", "in CxHxW", "out CxHxW", "R", "units", "steps", "out px", "cycles/frame", "adders",
             "est. LUTs", "lb bits", "read mux LUTs*")]  # *: geometry.read_mux_luts, a formula
    for layer in description.stream["layers"]:
        _, oh, ow = layer["out_shape"]
        rows.append((layer["name"], layer["op_type"], "x".join(map(str, layer["in_shape"])),
                     "x".join(map(str, layer["out_shape"])), str(layer["reuse_factor"]), str(layer["units"]),
                     str(layer["steps"]), str(oh * ow), str(layer["ii_cycles"]), str(layer["adders"]),
                     str(layer["estimated_luts"]), str(layer["line_buffer_bits"]), str(layer["read_mux_luts"])))
    for layer in description.stream["folded_layers"]:
        rows.append((layer["node"], "QDense", str(layer["inputs"]), str(layer["rows"]), str(layer["reuse_factor"]),
                     str(layer["units"]), str(layer["steps"]), "1", str(layer["steps"]), str(layer["adders"]),
                     str(layer["estimated_luts"]), "0", "0"))
    return text_lines(rows)


def rtl_run(raw, model, inputs):
    from qonnx.custom_op.registry import getCustomOp

    from qonnx_c4ml.reference import execute
    from qonnx_c4ml.transformations import RTLSim

    start = time.perf_counter()
    rtl = model.transform(RTLSim())
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    got = execute(rtl, inputs)
    run_s = time.perf_counter() - start
    exact = bool(np.array_equal(got, execute(raw, inputs)))
    stats = getCustomOp(next(n for n in rtl.graph.node if n.op_type == "RTLCircuit")).run_statistics()
    return build_s, run_s, exact, stats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", default="both", choices=sorted(PLANS) + ["both"])
    parser.add_argument("--repeat", type=int, default=3, help="generation runs (the median is printed)")
    parser.add_argument("--rtl-frames", type=int, default=0, help="images through Verilator (0: no RTL run)")
    parser.add_argument("--rtl-plan", default="both", choices=sorted(PLANS) + ["both"])
    parser.add_argument("--keep-cache", action="store_true",
                        help="use the user's Verilator build cache (default: a fresh one, so builds are timed)")
    parser.add_argument("--out", type=Path, default=None, help="also write the output to this file")
    args = parser.parse_args()

    from qonnx_c4ml.io import read_model
    from qonnx_c4ml.metadata import circuit_description
    from qonnx_c4ml.transformations import InferLBIR

    lines = []

    def say(text=""):
        print(text, flush=True)
        lines.append(text)

    with tempfile.TemporaryDirectory() as work:
        if not args.keep_cache:  # a fresh Verilator cache: the build time is a real build
            os.environ["XDG_CACHE_HOME"] = str(Path(work) / "cache")
        path = Path(work) / "cnv_1w1a.onnx"
        sample_inputs = export_cnv(path)
        raw = read_model(path)
        start = time.perf_counter()
        lbir = raw.transform(InferLBIR())
        say(f"BNN-PYNQ CNV 1w1a (random weights, export_qonnx dynamo=False), InferLBIR {time.perf_counter() - start:.1f} s")
        say(f"unfolded (R = 1 everywhere): max_operators estimate {unfolded_estimate(lbir):,} adders/comparators "
            "(not generated)")
        for name in (sorted(PLANS) if args.plan == "both" else [args.plan]):
            plan = PLANS[name]
            model, times = generate(lbir, plan, Path(work) / name, args.repeat)
            description = circuit_description(model)
            ii = description.stream["ii_cycles"]
            say()
            say(f"plan {name}: reuse_factor = {plan}")
            for line in layer_rows(description):
                say(line)
            say(f"generation {statistics.median(times):.2f} s (median of {len(times)}: "
                + ", ".join(f"{t:.2f}" for t in times) + ")")
            mux = description.stream["read_mux_luts"]
            say(f"estimated LUTs {description.stream['estimated_luts']:,}: window engines + folded dense units "
                f"(chisel/logic/cost.py) {description.stream['estimated_luts'] - mux:,} + line buffer read muxes "
                f"{mux:,} (*formula, chisel/stream/geometry.read_mux_luts); line buffers "
                f"{description.stream['line_buffer_bits']:,} bits (registers, not LUTs)")
            say(f"frame II {ii} cycles (description; rate bound {description.stream['ii_bound_cycles']}), latency "
                f"{description.latency_cycles} cycles -> {CLOCK_HZ / ii:,.0f} frames/s at 200 MHz")
            if args.rtl_frames and args.rtl_plan in (name, "both"):
                x = sample_inputs(args.rtl_frames, 21)
                build_s, run_s, exact, stats = rtl_run(raw, model, x)
                say(f"RTL (Verilator): build {build_s:.0f} s, {args.rtl_frames} images in {run_s:.1f} s, exact vs qonnx "
                    f"on the raw export: {exact}; measured II {stats['ii']} cycles, latency {stats['latency']} "
                    f"-> {CLOCK_HZ / stats['ii']:,.0f} frames/s at 200 MHz")
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
