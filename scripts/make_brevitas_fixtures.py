#!/usr/bin/env python3
"""Regenerate the Brevitas-exported QONNX test fixtures and the packaged demo model.

Makes, deterministically (fixed seeds, single-threaded torch):

* ``<out>/*.onnx`` (default ``tests/fixtures``): small quantized MLPs trained for a few
  epochs with Brevitas quantization-aware training and exported with
  ``brevitas.export.export_qonnx`` (TorchScript exporter), then passed through
  ``qonnx.util.cleanup.cleanup_model`` (the raw export carries no intermediate shapes, so
  ``execute_onnx`` refuses it).  Jets-like 16-64-32-32-5 nets in po2 / float /
  per-channel / binary flavours, TFC-style MNIST MLPs (w1a1, w2a2) and a UNSW-NB15-style
  MLP.  See the ``FIXTURES`` table below.
* ``<out>/manifest.json``: per fixture the file, description, input shape, scale kind
  (``po2``/``float``), what a compiled circuit must reach (``bit-exact``/
  ``float-tolerance``), the sorted op types of the graph, and notes.
* ``src/qonnx_c4ml/data/digits_w4a4.onnx`` (+ ``digits_test.npz``, ``digits_w4a4.json``):
  a 64-64-32-32-10 po2 w4a4 MLP trained on scikit-learn's ``load_digits``, pruned 50 %.

Needs the ``train`` extra (torch==2.13.0, brevitas==0.13.4) plus onnxoptimizer (Brevitas'
exporter imports it) and scikit-learn:

    pip install torch==2.13.0 brevitas==0.13.4 onnxoptimizer scikit-learn
    python scripts/make_brevitas_fixtures.py [--out tests/fixtures] [--demo-only]
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
from brevitas.export import export_qonnx  # noqa: E402
from brevitas.quant import (  # noqa: E402
    Int8ActPerTensorFixedPoint,
    Int8ActPerTensorFloat,
    Int8WeightPerChannelFloat,
    Int8WeightPerTensorFixedPoint,
    Int8WeightPerTensorFloat,
    Int16Bias,
    Int32Bias,
    SignedBinaryActPerTensorConst,
    SignedBinaryWeightPerTensorConst,
    Uint8ActPerTensorFixedPoint,
    Uint8ActPerTensorFloat,
)
from brevitas_examples.bnn_pynq.models.common import CommonActQuant, CommonWeightQuant  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402
from qonnx.core.onnx_exec import execute_onnx  # noqa: E402
from qonnx.transformation.change_batchsize import ChangeBatchSize  # noqa: E402
from qonnx.transformation.infer_shapes import InferShapes  # noqa: E402
from qonnx.util.cleanup import cleanup_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "src" / "qonnx_c4ml" / "data"
SEED = 0


class Int8WeightPerChannelFixedPoint(Int8WeightPerTensorFixedPoint):
    """Per-output-channel power-of-two weight scales (Brevitas ships only an MSE variant)."""

    scaling_per_output_channel = True


# Quantizer families: input quantizer, weight, hidden activation, bias, optional output
# quantizer, BatchNorm between linear and activation, activation module.
FAMILIES = {
    "po2": dict(inp=Int8ActPerTensorFixedPoint, weight=Int8WeightPerTensorFixedPoint,
                act=Uint8ActPerTensorFixedPoint, bias=Int16Bias, out=Int8ActPerTensorFixedPoint),
    "float": dict(inp=Int8ActPerTensorFloat, weight=Int8WeightPerTensorFloat,
                  act=Uint8ActPerTensorFloat, bias=None),
    "perchannel": dict(inp=Int8ActPerTensorFloat, weight=Int8WeightPerChannelFloat,
                       act=Uint8ActPerTensorFloat, bias=Int32Bias),
    "perchannel_po2": dict(inp=Int8ActPerTensorFixedPoint, weight=Int8WeightPerChannelFixedPoint,
                           act=Uint8ActPerTensorFixedPoint, bias=Int16Bias),
    "binary": dict(inp=Int8ActPerTensorFixedPoint, weight=SignedBinaryWeightPerTensorConst,
                   act=SignedBinaryActPerTensorConst, bias=None, bn=True, act_mod="identity"),
    "bnn_pynq": dict(inp=CommonActQuant, weight=CommonWeightQuant, act=CommonActQuant,
                     bias=None, bn=True, act_mod="identity", uniform_init=True),
    "unsw": dict(inp=Int8ActPerTensorFloat, weight=Int8WeightPerTensorFloat,
                 act=Uint8ActPerTensorFloat, bias=None, bn=True),
}

JETS = dict(data="jets", in_shape=(1, 16), hidden=(64, 32, 32), n_out=5, epochs=3, lr=3e-3)
TFC = dict(data="mnist_like", in_shape=(1, 1, 28, 28), hidden=(64, 64, 64), n_out=10, epochs=30,
           tfc=True, bias=False, final_bn=True, lr=1e-2)

# name -> config.  wb/ab/ib: weight/activation/input bit widths; prune: 50 % magnitude pruning.
FIXTURES = {
    "jets_w2a2_po2": dict(JETS, fam="po2", wb=2, ab=2, ib=8,
                          desc="jets MLP, 2-bit weights/acts, power-of-two scales, Int16 bias"),
    "jets_w4a4_po2": dict(JETS, fam="po2", wb=4, ab=4, ib=8, out_quant=True,
                          desc="jets MLP, 4-bit weights/acts, power-of-two scales, Int16 bias, "
                               "8-bit fixed-point QuantIdentity on the output",
                          note="the only jets fixture whose output is quantized (signed 8-bit)"),
    "jets_w8a8_po2": dict(JETS, fam="po2", wb=8, ab=8, ib=8, bias_quant=Int32Bias, prune=True,
                          desc="jets MLP, 8-bit weights/acts, power-of-two scales, Int32 bias, "
                               "50 % of weights pruned"),
    "jets_w4a4_float": dict(JETS, fam="float", wb=4, ab=4, ib=8,
                            desc="jets MLP, Brevitas default float-scale quantizers at 4 bit, "
                                 "float (unquantized) bias"),
    "jets_w4a4_nobias_po2": dict(JETS, fam="po2", wb=4, ab=4, ib=8, bias=False,
                                 desc="jets MLP, 4-bit, power-of-two scales, no bias"),
    "jets_w4a4_perchannel": dict(JETS, fam="perchannel", wb=4, ab=4, ib=8, prune=True,
                                 desc="jets MLP, 4-bit per-output-channel float weight scales, "
                                      "4-bit float-scale acts, Int32 bias, 50 % pruned",
                                 note="weight scale shape (out, 1); Int32 bias Quant has a "
                                      "per-channel float scale (input scale * weight scale)"),
    "jets_w4a4_perchannel_po2": dict(JETS, fam="perchannel_po2", wb=4, ab=4, ib=8,
                                     desc="jets MLP, 4-bit per-output-channel power-of-two weight "
                                          "scales, 4-bit po2 acts, Int16 bias",
                                     note="Brevitas 0.13.4 has no Int8WeightPerChannelFixedPoint: "
                                          "Int8WeightPerTensorFixedPoint with "
                                          "scaling_per_output_channel=True; weight scale shape "
                                          "(out, 1), bias scale shape (out,)"),
    "jets_binary": dict(JETS, fam="binary", wb=1, ab=1, ib=8, bias=False, last_bias=True,
                        desc="jets MLP, binary weights (const scale 0.1) and binary acts with "
                             "BatchNorm1d before each binary act, 8-bit fixed-point input",
                        note="bias-free hidden linears export as MatMul, the last (float bias) as "
                             "Gemm; weight scale 0.1 makes the output float"),
    "tfc_w1a1_style": dict(TFC, fam="bnn_pynq", wb=1, ab=1, ib=1,
                           desc="TFC-style MNIST MLP 784-64-64-64-10, binary weights/acts "
                                "(bnn_pynq CommonWeightQuant/CommonActQuant), BatchNorm, final BN",
                           note="all quantizers 1-bit -> BipolarQuant (scale 1.0); the input is "
                                "binarized by BipolarQuant too"),
    "tfc_w2a2_style": dict(TFC, fam="bnn_pynq", wb=2, ab=2, ib=2,
                           desc="TFC-style MNIST MLP 784-64-64-64-10, 2-bit signed weights/acts "
                                "(bnn_pynq CommonWeightQuant/CommonActQuant), BatchNorm, final BN",
                           note="2-bit narrow signed Quant with const scale 1.0: weights and acts "
                                "are ternary {-1, 0, 1}; input quantized to 2 bits as well"),
    "unsw_w2a2_style": dict(data="unsw", in_shape=(1, 64), hidden=(64, 64), n_out=1, epochs=3,
                            fam="unsw", wb=2, ab=2, ib=8, loss="bce",
                            desc="UNSW-NB15-style MLP 64-64-64-1: QuantLinear(bias)+BatchNorm1d+"
                                 "QuantReLU(2 bit) x2, Brevitas default float-scale quantizers",
                            note="as FINN's UNSW-NB15 notebook (default quantizers, float bias) "
                                 "plus an 8-bit float-scale input QuantIdentity; inputs are binary "
                                 "0/1 features; single logit output (BCE)"),
}

DEMO = dict(data="digits", in_shape=(1, 64), hidden=(64, 32, 32), n_out=10, fam="po2",
            wb=4, ab=4, ib=8, inp_quant=Uint8ActPerTensorFixedPoint, epochs=100, batch=64,
            lr=3e-3, prune=True, finetune_epochs=30)


# ----------------------------------------------------------------------------- model
class QMLP(nn.Module):
    """Input quantizer, [QuantLinear (+BN) + quantized act] * len(hidden), last QuantLinear."""

    def __init__(self, cfg):
        super().__init__()
        fam = FAMILIES[cfg["fam"]]
        bias = cfg.get("bias", True)
        bias_quant = cfg.get("bias_quant", fam["bias"]) if bias else None
        rqt = bias_quant is not None  # an Int bias quantizer needs the input scale
        n_in = int(np.prod(cfg["in_shape"][1:]))
        self.tfc = cfg.get("tfc", False)
        self.inp = qnn.QuantIdentity(act_quant=cfg.get("inp_quant", fam["inp"]),
                                     bit_width=cfg["ib"], return_quant_tensor=rqt)

        def linear(i, o, b):
            return qnn.QuantLinear(i, o, bias=b, weight_quant=fam["weight"],
                                   weight_bit_width=cfg["wb"],
                                   bias_quant=bias_quant if b else None)

        def act():
            if fam.get("act_mod") == "identity":
                return qnn.QuantIdentity(act_quant=fam["act"], bit_width=cfg["ab"],
                                         return_quant_tensor=rqt)
            return qnn.QuantReLU(act_quant=fam["act"], bit_width=cfg["ab"],
                                 return_quant_tensor=rqt)

        layers = []
        for h in cfg["hidden"]:
            layers += [linear(n_in, h, bias)]
            layers += [nn.BatchNorm1d(h)] if fam.get("bn") else []
            layers += [act()]
            n_in = h
        self.features = nn.Sequential(*layers)
        self.last = linear(n_in, cfg["n_out"], cfg.get("last_bias", bias))
        self.final_bn = nn.BatchNorm1d(cfg["n_out"]) if cfg.get("final_bn") else None
        self.out_quant = (qnn.QuantIdentity(act_quant=fam["out"], bit_width=8)
                          if cfg.get("out_quant") else None)
        if fam.get("uniform_init"):  # as bnn_pynq FC: const scale 1.0 needs latent weights ~U(-1, 1)
            for m in self.modules():
                if isinstance(m, qnn.QuantLinear):
                    nn.init.uniform_(m.weight.data, -1, 1)

    def forward(self, x):
        if self.tfc:  # exactly as brevitas_examples.bnn_pynq FC does it
            x = x.view(x.shape[0], -1)
            x = 2.0 * x - torch.tensor([1.0], device=x.device)
        x = self.last(self.features(self.inp(x)))
        if self.final_bn is not None:
            x = self.final_bn(x)
        if self.out_quant is not None:
            x = self.out_quant(x)
        return x


# ----------------------------------------------------------------------------- data
DATA_DESC = {
    "jets": "synthetic jets-like data (16 correlated Gaussian features, 5 classes from a fixed "
            "random teacher net; 20000 train / 4000 test)",
    "unsw": "synthetic UNSW-like data (64 binary features, label from a fixed random teacher net; "
            "20000 train / 4000 test)",
    "mnist_like": "sklearn load_digits upsampled bilinearly to 1x28x28 (seed-0 75/25 split)",
    "digits": "sklearn load_digits (seed-0 75/25 split)",
}


def make_data(kind, seed=SEED):
    """Return (x_train, y_train, x_test, y_test) as float32 / int64 numpy arrays."""
    rng = np.random.default_rng(seed)
    if kind in ("jets", "unsw"):
        n_in, n_out, n = (16, 5, 24000) if kind == "jets" else (64, 1, 24000)
        if kind == "jets":  # correlated Gaussian features
            mix = rng.normal(size=(n_in, n_in)) / np.sqrt(n_in) + np.eye(n_in)
            x = rng.normal(size=(n, n_in)) @ mix
        else:  # binarized flow features, as the FINN UNSW-NB15 example feeds them
            x = (rng.random((n, n_in)) < rng.uniform(0.1, 0.6, size=n_in)).astype(np.float64)
        w1, w2 = rng.normal(size=(n_in, 32)), rng.normal(size=(32, max(n_out, 2)))
        logits = np.tanh((x - x.mean(0)) @ w1 / np.sqrt(n_in)) @ w2
        y = logits.argmax(1) if n_out > 1 else (logits[:, 0] > np.median(logits[:, 0]))
        x, y = x.astype(np.float32), y.astype(np.int64)
        return x[:20000], y[:20000], x[20000:], y[20000:]
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    xtr, xte, ytr, yte = train_test_split((d.data / 16.0).astype(np.float32), d.target.astype(np.int64),
                                          test_size=0.25, random_state=0)
    if kind == "mnist_like":  # 8x8 digits upsampled to MNIST's 1x28x28
        up = lambda a: torch.nn.functional.interpolate(  # noqa: E731
            torch.from_numpy(a).view(-1, 1, 8, 8), size=(28, 28), mode="bilinear",
            align_corners=False).numpy()
        xtr, xte = up(xtr), up(xte)
    return xtr, ytr, xte, yte


# ----------------------------------------------------------------------------- training
def prune_(model, frac=0.5):
    """Zero the smallest-magnitude `frac` of each QuantLinear's weights; return the masks."""
    masks = {}
    for name, m in model.named_modules():
        if isinstance(m, qnn.QuantLinear):
            w = m.weight.data
            thr = w.abs().flatten().kthvalue(int(frac * w.numel())).values
            masks[name] = (w.abs() > thr).float()
            w.mul_(masks[name])
    return masks


