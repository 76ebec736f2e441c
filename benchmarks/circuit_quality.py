"""Circuit quality: our generator against a naive Verilog baseline and da4ml, same integer weights.

    python benchmarks/circuit_quality.py [--topology 16,64,32,32,5] [--bits 2,4,8]
                                         [--flow generic-fast] [--fixtures] [--jobs 2] [--json OUT]

For every bit width b in `--bits` one QONNX MLP is built with qonnx_c4ml.models.random_mlp
(w = a = input = b bits, power-of-two scales, 50 % of the weights pruned to zero, seed 0,
ReLU + Quant after every hidden layer, float last layer); with `--fixtures` the repo's trained
Brevitas jets models tests/fixtures/jets_w{b}a{b}_po2.onnx are used instead (where present).
InferLBIR turns it into QDense nodes (integer weight matrices + integer thresholds), and the
same QDense nodes are then turned into combinational Verilog three ways:

  ours   GenerateChiselCircuit(pipeline="none"): constants in the logic, CSD shift-add adder
         trees, evenly spaced thresholds as subtract/shift/saturate (src/qonnx_c4ml/chisel)
  naive  plain Verilog written here: `assign acc_m = w0*x0 + w1*x1 + ...` (constant
         multipliers as `*`, zero weights omitted, 32-bit signed accumulators) and the
         requantization as the comparator count `out_base + (acc >= T0) + (acc >= T1) + ...`
  da4ml  the hls4ml community's distributed-arithmetic library (if importable): each layer's
         constant matrix-vector product traced through da4ml.trace (its CMVM solver turns it
         into an adder graph), the requantization expressed in da4ml too: evenly spaced
         power-of-two thresholds as da4ml's own shift + floor + saturate quantizer, any other
         row as a comparator count; emitted with da4ml.codegen's Verilog generator
         (comb_logic_gen + its static shift_adder/... modules) behind a thin wrapper with our
         top interface. So this is the WHOLE network (dense + requantization), not the dense
         part alone.

All three tops have the same ports (clock, reset, in_valid, in_data, out_valid, out_data,
combinational). Before anything is synthesized, each baseline is built with Verilator and fed
`--samples` (2000) random input codes; its outputs must equal our circuit's and the numpy
LBIR reference's exactly, else the script stops with an error.

Measured per variant: generation time (QONNX/LBIR -> Verilog text on disk; ours includes
InferLBIR; median of `--repeats` runs, time.perf_counter), and yosys `--flow` (default
generic-fast: synth -flatten -noabc; abc -fast -lut 6) LUTs and logic depth (LUT levels) of
the flattened top, via qonnx_c4ml.synth.yosys.synthesize(per_module=False). Up to `--jobs`
yosys runs go at once (each jets-sized run takes ~1 min and ~1.3 GB). Ratios ours/naive and
ours/da4ml < 1 mean ours is smaller/shallower/faster.
"""
import argparse
import concurrent.futures
import json
import math
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TOP = "c4ml_top"


# ----------------------------------------------------------------------------- helpers

