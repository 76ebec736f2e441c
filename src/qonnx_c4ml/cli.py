"""`qonnx-c4ml` command line: compile, verify, demo.

Errors the flow raises on purpose (C4mlError) print as one line and exit 2; anything else
is a bug, printed as one line asking for `--debug`, which shows the traceback.
"""
import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.synth.yosys import FLOWS
from qonnx_c4ml.transformations.generate_circuit import DEFAULT_MAX_OPERATORS

EXIT_MISMATCH, EXIT_ERROR, EXIT_BUG = 1, 2, 3
PIPELINE_HELP = ("none (combinational), layer (a register stage per layer) or N (a register stage "
                 "every N operator levels)")
INPUT_TYPE_HELP = ("input type of a model without an input quantizer (hls4ml convention), e.g. FIXED<16,6>, INT8, "
                   "UINT8, BIPOLAR: the host rounds the float input half to even onto that grid and saturates")
STYLE_HELP = ("parallel: every layer fully parallel, one sample per cycle; streaming: the leading conv/pool "
              "layers take one pixel per cycle through line buffers; auto: streaming when the conv front is "
              "large and --pipeline is none; folded: a chain of dense layers, each computing its outputs over "
              "--reuse-factor cycles")
REUSE_HELP = ("style folded: every convolution and dense layer computes its M outputs over R cycles with ceil(M/R) "
              "constant-weight units (without --reuse-factor, --target-ii or --max-luts: --max-luts 300000)")
# the CNN demo: tests/fixtures/cnn/mnist_cnn_w4a4_po2.onnx and its 1,000 test digits
DEMO_CNN = Path(__file__).parent / "data" / "mnist_cnn_w4a4.onnx"
DEMO_CNN_DATA = Path(__file__).parent / "data" / "mnist_test.npz"
DEMO_MODEL = Path(__file__).parent / "data" / "digits_w4a4.onnx"
DEMO_DATA = Path(__file__).parent / "data" / "digits_test.npz"


def compile_model(model_path, output_dir, pipeline="none", top="c4ml_top", force=False,
                  max_operators=DEFAULT_MAX_OPERATORS, synth=None, synth_flow="generic-fast", style="auto",
                  input_datatype=None, reuse_factor=None, target_ii=None, max_luts=None, weight_memory="auto"):
    """`qonnx-c4ml compile`: qonnx_c4ml.flow.compile into `output_dir` (written whole or not at
    all); returns the report.json dict.

    Besides the Verilog: `model_lbir.onnx`, `report.json` (+ its readable `report.md` and
    self-contained `report.html` with plots, see report.py) and `vivado_synth.tcl` (an
    out-of-context synthesis script for users with Vivado). `input_datatype`: InferLBIR's."""
    from qonnx_c4ml import flow

    return flow.compile(model_path, output_dir, pipeline=pipeline, top=top, style=style,
                        max_operators=max_operators, reuse_factor=reuse_factor, target_ii=target_ii,
                        max_luts=max_luts, weight_memory=weight_memory, input_datatype=input_datatype, synth=synth, synth_flow=synth_flow, force=force).report


def cmd_compile(args):
    report = compile_model(args.model, args.output, args.pipeline, args.top, args.force, args.max_operators,
                           args.synth, args.synth_flow, args.style, args.input_type, args.reuse_factor,
                           args.target_ii, args.max_luts, args.weight_memory)
    stream = f", streaming: {report['ii_cycles']} cycles per frame" if report["style"] == "streaming" else ""
    if report.get("reuse_factors"):
        stream = f", folded (R {report['reuse_factors']}): {report['ii_cycles']} cycles per sample"
    print(f"wrote {len(report['verilog_files'])} Verilog files and report.json/.md/.html to {args.output} "
          f"(top {report['top']}, latency {report['latency_cycles']} cycles{stream}, "
          f"generated in {report['generate_s']:.3f} s)")
    if args.synth:
        print(f"yosys {report['flow']}: {report['luts']} LUTs, {report['ffs']} FFs, depth {report['depth']} "
              f"LUT levels ({report['synth_s']:.1f} s)")
    return 0