def train(model, cfg, xtr, ytr, epochs, masks=None):
    torch.manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.get("lr", 1e-2))
    bce = cfg.get("loss") == "bce"
    lossf = nn.BCEWithLogitsLoss() if bce else nn.CrossEntropyLoss()
    x, y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    bs = cfg.get("batch", 64)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), bs):
            idx = perm[i:i + bs]
            out = model(x[idx])
            loss = lossf(out[:, 0], y[idx].float()) if bce else lossf(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            for name, m in model.named_modules():
                if isinstance(m, qnn.QuantLinear):
                    if cfg["fam"] in ("binary", "bnn_pynq"):  # BNN-style latent weight clipping
                        m.weight.data.clamp_(-1, 1)
                    if masks:
                        m.weight.data.mul_(masks[name])
    model.eval()


def torch_accuracy(model, x, y, bce=False):
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
    pred = (out[:, 0] > 0).astype(np.int64) if bce else out.argmax(1)
    return float((pred == y).mean())


def build_trained(cfg):
    cfg = dict(cfg)
    torch.manual_seed(SEED)
    xtr, ytr, xte, yte = make_data(cfg["data"])
    model = QMLP(cfg)
    train(model, cfg, xtr, ytr, cfg["epochs"])
    cfg["acc_before_prune"] = torch_accuracy(model, xte, yte, cfg.get("loss") == "bce")
    if cfg.get("prune"):
        masks = prune_(model)
        train(model, cfg, xtr, ytr, cfg.get("finetune_epochs", 1), masks)
    return model, (xtr, ytr, xte, yte), cfg


# ----------------------------------------------------------------------------- export + checks
def export(model, cfg, path):
    """export_qonnx (TorchScript) then qonnx cleanup, which is needed for execute_onnx."""
    torch.manual_seed(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        export_qonnx(model, args=torch.randn(*cfg["in_shape"]), export_path=raw, dynamo=False)
        mw = cleanup_model(ModelWrapper(raw))
    mw.save(str(path))
    return ModelWrapper(str(path))


def run(mw, x):
    return execute_onnx(mw, {mw.graph.input[0].name: x})[mw.graph.output[0].name]


def batched(mw, n):
    mw = copy.deepcopy(mw).transform(ChangeBatchSize(n))
    return mw.transform(InferShapes())


def activation_stats(mw, x):
    """Per activation quantizer (Quant/BipolarQuant node fed by a non-initializer): fraction
    of non-zero integer codes (BipolarQuant: fraction of +1)."""
    ctx = execute_onnx(batched(mw, len(x)), {mw.graph.input[0].name: x},
                       return_full_exec_context=True)
    stats = {}
    for n in mw.graph.node:
        if n.op_type not in ("Quant", "BipolarQuant") or mw.get_initializer(n.input[0]) is not None:
            continue
        scale = mw.get_initializer(n.input[1])
        codes = ctx[n.output[0]] / scale
        if n.op_type == "Quant":
            codes = codes + mw.get_initializer(n.input[2])
            stats[n.name] = ("nonzero", float(np.mean(np.round(codes) != 0)))
        else:
            stats[n.name] = ("plus1", float(np.mean(codes > 0)))
    return stats


def scale_kind(mw):
    scales = [mw.get_initializer(n.input[1]) for n in mw.graph.node
              if n.op_type in ("Quant", "BipolarQuant")]
    po2 = all(np.all(np.log2(s) == np.round(np.log2(s))) for s in scales)
    return "po2" if po2 else "float"


def check(model, mw, x):
    """execute_onnx on a (1, ...) input must agree with torch; returns max abs difference."""
    diffs = []
    for i in range(4):
        xi = x[i:i + 1]
        with torch.no_grad():
            ref = model(torch.from_numpy(xi)).numpy()
        diffs.append(float(np.abs(run(mw, xi) - ref).max()))
    return max(diffs)


def make_fixture(name, cfg, out_dir):
    model, (xtr, ytr, xte, yte), cfg = build_trained(cfg)
    acc = torch_accuracy(model, xte, yte, cfg.get("loss") == "bce")
    mw = export(model, cfg, out_dir / f"{name}.onnx")
    diff = check(model, mw, xte)
    stats = activation_stats(mw, xte[:256])
    ops = sorted({n.op_type for n in mw.graph.node})
    scales = scale_kind(mw)
    float_ops = {"BatchNormalization"} & set(ops)
    float_bias = any(n.op_type in ("Gemm", "Add") and len(n.input) > 2 and
                     mw.get_initializer(n.input[2]) is not None for n in mw.graph.node)
    expect = "bit-exact" if scales == "po2" and not float_ops and not float_bias else "float-tolerance"
    layout = {"Gemm": "Gemm(transB=1) weights (out, in)",
              "MatMul": "MatMul weights (in, out): cleanup folded the exporter's Transpose"}
    notes = [f"Brevitas 0.13.4 export_qonnx(dynamo=False) + qonnx cleanup_model; QuantLinear "
             f"exported as {'/'.join(k for k in layout if k in ops)}",
             "; ".join(layout[k] for k in layout if k in ops)]
    notes += [cfg["note"]] if cfg.get("note") else []
    notes += [f"trained {cfg['epochs']} epochs on {DATA_DESC[cfg['data']]}, test accuracy "
              f"(torch) {acc:.3f}"]
    if cfg.get("prune"):
        notes.append("50 % of each layer's weights pruned by magnitude (exact zeros), then fine-tuned")
    if float_ops:
        notes.append("BatchNormalization is float: hidden activation codes should still match "
                     "exactly (threshold form), outputs within float tolerance")
    if cfg.get("tfc"):
        notes.append("flatten via x.view(N, -1) and 2x-1 preprocessing as in brevitas_examples FC "
                     "(TensorNorm replaced by BatchNorm1d)")
    notes.append("activation stats on 256 test inputs: " + ", ".join(
        f"{k} {v[0]}={v[1]:.2f}" for k, v in stats.items()))
    print(f"{name:28s} ops={ops} scales={scales} expect={expect} acc={acc:.3f} "
          f"|onnx-torch|={diff:.2e}\n    " + "; ".join(f"{k}:{v[1]:.2f}" for k, v in stats.items()))
    assert diff < 1e-4, f"{name}: execute_onnx disagrees with torch by {diff}"
    return {"file": f"{name}.onnx", "description": cfg["desc"], "input_shape": list(cfg["in_shape"]),
            "scales": scales, "expect": expect, "ops": ops, "notes": "; ".join(notes)}


def make_demo():
    model, (xtr, ytr, xte, yte), cfg = build_trained(DEMO)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    mw = export(model, cfg, DATA_DIR / "digits_w4a4.onnx")
    np.savez_compressed(DATA_DIR / "digits_test.npz", x=xte.astype(np.float32), y=yte.astype(np.int64))
    acc_torch = torch_accuracy(model, xte, yte)
    out = run(batched(mw, len(xte)), xte)
    acc_qonnx = float((out.argmax(1) == yte).mean())
    with torch.no_grad():
        agree = float((model(torch.from_numpy(xte)).numpy().argmax(1) == out.argmax(1)).mean())
    stats = activation_stats(mw, xte)
    info = {
        "model": "digits_w4a4.onnx", "test_data": "digits_test.npz",
        "topology": "64-64-32-32-10 MLP: QuantIdentity(uint8 fixed point) -> "
                    "[QuantLinear(4-bit po2, Int16 bias) + QuantReLU(4-bit po2)] x3 -> QuantLinear",
        "dataset": "sklearn.datasets.load_digits, pixels / 16 -> [0, 1], flattened to 64; "
                   "train_test_split(test_size=0.25, random_state=0)",
        "n_test": int(len(yte)),
        "accuracy_qonnx": acc_qonnx, "qonnx_eval": "execute_onnx on a ChangeBatchSize(n_test) copy", "accuracy_torch": acc_torch, "qonnx_torch_agreement": agree,
        "accuracy_torch_before_pruning": cfg["acc_before_prune"],
        "scales": scale_kind(mw),
        "activation_stats": {k: v[1] for k, v in stats.items()},
        "training": {"seed": SEED, "optimizer": "Adam", "lr": cfg["lr"], "batch": cfg["batch"],
                     "epochs": cfg["epochs"], "prune": "50 % per-layer magnitude pruning",
                     "finetune_epochs": cfg["finetune_epochs"], "torch": torch.__version__,
                     "brevitas": __import__("brevitas").__version__,
                     "export": "brevitas.export.export_qonnx(dynamo=False) + qonnx cleanup_model"},
    }
    (DATA_DIR / "digits_w4a4.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"demo digits_w4a4: accuracy qonnx={acc_qonnx:.4f} torch={acc_torch:.4f} "
          f"agreement={agree:.4f} scales={info['scales']} act={info['activation_stats']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "fixtures"))
    ap.add_argument("--demo-only", action="store_true")
    ap.add_argument("--only", nargs="*", help="regenerate just these fixtures (manifest entries kept)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    if not args.demo_only:
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        mpath = out_dir / "manifest.json"
        manifest = json.loads(mpath.read_text()) if args.only and mpath.exists() else {}
        for name in args.only or FIXTURES:
            manifest[name] = make_fixture(name, FIXTURES[name], out_dir)
        manifest = {k: manifest[k] for k in FIXTURES if k in manifest}
        mpath.write_text(json.dumps(manifest, indent=2) + "\n")
    if not args.only:
        make_demo()


if __name__ == "__main__":
    main()