def median_time(fn, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def build_model(topology, bits, fixtures):
    """(ModelWrapper, description) of the QONNX model benchmarked at `bits`."""
    if fixtures:
        from qonnx_c4ml.io import read_model

        path = ROOT / "tests" / "fixtures" / f"jets_w{bits}a{bits}_po2.onnx"
        if not path.exists():
            return None, f"no fixture {path.name}"
        return read_model(str(path)), path.name
    from qonnx_c4ml.models import random_mlp  # the graph tests/qonnx_builder.py builds for these settings

    return random_mlp(topology, bits, prune=0.5, seed=0), "random " + "-".join(map(str, topology))


class Layer:
    """What the baselines need from one QDense node."""

    def __init__(self, op):
        from qonnx_c4ml.chisel.generator import port_for_dtype
        from qonnx_c4ml.lbir.dtypes import datatype_range

        self.weights = op.weight_codes()
        self.thresholds = op.threshold_codes()
        self.requant = op.get_nodeattr("requant")
        self.out_base = int(op.get_nodeattr("out_base"))
        self.in_range = datatype_range(op.get_nodeattr("in_dtype"))
        n_out, n_in = self.weights.shape
        self.inp = port_for_dtype(n_in, op.get_nodeattr("in_dtype"))
        self.out = port_for_dtype(n_out, op.get_nodeattr("out_dtype"))

    def forward(self, codes):
        from qonnx_c4ml.lbir.dense import dense_forward

        return dense_forward(codes, self.weights, self.requant, self.thresholds, self.out_base)


def lbir_layers(model):
    from qonnx.custom_op.registry import getCustomOp

    from qonnx_c4ml.lbir.graph import lbir_chain

    return [Layer(getCustomOp(node)) for node in lbir_chain(model)]


def top_ports(inp, out):
    return [
        f"module {TOP} (",
        "  input wire clock,",
        "  input wire reset,",
        "  input wire in_valid,",
        f"  input wire [{inp.width - 1}:0] in_data,",
        "  output wire out_valid,",
        f"  output wire [{out.width - 1}:0] out_data",
        ");",
        "  assign out_valid = in_valid;",
    ]


# ----------------------------------------------------------------------------- naive baseline

def _sconst(value):
    return f"-32'sd{-value}" if value < 0 else f"32'sd{value}"


def naive_verilog(layers):
    """One combinational module: `*` per non-zero weight, comparator-count requantization."""
    lines = ["/* verilator lint_off UNUSEDSIGNAL */", "/* verilator lint_off WIDTH */",
             *top_ports(layers[0].inp, layers[-1].out)]
    data = "in_data"
    for i, layer in enumerate(layers):
        port = layer.inp
        for k in range(port.elements):
            field = f"{data}[{k * port.bits} +: {port.bits}]"
            if port.signed:
                lines.append(f"  wire signed [{port.bits - 1}:0] l{i}_x{k} = {field};")
            else:
                lines.append(f"  wire signed [{port.bits}:0] l{i}_x{k} = {{1'b0, {field}}};")
        out_name = f"l{i}_out"
        lines.append(f"  wire [{layer.out.width - 1}:0] {out_name};")
        for m, row in enumerate(layer.weights):
            terms = [f"{_sconst(int(w))} * l{i}_x{k}" for k, w in enumerate(row) if w]
            lines.append(f"  wire signed [31:0] l{i}_acc{m} = {' + '.join(terms) or _sconst(0)};")
            if layer.requant == "thresholds":
                compares = []
                for t in layer.thresholds[m]:
                    t = int(t)
                    if t <= -(1 << 31):
                        compares.append("1'b1")
                    elif t >= (1 << 31):
                        compares.append("1'b0")
                    else:
                        compares.append(f"(l{i}_acc{m} >= {_sconst(t)})")
                base = layer.out_base & 0xFFFFFFFF
                lines.append(f"  wire [31:0] l{i}_q{m} = 32'd{base}" + "".join(f" + {c}" for c in compares) + ";")
                value = f"l{i}_q{m}"
            else:
                value = f"l{i}_acc{m}"
            lines.append(f"  assign {out_name}[{m * layer.out.bits} +: {layer.out.bits}] = "
                         f"{value}[{layer.out.bits - 1}:0];")
        data = out_name
    lines += [f"  assign out_data = {data};", "endmodule", ""]
    return "\n".join(lines)


def write_naive(layers, out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{TOP}.v"
    path.write_text(naive_verilog(layers))
    return [path]


# ----------------------------------------------------------------------------- da4ml

def da4ml_available():
    try:
        import da4ml  # noqa: F401
        from da4ml.codegen.rtl.verilog import comb_logic_gen  # noqa: F401
        from da4ml.trace import FixedVariableArray, comb_trace  # noqa: F401
    except Exception as error:  # ImportError, or a broken install
        return f"{type(error).__name__}: {error}"
    return None


def _even_po2_spacing(row, n_codes):
    """log2 of the spacing when `row` holds n_codes-1 thresholds 2**s apart, n_codes a power of 2."""
    if len(row) < 1 or len(row) + 1 != n_codes or n_codes & (n_codes - 1):
        return None
    steps = np.diff(row)
    if len(row) == 1:
        return 0
    step = int(steps[0])
    if step <= 0 or step & (step - 1) or np.any(steps != step):
        return None
    return step.bit_length() - 1


def da4ml_trace(layers):
    """Trace the network through da4ml; returns (CombLogic, rows with native requant, all rows)."""
    from da4ml.trace import FixedVariableArray, comb_trace
    from da4ml.trace.ops import quantize

    lo, hi = layers[0].in_range
    n_in = layers[0].weights.shape[1]
    inp = FixedVariableArray.from_lhs(np.full(n_in, lo), np.full(n_in, hi), np.ones(n_in))
    x, native, rows = inp, 0, 0
    for layer in layers:
        acc = x @ layer.weights.T.astype(np.float64)
        if layer.requant == "none":
            x = acc
            continue
        outs = []
        for m, row in enumerate(layer.thresholds):
            rows += 1
            row = [int(t) for t in row]
            a = acc[m]
            s = _even_po2_spacing(row, len(row) + 1)
            if s is not None:
                # out_base + clip(floor((acc - T0) / 2**s) + 1, 0, 2**a - 1)
                native += 1
                bits = int(math.log2(len(row) + 1))
                q = quantize((a + float((1 << s) - row[0])) * float(2.0 ** -s), 0, bits, 0, "SAT", "TRN")
            else:
                q = 0
                for t in row:
                    q = q + (a >= float(t))
            if layer.out_base:
                q = q + float(layer.out_base)
            outs.append(q)
        x = FixedVariableArray(np.array(outs, dtype=object), inp.solver_options, hwconf=inp.hwconf)
    return comb_trace(inp, x), native, rows


def da4ml_wrapper(comb, inp, out):
    """Our top interface around da4ml's `d4_core (model_inp, model_out)`."""
    from da4ml.types import minimal_kif

    lines = ["/* verilator lint_off UNUSEDSIGNAL */", "/* verilator lint_off WIDTH */",
             *top_ports(inp, out)]
    in_kifs = [minimal_kif(q) for q in comb.inp_qint]
    out_kifs = [minimal_kif(q) for q in comb.out_qint]
    in_width, out_width = sum(map(sum, in_kifs)), sum(map(sum, out_kifs))
    lines += [f"  wire [{max(in_width, 1) - 1}:0] model_inp;", f"  wire [{max(out_width, 1) - 1}:0] model_out;"]
    offset = 0
    for k, (sign, integers, fractional) in enumerate(in_kifs):
        width = int(sign) + integers + fractional
        if width == 0:
            continue
        if fractional != 0 or width > inp.bits:
            raise ValueError(f"da4ml input {k} has precision {in_kifs[k]}, not an integer of <= {inp.bits} bits")
        lines.append(f"  assign model_inp[{offset + width - 1}:{offset}] = in_data[{k * inp.bits} +: {width}];")
        offset += width
    offset = 0
    for m, (sign, integers, fractional) in enumerate(out_kifs):
        width = int(sign) + integers + fractional
        target = f"out_data[{m * out.bits} +: {out.bits}]"
        if width == 0:
            lines.append(f"  assign {target} = {out.bits}'d0;")
            continue
        if fractional > 0:
            raise ValueError(f"da4ml output {m} has fractional bits ({out_kifs[m]})")
        raw = f"model_out[{offset + width - 1}:{offset}]"
        value = f"$signed({raw})" if sign else f"$signed({{1'b0, {raw}}})"
        lines.append(f"  wire signed [31:0] o{m} = {value};")
        lines.append(f"  assign {target} = (o{m} <<< {-fractional});")
        offset += width
    lines += ["  d4_core u_core (.model_inp(model_inp), .model_out(model_out));", "endmodule", ""]
    return "\n".join(lines)


def write_da4ml(layers, out_dir):
    """Trace + generate da4ml Verilog into out_dir; returns (files, info)."""
    import da4ml
    from da4ml.codegen.rtl.verilog import comb_logic_gen

    comb, native, rows = da4ml_trace(layers)
    out_dir.mkdir(parents=True, exist_ok=True)
    core = out_dir / "d4_core.v"
    core.write_text(comb_logic_gen(comb, "d4_core"))
    wrapper = out_dir / f"{TOP}.v"
    wrapper.write_text(da4ml_wrapper(comb, layers[0].inp, layers[-1].out))
    static = Path(da4ml.__file__).parent / "codegen" / "rtl" / "verilog" / "source"
    files = [core, wrapper]
    core_text = core.read_text()
    for source in sorted(static.glob("*.v")):
        if not re.search(rf"\b{source.stem}\b", core_text):  # e.g. lookup_table.v ($readmemh)
            continue
        # Older Verilator (5.006) rejects the lint codes WIDTHTRUNC/WIDTHEXPAND (5.008+) in
        # da4ml's lint comments; WIDTH covers both. Only comments change.
        text = re.sub(r"(lint_(?:off|on)\s+)WIDTH(?:TRUNC|EXPAND)", r"\1WIDTH", source.read_text())
        (out_dir / source.name).write_text(text)
        files.append(out_dir / source.name)
    return files, {"native_requant_rows": native, "requant_rows": rows, "da4ml_cost": float(comb.cost),
                   "da4ml_version": getattr(da4ml, "__version__", "?")}


# ----------------------------------------------------------------------------- simulation

def simulate(files, layers, codes, cache_dir):
    from qonnx_c4ml.sim import CircuitSimulator, build_library, pack_codes, unpack_codes

    inp, out = layers[0].inp, layers[-1].out
    library = build_library(files, TOP, inp.width, out.width, cache_dir=cache_dir)
    simulator = CircuitSimulator(library, inp.width, out.width, latency=0)
    try:
        words = simulator.run_packed(pack_codes(codes, inp.bits, inp.signed))
    finally:
        simulator.close()
    return unpack_codes(words, out.elements, out.bits, out.signed)


def reference(layers, codes):
    x = codes
    for layer in layers:
        x = layer.forward(x)
    return x


def check_equal(name, got, expected):
    if got.shape != expected.shape or not np.array_equal(got, expected):
        bad = np.argwhere(got != expected) if got.shape == expected.shape else None
        where = f"; first mismatch at sample/output {tuple(bad[0])}: {got[tuple(bad[0])]} != " \
                f"{expected[tuple(bad[0])]} ({len(bad)} elements differ)" if bad is not None and len(bad) else ""
        raise SystemExit(f"FAIL: {name} differs from our circuit / the LBIR reference{where}")


# ----------------------------------------------------------------------------- main

def run_bits(bits, args, work, pool):
    from qonnx_c4ml.synth.yosys import synthesize
    from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR
    from qonnx_c4ml.metadata import circuit_description

    model, source = build_model(args.topology, bits, args.fixtures)
    if model is None:
        print(f"[{bits} bit] skipped: {source}", flush=True)
        return None
    row = {"bits": bits, "model": source}
    base = work / f"b{bits}"

    gen_dir = base / "ours"
    ours_s, lbir = median_time(
        lambda: model.transform(InferLBIR()).transform(GenerateChiselCircuit(gen_dir, pipeline="none")),
        args.repeats)
    description = circuit_description(lbir)
    ours_files = [gen_dir / f for f in description.files]
    layers = lbir_layers(lbir)
    row["weights"] = int(sum(layer.weights.size for layer in layers))
    row["nonzero_weights"] = int(sum(np.count_nonzero(layer.weights) for layer in layers))
    row["thresholds"] = int(sum(layer.thresholds.size for layer in layers))
    variants = {"ours": {"gen_s": ours_s, "files": ours_files}}

    naive_s, naive_files = median_time(lambda: write_naive(layers, base / "naive"), args.repeats)
    variants["naive"] = {"gen_s": naive_s, "files": naive_files}

    if args.da4ml_reason is None:
        try:
            d4_s, (d4_files, info) = median_time(lambda: write_da4ml(layers, base / "da4ml"), args.repeats)
            variants["da4ml"] = {"gen_s": d4_s, "files": d4_files, **info}
        except Exception as error:
            variants["da4ml"] = {"error": f"{type(error).__name__}: {error}"[:300]}
    else:
        variants["da4ml"] = {"error": args.da4ml_reason}

    # Functional check: every variant on the same random input codes.
    rng = np.random.default_rng(1)
    lo, hi = layers[0].in_range
    codes = rng.integers(lo, hi + 1, size=(args.samples, layers[0].inp.elements))
    expected = reference(layers, codes)
    for name, variant in variants.items():
        if "files" not in variant:
            continue
        got = simulate(variant["files"], layers, codes, work / "verilator_cache")
        check_equal(name, got, expected)
        variant["verified_samples"] = args.samples
    print(f"[{bits} bit] generated and verified on {args.samples} samples: "
          + ", ".join(n for n, v in variants.items() if "verified_samples" in v), flush=True)

    for name, variant in variants.items():
        if "files" in variant:
            variant["future"] = pool.submit(
                synthesize, variant["files"], TOP, flow=args.flow, per_module=False,
                timeout_s=args.synth_timeout, work_dir=base / f"synth_{name}")
    row["variants"] = variants
    return row


def collect(row):
    for name, variant in row["variants"].items():
        future = variant.pop("future", None)
        variant.pop("files", None)
        if future is None:
            continue
        try:
            report = future.result()
            variant.update(luts=report.luts, depth=report.depth, ffs=report.ffs, synth_s=report.seconds,
                           cells=report.cells)
        except Exception as error:
            variant["error"] = f"synthesis: {type(error).__name__}: {error}"[:300]


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"


def table(rows, flow):
    head = (f"{'bits':>4}  {'variant':<7} {'gen [s]':>9} {'LUTs':>8} {'depth':>6} {'synth [s]':>9}  "
            f"{'ours/x LUTs':>11} {'ours/x depth':>12} {'ours/x gen':>10}")
    lines = [f"yosys flow {flow}; all variants: whole network (dense + requantization), combinational",
             head, "-" * len(head)]
    for row in rows:
        ours = row["variants"]["ours"]
        for name, v in row["variants"].items():
            if "luts" not in v:
                lines.append(f"{row['bits']:>4}  {name:<7} " + (f"{v['gen_s']:>9.4f} " if "gen_s" in v else "")
                             + f"not measured ({v.get('error', '?')})")
                continue
            cmp = ("" if name == "ours" else
                   f"  {ratio(ours.get('luts'), v['luts']):>11} {ratio(ours.get('depth'), v['depth']):>12} "
                   f"{ratio(ours['gen_s'], v['gen_s']):>10}")
            lines.append(f"{row['bits']:>4}  {name:<7} {v['gen_s']:>9.4f} {v['luts']:>8,} {v['depth']:>6} "
                         f"{v['synth_s']:>9.1f}{cmp}")
        extra = row["variants"].get("da4ml", {})
        note = (f"; da4ml requant: {extra['native_requant_rows']}/{extra['requant_rows']} rows as shift+floor+"
                f"saturate, rest comparators" if "requant_rows" in extra else "")
        lines.append(f"      ({row['model']}: {row['nonzero_weights']:,}/{row['weights']:,} non-zero weights, "
                     f"{row['thresholds']:,} thresholds{note})")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", default="16,64,32,32,5",
                        help="layer widths, input first (default: jets 16,64,32,32,5)")
    parser.add_argument("--bits", default="2,4,8", help="comma-separated w=a=input bit widths")
    parser.add_argument("--flow", default="generic-fast", help="yosys flow (generic-fast|generic|xilinx)")
    parser.add_argument("--fixtures", action="store_true",
                        help="use tests/fixtures/jets_w{b}a{b}_po2.onnx (trained Brevitas) instead of random weights")
    parser.add_argument("--samples", type=int, default=2000, help="random input codes for the functional check")
    parser.add_argument("--repeats", type=int, default=3, help="generation timing runs (median)")
    parser.add_argument("--jobs", type=int, default=2, help="concurrent yosys runs")
    parser.add_argument("--synth-timeout", type=float, default=1800)
    parser.add_argument("--no-da4ml", action="store_true")
    parser.add_argument("--keep", help="keep the generated Verilog and yosys logs in this directory")
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    args.topology = [int(n) for n in args.topology.split(",")]
    if len(args.topology) < 2:
        parser.error("--topology needs at least an input and an output width")
    bit_list = [int(b) for b in args.bits.split(",")]
    args.da4ml_reason = "--no-da4ml" if args.no_da4ml else da4ml_available()

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="c4ml_quality_"))
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = []
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for bits in bit_list:
            row = run_bits(bits, args, work, pool)
            if row:
                rows.append(row)
        print("synthesizing ...", flush=True)
        for row in rows:
            collect(row)
    print(table(rows, args.flow))
    if args.da4ml_reason:
        print(f"da4ml: not measured ({args.da4ml_reason})")
    print(f"total {time.perf_counter() - start:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"flow": args.flow, "topology": args.topology,
                                               "fixtures": args.fixtures, "rows": rows}, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