def cmd_verify(args):
    from qonnx_c4ml.transformations.input_type import parse_input_datatype
    from qonnx_c4ml.verify import verify

    if args.input_type is not None:
        parse_input_datatype(args.input_type)  # a bad type string fails before any work
    report = verify(args.model, samples=args.samples, seed=args.seed, rtl=not args.no_rtl,
                    pipeline=args.pipeline, style=args.style, exact=not args.no_exact, layerwise=args.layerwise,
                    input_datatype=args.input_type, reuse_factor=args.reuse_factor,
                    target_ii=args.target_ii, max_luts=args.max_luts, weight_memory=args.weight_memory)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        print(f"{args.model}: {report.samples} samples, seed {report.seed}, output LSB {report.output_lsb:g}")
        print(report.table())
    return 0 if report.passed else EXIT_MISMATCH


def cmd_demo(args):
    import numpy as np

    from qonnx_c4ml.circuit import Circuit
    from qonnx_c4ml.report import write_report
    from qonnx_c4ml.verify import verify

    output = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="qonnx_c4ml_demo_"))
    model_path = DEMO_MODEL
    if args.train:  # the Brevitas path (train extra): train, prune and export the jets model first
        from qonnx_c4ml.examples import train_demo_model

        trained = train_demo_model(output, epochs=1, prune_rate=0.5)
        model_path, x, labels = trained.model_path, trained.x_test, trained.y_test
        print(f"demo --train: {trained.title}; torch test accuracy {100 * trained.accuracy_torch:.2f} %, "
              f"{len(x)} test samples")
    elif args.cnn:
        model_path = DEMO_CNN
        data = np.load(DEMO_CNN_DATA)
        x, labels = data["x_uint8"].astype(np.float32) / data["divisor"], data["y"]
        print(f"demo: {DEMO_CNN.name} (28x28 CNN: conv3x3-maxpool x2 -> dense, 4-bit, trained on MNIST digits), "
              f"{len(x)} test images")
    else:
        data = np.load(DEMO_DATA)
        x, labels = data["x"], data["y"]
        print(f"demo: {DEMO_MODEL.name} (64-64-32-32-10 MLP, 4-bit, trained on scikit-learn digits), "
              f"{len(x)} test images")
    if args.pipeline is None:  # the CNN streams (auto style), which needs pipeline none
        args.pipeline = "none" if args.cnn else "layer"
    start = time.perf_counter()
    report = compile_model(model_path, output / "verilog", pipeline=args.pipeline, force=True, style=args.style)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    circuit = Circuit(output / "verilog" / "model_lbir.onnx")
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    logits = circuit(x)
    rtl_s = time.perf_counter() - start
    accuracy = float(np.mean(np.argmax(logits, axis=1) == labels))
    check = verify(model_path, inputs=x, rtl=True, pipeline=args.pipeline, build_dir=output / "verify",
                   style=args.style)
    rows = [
        ("QONNX -> Verilog", f"{compile_s:.3f} s ({len(report['verilog_files'])} files in {output / 'verilog'})"),
        ("Verilator build", f"{build_s:.2f} s (reruns of the same design hit the content-hash cache)"),
        ("RTL simulation", f"{len(x)} images in {rtl_s:.3f} s"),
        ("latency", f"{report['latency_cycles']} cycles (pipeline={report['pipeline']})" +
         (f", streaming: {report['ii_cycles']} cycles per image" if report["style"] == "streaming" else "")),
        ("accuracy (RTL)", f"{100 * accuracy:.2f} %"),
    ]
    for c in check.comparisons:
        value = f"skipped ({c.skipped})" if c.skipped else \
            f"{100 * c.exact_fraction:.2f} % bit-exact, {100 * c.same_code_fraction:.2f} % same code"
        rows.append((f"{c.stage} vs qonnx", value))
    written = write_report(output, report, verify=check, extra=rows[:5], title=f"qonnx-c4ml demo: {model_path.name}",
                           lbir_model=output / "verilog" / "model_lbir.onnx")
    rows.append(("HTML report", str(written["html"])))
    from qonnx_c4ml.tables import text_lines

    for line in text_lines([[name, str(value)] for name, value in rows]):
        print("  " + line)
    return 0 if check.passed else EXIT_MISMATCH


