"""Folding: the jets MLP with every dense layer folded by R (style="folded", chisel/fold/).

    python benchmarks/folding.py [--model tests/fixtures/jets_w2a2_po2.onnx] [--reuse 1,2,4,8]
                                 [--samples 1000] [--flow generic-fast] [--json OUT]
                                 [--plot docs/folding_jets_luts_vs_ii.png]
    python benchmarks/folding.py --chooser      # max_luts chooser: time and LUT-model error

The plot (matplotlib) puts yosys LUTs and the estimated LUTs against the simulated II, the
fully parallel circuit as the anchor at II 1.  `--chooser` runs no yosys and no simulation: for
the jets fixture and the LFC-size binary MLP (random_mlp 784-1024-1024-1024-10, 1 bit) it
times GenerateChiselCircuit(style="folded", max_luts=N) against the chooser alone
(choose.choose_folding on estimate.DenseLutModel), and compares the model with the exact
per-layer estimated_luts of the generated circuit.

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


def plot_title(model_name, flow, samples):
    return f"{model_name}: LUTs vs II, yosys {flow}\n(every point RTL == qonnx on {samples} samples)"


def plot(rows, path, title):
    """LUTs (yosys and estimated) against the simulated II, log2 II axis; the parallel anchor marked."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folded = [row for row in rows if row["R"] != "parallel"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot([r["ii"] for r in folded], [r["yosys_luts"] for r in folded], "o-", label="yosys LUTs (folded)")
    ax.plot([r["ii"] for r in folded], [r["estimated_luts"] for r in folded], "s--", label="estimated LUTs (folded)")
    for row in folded:
        ax.annotate(f"R={row['R']}", (row["ii"], row["yosys_luts"]), textcoords="offset points", xytext=(4, 6),
                    fontsize=8)
    for row in rows:
        if row["R"] == "parallel":
            ax.plot([row["ii"]], [row["yosys_luts"]], "k*", markersize=11, label="yosys LUTs (fully parallel)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted({row["ii"] for row in rows}))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xlabel("II (cycles per sample, simulated)")
    ax.set_ylabel("LUTs")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def lfc_model():
    """The LFC-size binary MLP of the chooser benchmark."""
    from qonnx_c4ml.models import random_mlp

    return random_mlp([784, 1024, 1024, 1024, 10], 1, seed=0)


def chooser(models, budgets):
    """Per model and max_luts budget: generation time, the chooser's own time (the LUT models
    built and the budget search), the II chosen, and the model's error per layer."""
    from qonnx.custom_op.registry import getCustomOp

    from qonnx_c4ml.chisel.fold.choose import choose_folding
    from qonnx_c4ml.lbir.graph import lbir_chain
    from qonnx_c4ml.metadata import circuit_description
    from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR
    from qonnx_c4ml.transformations.generate_folded import lut_models

    for name, raw in models:
        lbir = raw.transform(InferLBIR())
        nodes = [n for n in lbir_chain(lbir) if n.op_type == "QDense"]
        for budget in budgets[name]:
            start = time.perf_counter()
            folding = choose_folding(lut_models(nodes), max_luts=budget)
            choose_s = time.perf_counter() - start
            with tempfile.TemporaryDirectory() as work:
                start = time.perf_counter()
                model = lbir.transform(GenerateChiselCircuit(work, style="folded", max_luts=budget))
                generate_s = time.perf_counter() - start
            stream = circuit_description(model).stream
            layers = stream["folded_layers"]
            modelled = [layer.luts(f["reuse_factor"]) for layer, f in zip(lut_models(nodes), layers)]
            errors = [f"{m / f['estimated_luts'] - 1:+.1%}" for m, f in zip(modelled, layers)]
            print(json.dumps({"model": name, "max_luts": budget, "R": [f["reuse_factor"] for f in layers],
                              "ii": stream["ii_cycles"], "estimated_luts": stream["estimated_luts"],
                              "model_luts": sum(modelled), "model_error_per_layer": errors,
                              "model_error_total": f"{sum(modelled) / stream['estimated_luts'] - 1:+.1%}",
                              "chooser_ii": folding.ii, "choose_s": round(choose_s, 3),
                              "generate_s": round(generate_s, 2),
                              "choose_share": f"{choose_s / generate_s:.1%}",
                              "nodes": [getCustomOp(n).onnx_node.name for n in nodes]}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--reuse", default="1,2,4,8")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--flow", default="generic-fast")
    parser.add_argument("--no-anchor", action="store_true", help="skip the fully parallel anchor row")
    parser.add_argument("--json")
    parser.add_argument("--plot", default=str(REPO / "docs" / "folding_jets_luts_vs_ii.png"),
                        help="LUTs-vs-II png ('' for none)")
    parser.add_argument("--chooser", action="store_true", help="time the max_luts chooser instead (no yosys)")
    args = parser.parse_args()
    from qonnx_c4ml.io import read_model

    raw = read_model(args.model)
    if args.chooser:
        chooser([("jets", raw), ("lfc", lfc_model())],
                {"jets": [20_000, 8_000, 4_000, 2_000], "lfc": [400_000, 150_000, 80_000]})
        return
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
    if args.plot:
        plot(rows, args.plot, plot_title(Path(args.model).name, args.flow, args.samples))
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
