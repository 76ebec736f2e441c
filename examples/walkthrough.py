#!/usr/bin/env python3
"""chisel4ml's walkthrough with qonnx-c4ml: train a quantized jets MLP in Brevitas, prune it,
export it to QONNX, generate and simulate the direct-logic circuit, and check the RTL against
qonnx's reference execution bit for bit.

    pip install -e '.[train]'
    python examples/walkthrough.py                          # scikit-learn digits as jets-shaped data
    python examples/walkthrough.py --jets-file hls4ml_lhc_jets_hlf.csv   # the real OpenML data

The default data is scikit-learn's digits 0-4, average-pooled to 4x4 = 16 features, so the
jets topology (16 inputs, 5 classes) trains on it without a download. For the real data,
download `hls4ml_lhc_jets_hlf` from OpenML (https://www.openml.org/d/42468) as CSV, ARFF,
parquet or npz.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qonnx_c4ml import Circuit
from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.examples import (eval_model, export_qonnx, exported_weight_sparsity, get_jets_model,
                                 load_default_data, load_jets, make_loaders, train_model)
from qonnx_c4ml.reference import execute


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets-file", help="OpenML hls4ml_lhc_jets_hlf file (.csv, .arff, .parquet, .npz)")
    parser.add_argument("--bitwidth", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--prune-rate", type=float, default=0.5)
    parser.add_argument("--max-test", type=int, default=20000,
                        help="simulate at most this many test samples (the jets test split has ~166k)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", help="directory for the model and the Verilog (default: temp dir)")
    args = parser.parse_args(argv)
    output = Path(args.output or tempfile.mkdtemp(prefix="c4ml_walkthrough_"))
    output.mkdir(parents=True, exist_ok=True)

    # 1. data: the user's jets file, or the jets-shaped default that ships with scikit-learn
    data = load_jets(args.jets_file) if args.jets_file else load_default_data()
    print(f"1. data: {data.description}: {len(data.x_train)} train / {len(data.x_test)} test samples, "
          f"{data.n_features} features, classes {', '.join(data.class_names)}")
    train_loader, test_loader = make_loaders(data, batch_size=32 if not args.jets_file else 256, seed=args.seed)

    # 2. the quantized model: QuantIdentity input, QuantLinear + QuantReLU, power-of-two scales
    import torch  # the train extra; seeded so a rerun gives the same model (and hits the build cache)

    torch.manual_seed(args.seed)
    model = get_jets_model(args.bitwidth, in_features=data.n_features, n_classes=data.n_classes)
    print(f"2. model: 16-64-32-32-5 MLP, {args.bitwidth}-bit weights and activations, "
          "power-of-two scales (Brevitas)")

    # 3. train with magnitude pruning
    start = time.perf_counter()
    train_model(model, train_loader, epochs=args.epochs, prune_rate=args.prune_rate, seed=args.seed,
                log=lambda line: print(f"   {line}"))
    train_s = time.perf_counter() - start
    accuracy_torch = eval_model(model, test_loader)
    print(f"3. trained {args.epochs} epochs in {train_s:.1f} s with prune_rate={args.prune_rate}; "
          f"test accuracy (torch) {100 * accuracy_torch:.2f} %")

    # 4. export to QONNX (Brevitas export_qonnx + qonnx cleanup)
    path = output / f"jets_w{args.bitwidth}.onnx"
    qonnx_model = export_qonnx(model, path, (1, data.n_features))
    print(f"4. exported {path}: {100 * exported_weight_sparsity(qonnx_model):.1f} % of the weights are "
          f"exactly zero ({100 * exported_weight_sparsity(qonnx_model, codes=True):.1f} % zero codes)")

    # 5. the circuit: InferLBIR -> GenerateChiselCircuit -> RTLSim (Verilator)
    start = time.perf_counter()
    circuit = Circuit(path, output_dir=output / "verilog")
    build_s = time.perf_counter() - start
    print(f"5. circuit generated and built with Verilator in {build_s:.1f} s "
          f"(latency {circuit.latency_cycles} cycles)")

    # 6. run the test set through the RTL and through qonnx; they must agree bit for bit
    x, labels = data.x_test[:args.max_test], data.y_test[:args.max_test]
    start = time.perf_counter()
    rtl = circuit(x)
    rtl_s = time.perf_counter() - start
    reference = execute(qonnx_model, x)
    assert np.array_equal(rtl, reference), "RTL and qonnx disagree"
    accuracy_rtl = float(np.mean(np.argmax(rtl, axis=1) == labels))
    print(f"6. RTL simulation of {len(x)} samples in {rtl_s:.2f} s: bit-exact with qonnx execute_onnx "
          f"({rtl.size} output values equal); accuracy (RTL) {100 * accuracy_rtl:.2f} %")
    print(f"7. Verilog: {circuit.verilog_dir} (top {circuit.description.top}.v)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except C4mlError as error:
        print(f"walkthrough: error: {error}", file=sys.stderr)
        sys.exit(2)