def cmd_package(args):
    """compile + Verilator build + hand-off directory (qonnx_c4ml/package.py)."""
    from qonnx_c4ml.circuit import Circuit
    from qonnx_c4ml.package import check_destination, package

    from qonnx_c4ml.transformations.input_type import parse_input_datatype

    check_destination(args.output, overwrite=args.force)  # refuse before compiling, not after
    if args.input_type is not None:
        parse_input_datatype(args.input_type)
    work = Path(tempfile.mkdtemp(prefix="qonnx_c4ml_package_"))
    try:
        compile_model(args.model, work / "verilog", pipeline=args.pipeline, force=True,
                      input_datatype=args.input_type)
        circuit = Circuit(work / "verilog" / "model_lbir.onnx")
        result = package(circuit, args.output, vectors=args.vectors, seed=args.seed, overwrite=args.force,
                         source=Path(args.model).name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wrote {len(result['files'])} files to {args.output}: Verilog (top {result['top']}, latency "
          f"{result['latency_cycles']} cycles), testbench {result['testbench']} with {result['vectors']} "
          "vectors, report.json, README.md")
    return 0


def cmd_show(args):
    from qonnx_c4ml.show import show

    view = "lbir" if args.lbir else "original" if args.original else "auto"
    try:
        return show(args.model, view=view, port=args.port, browse=not args.no_browser,
                    input_datatype=args.input_type)
    except KeyboardInterrupt:  # Ctrl-C before the server was up
        return 130


def cmd_sweep(args):
    from qonnx_c4ml.sweep import cmd_sweep as run_sweep_command

    return run_sweep_command(args)


def add_style_options(p):
    """--style and the folded style's --reuse-factor, --target-ii, --max-luts, for the commands that
    generate a circuit of any style."""
    p.add_argument("--style", default="auto", choices=["auto", "parallel", "streaming", "folded"], help=STYLE_HELP)
    p.add_argument("--reuse-factor", type=int, help=REUSE_HELP)
    p.add_argument("--target-ii", type=int, help="style folded: choose every layer's reuse factor for this many "
                   "cycles per sample or frame (FINN SetFolding-like)")
    p.add_argument("--max-luts", type=int, help="style folded: choose the reuse factors for the smallest II whose "
                   "estimated LUTs fit this budget; with --target-ii, within both")
    p.add_argument("--weight-memory", default="auto", choices=["auto", "always", "never"],
                   help="style folded: keep a folded layer's weights in a ROM read once per step (always), as "
                   "constants selected per step (never), or whichever the LUT model finds smaller (auto)")


def build_parser():
    parser = argparse.ArgumentParser(prog="qonnx-c4ml", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compile", help="QONNX model -> Verilog + report.json")
    p.add_argument("model")
    p.add_argument("-o", "--output", required=True, help="output directory (must be new or empty)")
    p.add_argument("--pipeline", default="none", help=PIPELINE_HELP)
    p.add_argument("--top", default="c4ml_top", help="top module name")
    add_style_options(p)
    p.add_argument("--force", action="store_true", help="replace a non-empty output directory")
    p.add_argument("--max-operators", type=int, default=DEFAULT_MAX_OPERATORS,
                   help="refuse circuits estimated above this many adders/comparators")
    p.add_argument("--synth", choices=["yosys"], help="synthesize and add LUTs/FFs/depth to report.json")
    p.add_argument("--synth-flow", default="generic-fast", choices=list(FLOWS),
                   help="yosys flow (generic-fast: synth -noabc + abc -fast -lut 6; the full flow is slow; "
                   "xilinx: synth_xilinx -nodsp; ecp5: synth_ecp5 -nodsp)")
    p.add_argument("--input-type", help=INPUT_TYPE_HELP)
    p.set_defaults(run=cmd_compile)

    p = sub.add_parser("verify", help="differential check: qonnx, onnxruntime QCDQ, LBIR, RTL")
    p.add_argument("model")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pipeline", default="none", help=PIPELINE_HELP)
    add_style_options(p)
    p.add_argument("--no-rtl", action="store_true", help="skip the Verilator stage")
    p.add_argument("--no-exact", action="store_true",
                   help="skip the exact reference (then the float32 tolerance rule decides)")
    p.add_argument("--layerwise", action="store_true",
                   help="also check every layer fed the float32 reference's own input codes")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--input-type", help=INPUT_TYPE_HELP + "; random inputs are drawn on that grid")
    p.set_defaults(run=cmd_verify)

    p = sub.add_parser("demo", help="compile, simulate and verify the shipped example model")
    p.add_argument("-o", "--output", help="directory for the demo's files (default: a new temp dir)")
    p.add_argument("--pipeline", default=None, help=PIPELINE_HELP + " (default: layer; none with --cnn)")
    p.add_argument("--style", default="auto", choices=["auto", "parallel", "streaming"], help=STYLE_HELP)
    p.add_argument("--cnn", action="store_true",
                   help="demo the shipped 28x28 MNIST CNN (streams its conv layers by default) instead of the MLP")
    p.add_argument("--train", action="store_true",
                   help="train (1 epoch), prune (50 %%) and export the Brevitas jets model on scikit-learn "
                        "digits first and demo that model (needs: pip install 'qonnx-c4ml[train]')")
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("package", help="compile + simulate: Verilog, self-checking testbench, vectors, README "
                                       "for hardware engineers")
    p.add_argument("model")
    p.add_argument("-o", "--output", required=True, help="package directory (must be new or empty)")
    p.add_argument("--pipeline", default="none", help=PIPELINE_HELP)
    p.add_argument("--vectors", type=int, default=100, help="number of random test vectors (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random test vectors")
    p.add_argument("--force", action="store_true", help="replace a non-empty output directory")
    p.add_argument("--input-type", help=INPUT_TYPE_HELP)
    p.set_defaults(run=cmd_package)

    p = sub.add_parser("show", help="view the model in netron (as LBIR graph by default), on 127.0.0.1")
    p.add_argument("model")
    view = p.add_mutually_exclusive_group()
    view.add_argument("--lbir", action="store_true",
                      help="show the graph after InferLBIR (default for QONNX models: QDense nodes with "
                           "weights, thresholds, dtypes)")
    view.add_argument("--original", action="store_true", help="show the file as it is")
    p.add_argument("--port", type=int, default=None,
                   help="port on 127.0.0.1 (default: netron's choice, 8080 if free; 0: any free port)")
    p.add_argument("--no-browser", action="store_true", help="only print the URL")
    p.add_argument("--input-type", help=INPUT_TYPE_HELP + " (for the LBIR view)")
    p.set_defaults(run=cmd_show)

    p = sub.add_parser("sweep", help="models x bit widths x prune rates x pipelines on Dask: LUTs, depth, times")
    p.add_argument("config", help="TOML or JSON grid (see examples/sweep_jets.toml)")
    p.add_argument("-o", "--output", help="output directory (must be new or empty; default: CONFIG's name + _sweep)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://HOST:8786 "
                                       "(default: a local cluster on 127.0.0.1)")
    p.add_argument("--workers", type=int, help="worker processes of the local cluster (default 2)")
    p.add_argument("--force", action="store_true", help="replace the sweep files in a non-empty output directory")
    p.set_defaults(run=cmd_sweep)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except C4mlError as error:
        if args.debug:
            raise
        print(f"qonnx-c4ml {args.command}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:  # noqa: BLE001 - the one place a bug becomes a message
        if args.debug:
            raise
        first = str(error).splitlines()[0] if str(error) else ""
        print(f"qonnx-c4ml {args.command}: internal error: {type(error).__name__}: {first} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
