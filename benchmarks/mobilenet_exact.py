#!/usr/bin/env python3
"""brevitas_examples' quant MobileNet-v1 through `verify --no-rtl` against the exact reference.

Exports the model with scripts/make_brevitas_mobilenet.py (random weights, 4-bit, 8-bit input
quantizer; --width/--size, default 0.25 / 64: 27 conv layers, 1000 classes) unless --model is
given, then runs verify(rtl=False) and prints the table, the reference noise and the time of
each stage (float32 qonnx, exact reference, LBIR, layerwise).

    python benchmarks/mobilenet_exact.py [--width 0.25 --size 64] [--samples 16] [--layerwise]
    python benchmarks/mobilenet_exact.py --model mnv1.onnx --samples 2
"""
import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--layerwise", action="store_true")
    args = parser.parse_args()
    from qonnx_c4ml.verify import verify

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            model = str(Path(tmp) / "mobilenet_v1.onnx")
            start = time.perf_counter()
            subprocess.run([sys.executable, str(ROOT / "scripts" / "make_brevitas_mobilenet.py"), "full", model,
                            "--width", str(args.width), "--size", str(args.size)], check=True)
            print(f"export: {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        report = verify(model, samples=args.samples, rtl=False, layerwise=args.layerwise)
        total = time.perf_counter() - start
    print(report.table())
    lbir = next(c for c in report.comparisons if c.stage == "lbir")
    print(f"samples {report.samples}: float32 qonnx {report.reference_seconds:.1f} s, exact reference "
          f"{report.exact_seconds:.1f} s, LBIR {lbir.seconds:.1f} s, verify total {total:.1f} s; "
          f"passed={report.passed} (float32 rule alone: {report.within_tolerance})")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
