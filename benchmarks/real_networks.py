"""Whole real networks in the folded or streaming style: Brevitas' own example definitions
exported raw, generated, built in Verilator and run against qonnx (issue 13's "done when").

    python benchmarks/real_networks.py [--network lfc_1w1a] [--style folded|streaming]
                                       [--target-ii 256 | --reuse 256 | --reuse '{"node": R}']
                                       [--weight-memory auto|always|never] [--samples 20]
                                       [--timeout 3600] [--json OUT]

Per network: the export (scripts/make_brevitas_example_fixtures.py, seeded random weights,
`export_qonnx(..., dynamo=False)`, no cleanup), InferLBIR + GenerateChiselCircuit(style=...)
(generation seconds, estimated LUTs/FFs and weight-ROM bits where the style estimates them, the per-layer
table; `--weight-memory` is GenerateChiselCircuit's weight_memory), RTLSim (Verilator build:
wall seconds and the CPU seconds of its child processes, with an empty build cache and ccache
off: a cold build of the design, the Verilator runtime prebuilt once per machine as usual),
`execute_onnx` on `--samples` random inputs of the raw model's kind against qonnx's
`execute_onnx` on the raw model and against the exact reference (qonnx_c4ml.exact, as `verify`
does: float-scale networks' float32 reference is itself off by rounding, so "exact" means the
RTL's every output on the exact reference's code, half an output LSB; bit-equal float32 is
reported beside it, and the reference's own noise), and the II and latency the harness
measured in cycles (not a formula); samples/s at 200 MHz = 200e6 / II.
"""
import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))


def cpu_seconds_of_children():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def exact_codes(raw, x, lbir_model, rtl_out):
    """{"rtl": fraction of the RTL outputs `rtl_out`, "qonnx": of qonnx float32 outputs, on the exact
    reference's code} (within half an output LSB, comparison.output_lsbs)."""
    from qonnx_c4ml.comparison import output_lsbs
    from qonnx_c4ml.exact import exact_reference
    from qonnx_c4ml.reference import execute_context
    from qonnx_c4ml.transformations.prepare import prepare_for_lowering

    prepared = prepare_for_lowering(raw, None)[0]
    batch, context = execute_context(prepared, x)
    values = exact_reference(batch, context).approx()
    lsb = output_lsbs(lbir_model)
    return {"rtl": float(np.mean(np.abs(values - rtl_out.astype(np.float64)) / lsb < 0.5)),
            "qonnx": float(np.mean(np.abs(values - context[batch.graph.output[0].name].astype(np.float64)) / lsb < 0.5))}


def measure(name, style, folding, samples, timeout_s, work):
    """One network: generation, estimates, Verilator build, exactness, simulated II."""
    import make_brevitas_example_fixtures as examples
    from qonnx.custom_op.registry import getCustomOp

    from qonnx_c4ml.chisel.fold.generate import format_report as format_folded
    from qonnx_c4ml.chisel.stream.generate import format_report as format_stream
    from qonnx_c4ml.io import read_model
    from qonnx_c4ml.metadata import circuit_description
    from qonnx_c4ml.reference import execute
    from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim

    path = Path(work) / f"{name}.onnx"
    examples.export(name, path)
    raw = read_model(path)
    start = time.perf_counter()
    model = raw.transform(InferLBIR()).transform(GenerateChiselCircuit(Path(work) / "verilog", style=style,
                                                                       **folding))
    generate_s = time.perf_counter() - start
    description = circuit_description(model)
    stream = description.stream
    if stream.get("layers"):
        print(format_stream(stream), flush=True)
    if stream.get("folded_layers"):
        print(format_folded({**stream, "layers": stream["folded_layers"]}), flush=True)
    convs = [layer for layer in stream.get("layers", []) if layer.get("weight_form")]
    if convs:  # the streaming table does not show the weight form: one line per conv
        print("conv weight forms (R, steps, form, ROM bits): " + "; ".join(
            f"{layer['name']} {layer['reuse_factor']} {layer['steps']} {layer['weight_form']} {layer['rom_bits']}"
            for layer in convs), flush=True)
    start, cpu = time.perf_counter(), cpu_seconds_of_children()
    rtl = model.transform(RTLSim(cache_dir=Path(work) / "cache", timeout_s=timeout_s))
    build_s, build_cpu_s = time.perf_counter() - start, cpu_seconds_of_children() - cpu
    x = examples.sample_inputs(name, samples, 5)  # the network's own input kind ([0, 1] pixels or normal)
    start = time.perf_counter()
    got = execute(rtl, x)
    rtl_s = time.perf_counter() - start
    want = execute(raw, x)
    exact = exact_codes(raw, x, model, got)
    stats = getCustomOp(next(n for n in rtl.graph.node if n.op_type == "RTLCircuit")).run_statistics()
    return {"network": name, "style": style, "folding": folding, "generate_s": round(generate_s, 1),
            "adders": sum(layer.adders for layer in description.layers),
            "estimated_luts": stream.get("estimated_luts"), "flip_flops": stream.get("flip_flops"),
            "rom_bits": stream.get("rom_bits", 0),
            "verilog_mb": round(sum((Path(work) / "verilog" / f).stat().st_size for f in description.files) / 1e6, 1),
            "build_s": round(build_s, 1), "build_cpu_s": round(build_cpu_s, 1), "rtl_run_s": round(rtl_s, 2),
            "samples": samples, "bit_equal_to_qonnx": bool(np.array_equal(got, want)),
            "exact": bool(exact["rtl"] == 1.0), "rtl_on_exact_code": exact["rtl"],
            "qonnx_float32_on_exact_code": exact["qonnx"],
            "ii": stats["ii"], "latency": stats["latency"], "samples_per_s_200mhz": round(200e6 / stats["ii"])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--network", default="lfc_1w1a", help="a name of scripts/make_brevitas_example_fixtures.py")
    parser.add_argument("--style", default="folded", choices=["folded", "streaming"])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--target-ii", type=int, help="cycles per sample (chooses every layer's R)")
    group.add_argument("--reuse", type=json.loads, help="a reuse factor for every conv and dense layer (an int), "
                       "or a JSON object {LBIR node name: R}")
    parser.add_argument("--weight-memory", default="auto", choices=["auto", "always", "never"],
                        help="style folded: the layers' weight form (chisel/fold/memory.py ROMs or constants)")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=3600, help="Verilator build limit, seconds")
    parser.add_argument("--json", type=Path, help="append the row as one JSON line")
    args = parser.parse_args(argv)
    os.environ["CCACHE_DISABLE"] = "1"  # a cold build: no object from an earlier run of the same design
    # neither: GenerateChiselCircuit's default target (max_luts=DEFAULT_MAX_LUTS)
    folding = {"reuse_factor": args.reuse} if args.reuse else {"target_ii": args.target_ii} if args.target_ii else {}
    folding["weight_memory"] = args.weight_memory
    if args.style == "streaming":
        if args.reuse or args.target_ii or args.weight_memory != "auto":
            parser.error("--reuse/--target-ii/--weight-memory need --style folded")
        folding = {}
    with tempfile.TemporaryDirectory() as work:
        row = measure(args.network, args.style, folding, args.samples, args.timeout, work)
    print(json.dumps(row))
    if args.json:
        with args.json.open("a") as out:
            out.write(json.dumps(row) + "\n")
    return 0 if row["exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
