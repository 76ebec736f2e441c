"""Folding fuzz, longer runs: N seeds of random dense nets and small CNNs with random
per-layer reuse factors (tests/fold_fuzz_models.py, the cases of tests/e2e/test_fold_fuzz.py),
RTL (style="folded") against qonnx execute_onnx on the raw model; prints every seed and its
mismatching output elements, and a summary.  Stops after --seeds seeds or --minutes minutes.

    PYTHONPATH=src nice python benchmarks/fold_fuzz.py [--seeds 100] [--first 1] [--minutes 10]
                                                       [--kinds dense,cnn] [--samples 32]
"""
import argparse
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--first", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--kinds", default="dense,cnn")
    parser.add_argument("--samples", type=int, default=32)
    args = parser.parse_args()
    from fold_fuzz_models import run_case

    start, cases, failed, errors, elements = time.perf_counter(), 0, [], [], 0
    for seed in range(args.first, args.first + args.seeds):
        for kind in args.kinds.split(","):
            if time.perf_counter() - start > args.minutes * 60:
                break
            with tempfile.TemporaryDirectory(prefix="qonnx_c4ml_fold_fuzz_") as work:
                try:
                    mismatches, size, text = run_case(kind, seed, work, args.samples)
                except Exception as error:  # a refusal or a crash is a finding too: print it with its seed
                    errors.append((kind, seed))
                    print(f"{kind} seed {seed}: ERROR {type(error).__name__}: {error}", flush=True)
                    traceback.print_exc()
                    continue
            cases += 1
            elements += size
            if mismatches:
                failed.append((kind, seed))
            print(f"{text}: {mismatches}/{size} mismatches", flush=True)
    print(f"\n{cases} cases ({elements} output elements) in {time.perf_counter() - start:.0f} s: "
          f"{len(failed)} with mismatches {failed}, {len(errors)} errors {errors}")
    return 1 if failed or errors else 0


if __name__ == "__main__":
    sys.exit(main())
