"""Folding: the jets MLP with every dense layer folded by R (style="folded", chisel/fold/).

    python benchmarks/folding.py [--model tests/fixtures/jets_w2a2_po2.onnx] [--reuse 1,2,4,8]
                                 [--samples 1000] [--flow generic-fast] [--json OUT]

For each R: GenerateChiselCircuit(style="folded", reuse_factor=R) (generation time), the
estimated LUTs and flip-flops (chisel/logic/cost.py on the unit netlists plus the stage
control and registers, generate_folded's description), RTLSim on `--samples` random inputs
through qonnx execute_onnx against qonnx on the raw model (exact: same float outputs on
every sample), the II and latency the stream harness measured (cycles between frames, first
input to its output), and yosys `--flow` LUTs, FFs and depth of the flattened top
(qonnx_c4ml.synth.yosys.synthesize, per_module=False).  The anchor row is the fully
parallel circuit (style="parallel", pipeline="none": II 1 by construction, combinational).
Samples/s at 200 MHz = 200e6 / II.  One yosys run at a time (~1 min each on jets).
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "tests" / "fixtures" / "jets_w2a2_po2.onnx"


def measure(raw, reuse_factor, samples, flow, work):
    """One row: generation, estimates, exactness, simulated II/latency, yosys numbers."""
    from qonnx.custom_op.registry import getCustomOp

    from qonnx_c4ml.metadata import circuit_description, verilog_dir
    from qonnx_c4ml.reference import execute
    from qonnx_c4ml.synth.yosys import synthesize
    from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim
    from qonnx_c4ml.verify import random_inputs

    out_dir = Path(work) / (f"folded_r{reuse_factor}" if reuse_factor else "parallel")
    start = time.perf_counter()
    style = dict(style="folded", reuse_factor=reuse_factor) if reuse_factor else dict(style="parallel")
    model = raw.transform(InferLBIR()).transform(GenerateChiselCircuit(out_dir, **style))
    generate_s = time.perf_counter() - start
    description = circuit_description(model)
    rtl = model.transform(RTLSim())
    x = random_inputs(raw, samples, seed=11)
    exact = bool(np.array_equal(execute(rtl, x), execute(raw, x)))
    stats = getCustomOp(next(n for n in rtl.graph.node if n.op_type == "RTLCircuit")).run_statistics()
    directory = Path(verilog_dir(model))
    synth = synthesize([directory / f for f in description.files], description.top, flow=flow, per_module=False)
    if reuse_factor:
        estimated_luts, estimated_ffs = description.stream["estimated_luts"], description.stream["flip_flops"]
        ii, latency = stats["ii"], stats["latency"]
    else:
        estimated_luts, estimated_ffs = None, 0
        ii, latency = 1, description.latency_cycles
    return {"R": reuse_factor or "parallel", "generate_s": round(generate_s, 2), "estimated_luts": estimated_luts,
            "estimated_ffs": estimated_ffs, "yosys_luts": synth.luts, "yosys_ffs": synth.ffs, "depth": synth.depth,
            "yosys_s": round(synth.seconds, 1), "ii": ii, "latency": latency, "samples": samples, "exact": exact,
            "samples_per_s_200mhz": 200e6 / ii}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--reuse", default="1,2,4,8")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--flow", default="generic-fast")
    parser.add_argument("--no-anchor", action="store_true", help="skip the fully parallel anchor row")
    parser.add_argument("--json")
    args = parser.parse_args()
    from qonnx_c4ml.io import read_model

    raw = read_model(args.model)
    factors = ([] if args.no_anchor else [0]) + [int(r) for r in args.reuse.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="qonnx_c4ml_folding_") as work:
        for reuse_factor in factors:
            rows.append(measure(raw, reuse_factor, args.samples, args.flow, work))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{Path(args.model).name}, yosys {args.flow}")
    header = ("R", "est. LUTs", "yosys LUTs", "est. FFs", "yosys FFs", "depth", "II", "latency", "samples/s @200MHz",
              f"exact ({args.samples})")
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(str(v) for v in (row["R"], row["estimated_luts"], row["yosys_luts"], row["estimated_ffs"],
                                          row["yosys_ffs"], row["depth"], row["ii"], row["latency"],
                                          f"{row['samples_per_s_200mhz']:.3g}", row["exact"])))
    folded = [row for row in rows if row["R"] != "parallel"]
    falling = all(a["yosys_luts"] > b["yosys_luts"] for a, b in zip(folded, folded[1:]))
    print(f"yosys LUTs fall with R: {falling}; all exact: {all(row['exact'] for row in rows)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
