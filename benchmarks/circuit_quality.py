"""Circuit quality: our generator against naive Verilog, da4ml and alkaid, same integer weights.

    python benchmarks/circuit_quality.py [--topology 16,64,32,32,5] [--bits 2,4,8] [--prune 0.5]
                                         [--flows generic-fast,xilinx] [--fmax] [--fixtures]
                                         [--jobs 2] [--json OUT]

For every bit width b in `--bits` one QONNX MLP is built with qonnx_c4ml.models.random_mlp
(w = a = input = b bits, power-of-two scales, a fraction `--prune` (default 0.5; 0 = dense)
of the weights set to zero, seed 0, ReLU + Quant after every hidden layer, float last layer);
with `--fixtures` the repo's trained Brevitas jets models tests/fixtures/jets_w{b}a{b}_po2.onnx
are used instead (where present). InferLBIR turns it into QDense nodes (integer weight
matrices + integer thresholds), and the same QDense nodes are then turned into combinational
Verilog four ways (benchmarks/quality_baselines.py):

  ours    GenerateChiselCircuit(pipeline="none"): constants in the logic, CSD shift-add adder
          trees, evenly spaced thresholds as subtract/shift/saturate (src/qonnx_c4ml/chisel)
  naive   plain Verilog: `assign acc_m = w0*x0 + w1*x1 + ...` (constant multipliers as `*`,
          zero weights omitted, 32-bit signed accumulators) and the requantization as the
          comparator count `out_base + (acc >= T0) + (acc >= T1) + ...`
  da4ml   the hls4ml community's distributed-arithmetic library (0.6.0, if importable): each
          layer's constant matrix-vector product traced through da4ml.trace (its CMVM solver
          turns it into an adder graph), the requantization in da4ml's own ops too: evenly
          spaced power-of-two thresholds as its shift + floor + saturate quantizer, any other
          row as a comparator count; Verilog from da4ml.codegen (comb_logic_gen + its static
          shift_adder/... modules) behind a thin wrapper with our top interface. So this is
          the WHOLE network (dense + requantization), not the dense part alone.
  alkaid  da4ml's successor (0.8.x, if importable), traced and emitted the same way.

With `--fmax`, da4ml's own pipelined Verilog (to_pipeline + pipeline_logic_gen, at each of
`--da4ml-cutoffs`) is timed too, next to our pipelined variants.

All tops have the same ports (clock, reset, in_valid, in_data, out_valid, out_data,
combinational). Before anything is synthesized, each variant is built with Verilator and fed
`--samples` (2000) random input codes; its outputs must equal the numpy LBIR reference's
exactly (which our circuit's equal), else the script stops with an error.

Measured per variant: generation time (QONNX/LBIR -> Verilog text on disk; ours includes
InferLBIR; median of `--repeats` runs, time.perf_counter), and for every yosys flow in
`--flows` (qonnx_c4ml.synth.yosys.FLOWS; default generic-fast: synth -flatten -noabc;
abc -fast -lut 6; xilinx: synth_xilinx -flatten -nodsp, LUTs and CARRY4 counted apart) LUTs,
carry cells and logic depth (LUT levels) of the flattened top. With `--fmax`, an ECP5-85F
place and route (qonnx_c4ml.synth.nextpnr: synth_ecp5 -nodsp, nextpnr-ecp5, seed 1) of ours
at pipeline none (inside its `<top>_registered` wrapper, registers at both ends) and at each
of `--fmax-pipelines` (default layer,2; those are verified in simulation too, at their
latency), and of da4ml's and alkaid's Verilog inside the same registered wrapper: Fmax,
critical path, LUT4/CCU2C/FF. Up to `--jobs` tool runs go at once (a jets-sized yosys run
takes ~1 min and ~1.3 GB). Ratios ours/x < 1 mean ours is smaller/shallower/faster, except
Fmax, where > 1 means ours is faster.
"""
import argparse
import concurrent.futures
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from quality_baselines import (TOP, dais_available, lbir_layers, reference, registered_top, simulate,
                               check_equal, write_dais, write_naive)
from quality_tables import report_text

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- helpers

def median_time(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def build_model(topology, bits, fixtures, prune):
    """(ModelWrapper, description) of the QONNX model benchmarked at `bits`."""
    if fixtures:
        from qonnx_c4ml.io import read_model

        path = ROOT / "tests" / "fixtures" / f"jets_w{bits}a{bits}_po2.onnx"
        if not path.exists():
            return None, f"no fixture {path.name}"
        return read_model(str(path)), path.name
    from qonnx_c4ml.models import random_mlp  # the graph tests/qonnx_builder.py builds for these settings

    return (random_mlp(topology, bits, prune=prune, seed=0),
            f"random {'-'.join(map(str, topology))}, {prune:.0%} pruned")


# ----------------------------------------------------------------------------- main

def _generate_ours(model, out_dir, pipeline, repeats):
    from qonnx_c4ml.metadata import circuit_description
    from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR

    seconds, lbir = median_time(
        lambda: model.transform(InferLBIR()).transform(GenerateChiselCircuit(out_dir, pipeline=pipeline)), repeats)
    description = circuit_description(lbir)
    files = [out_dir / f for f in description.files]
    return seconds, lbir, files, description


def run_bits(bits, args, work, pool):
    """Generate and verify every variant at `bits`, then queue its yosys and nextpnr runs."""
    from qonnx_c4ml.synth.nextpnr import place_and_route_ecp5
    from qonnx_c4ml.synth.yosys import synthesize

    model, source = build_model(args.topology, bits, args.fixtures, args.prune)
    if model is None:
        print(f"[{bits} bit] skipped: {source}", flush=True)
        return None
    row = {"bits": bits, "model": source}
    base = work / f"b{bits}"

    ours_s, lbir, ours_files, description = _generate_ours(model, base / "ours", "none", args.repeats)
    layers = lbir_layers(lbir)
    inp, out = layers[0].inp, layers[-1].out
    row["weights"] = int(sum(layer.weights.size for layer in layers))
    row["nonzero_weights"] = int(sum(np.count_nonzero(layer.weights) for layer in layers))
    row["thresholds"] = int(sum(layer.thresholds.size for layer in layers))
    variants = {"ours": {"gen_s": ours_s, "files": ours_files, "latency": 0}}

    if args.no_naive:
        variants["naive"] = {"error": "--no-naive"}
    else:
        naive_s, naive_files = median_time(lambda: write_naive(layers, base / "naive"), args.repeats)
        variants["naive"] = {"gen_s": naive_s, "files": naive_files, "latency": 0}

    for name in ("da4ml", "alkaid"):
        if args.unavailable.get(name):
            variants[name] = {"error": args.unavailable[name]}
            continue
        try:
            lib_s, (lib_files, info) = median_time(lambda: write_dais(name, layers, base / name), args.repeats)
            variants[name] = {"gen_s": lib_s, "files": lib_files, "latency": 0, **info}
        except Exception as error:
            variants[name] = {"error": f"{type(error).__name__}: {error}"[:300]}

    timed = {}  # variant name -> (files, top) placed and routed
    if args.fmax:
        timed["ours"] = (ours_files + [base / "ours" / description.registered_wrapper], f"{TOP}_registered")
        for pipeline in args.fmax_pipelines:
            _, _, files, desc = _generate_ours(model, base / f"ours_p{pipeline}", pipeline, 1)
            variants[f"ours p={pipeline}"] = {"files": files, "latency": desc.latency_cycles, "synth_flows": ()}
            timed[f"ours p={pipeline}"] = (files, TOP)  # registers its inputs and outputs itself
        for name in ("da4ml", "alkaid"):
            if "files" in variants[name]:
                timed[name] = (variants[name]["files"] + [registered_top(inp, out, base / name)],
                               f"{TOP}_registered")
        if "files" in variants["da4ml"]:
            for cutoff in args.da4ml_cutoffs:  # da4ml's own pipelining
                name = f"da4ml c={cutoff:g}"
                try:
                    files, info = write_dais("da4ml", layers, base / f"da4ml_c{cutoff:g}", latency_cutoff=cutoff)
                except Exception as error:
                    variants[name] = {"pnr": {"error": f"{type(error).__name__}: {error}"[:300]}}
                    continue
                variants[name] = {"files": files, "synth_flows": (), **info}
                timed[name] = (files, TOP)

    # Functional check: every variant (pipelined ones too) on the same random input codes.
    rng = np.random.default_rng(1)
    lo, hi = layers[0].in_range
    codes = rng.integers(lo, hi + 1, size=(args.samples, inp.elements))
    expected = reference(layers, codes)
    for name, variant in variants.items():
        if "files" not in variant:
            continue
        got = simulate(variant["files"], layers, codes, work / "verilator_cache", latency=variant["latency"])
        check_equal(name, got, expected)
        variant["verified_samples"] = args.samples
    print(f"[{bits} bit] generated and verified on {args.samples} samples: "
          + ", ".join(n for n, v in variants.items() if "verified_samples" in v), flush=True)

    for name, variant in variants.items():
        if "files" not in variant:
            continue
        variant["futures"] = {
            flow: pool.submit(synthesize, variant["files"], TOP, flow=flow, per_module=False,
                              timeout_s=args.synth_timeout, work_dir=base / f"synth_{flow}_{name.replace(' ', '_')}")
            for flow in variant.get("synth_flows", args.flows)}
    for name, (files, top) in timed.items():
        variants[name]["pnr_future"] = pool.submit(
            place_and_route_ecp5, files, top, freq_mhz=args.freq, timeout_s=args.pnr_timeout,
            work_dir=base / f"pnr_{name.replace(' ', '_').replace('=', '')}")
    row["variants"] = variants
    return row


def collect(row):
    for variant in row["variants"].values():
        variant.pop("files", None)
        variant.pop("synth_flows", None)
        for flow, future in variant.pop("futures", {}).items():
            try:
                report = future.result()
                variant.setdefault("synth", {})[flow] = dict(
                    luts=report.luts, carry=report.carry, depth=report.depth, ffs=report.ffs,
                    synth_s=report.seconds, cells=report.cells)
            except Exception as error:
                variant.setdefault("synth", {})[flow] = {"error": f"{type(error).__name__}: {error}"[:300]}
        future = variant.pop("pnr_future", None)
        if future is not None:
            try:
                report = future.result()
                variant["pnr"] = {k: v for k, v in report.as_dict().items() if k not in ("cells",)}
            except Exception as error:
                variant["pnr"] = {"error": f"{type(error).__name__}: {error}"[:300]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", default="16,64,32,32,5",
                        help="layer widths, input first (default: jets 16,64,32,32,5)")
    parser.add_argument("--bits", default="2,4,8", help="comma-separated w=a=input bit widths")
    parser.add_argument("--prune", type=float, default=0.5,
                        help="fraction of the random weights set to zero (0: dense nets; default 0.5)")
    parser.add_argument("--flows", "--flow", default="generic-fast",
                        help="comma-separated yosys flows (generic-fast, generic, xilinx, ecp5)")
    parser.add_argument("--fmax", action="store_true",
                        help="also place and route on an ECP5-85F (nextpnr): ours at pipeline none "
                             "(registered wrapper) and --fmax-pipelines, da4ml/alkaid registered")
    parser.add_argument("--fmax-pipelines", default="layer,2", help="our pipelined variants timed with --fmax")
    parser.add_argument("--da4ml-cutoffs", default="4,2",
                        help="with --fmax, also da4ml's own pipelining at these latency cutoffs (to_pipeline)")
    parser.add_argument("--freq", type=float, default=100.0, help="nextpnr target frequency [MHz]")
    parser.add_argument("--fixtures", action="store_true",
                        help="use tests/fixtures/jets_w{b}a{b}_po2.onnx (trained Brevitas) instead of random weights")
    parser.add_argument("--samples", type=int, default=2000, help="random input codes for the functional check")
    parser.add_argument("--repeats", type=int, default=3, help="generation timing runs (median)")
    parser.add_argument("--jobs", type=int, default=2, help="concurrent yosys / nextpnr runs")
    parser.add_argument("--synth-timeout", type=float, default=1800)
    parser.add_argument("--pnr-timeout", type=float, default=3600)
    parser.add_argument("--no-naive", action="store_true",
                        help="skip the naive baseline (its yosys runs take the longest: ~9 min for w2a2 xilinx)")
    parser.add_argument("--no-da4ml", action="store_true")
    parser.add_argument("--no-alkaid", action="store_true")
    parser.add_argument("--keep", help="keep the generated Verilog and tool logs in this directory")
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    args.topology = [int(n) for n in args.topology.split(",")]
    if len(args.topology) < 2:
        parser.error("--topology needs at least an input and an output width")
    args.flows = [flow for flow in args.flows.split(",") if flow]
    args.fmax_pipelines = [p if p in ("none", "layer") else int(p) for p in args.fmax_pipelines.split(",") if p]
    args.da4ml_cutoffs = [float(c) for c in args.da4ml_cutoffs.split(",") if c]
    bit_list = [int(b) for b in args.bits.split(",")]
    args.unavailable = {"da4ml": "--no-da4ml" if args.no_da4ml else dais_available("da4ml"),
                        "alkaid": "--no-alkaid" if args.no_alkaid else dais_available("alkaid")}

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="c4ml_quality_"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = []
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for bits in bit_list:
            row = run_bits(bits, args, work, pool)
            if row:
                rows.append(row)
        print("synthesizing" + (" and placing/routing" if args.fmax else "") + " ...", flush=True)
        for row in rows:
            collect(row)
    print(report_text(rows, args))
    print(f"total {time.perf_counter() - start:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"flows": args.flows, "topology": args.topology, "prune": args.prune,
                                               "fixtures": args.fixtures, "rows": rows}, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
