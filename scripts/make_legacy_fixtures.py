#!/usr/bin/env python3
"""Regenerate tests/fixtures/wild/: raw Brevitas exports as users bring them (issue 10).

* ``brevitas_mlp_legacy.onnx``: a 36-16-4 MLP (QuantIdentity 4 bit, QuantLinear + QuantReLU,
  power-of-two scales) exported with ``export_qonnx(..., dynamo=False)`` and **no cleanup**,
  then rewritten into the legacy form older exporters wrote (tests/wild_models.py
  ``to_legacy``): quantizers in ``onnx.brevitas``, every initializer a graph input, no
  value_info, IR version 6, and ``x.view(x.shape[0], -1)`` as Shape -> Gather -> Unsqueeze ->
  Concat -> Reshape.
* ``brevitas_flatten_all_raw.onnx``: chisel4ml's Brevitas test shape, QuantConv2d ->
  QuantReLU -> ``torch.flatten(x)`` (Reshape to [-1], the batch axis gone) -> QuantLinear with
  an output quantizer, exported raw (no cleanup: Brevitas writes Shape -> Slice -> Concat).

Weights are random (seeded) codes on the 4-bit grid; nothing is trained: the tests check
exactness, not accuracy. Needs the ``train`` extra (torch==2.13.0, brevitas==0.13.4):

    python scripts/make_legacy_fixtures.py [--out tests/fixtures/wild]
"""
import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

warnings.filterwarnings("ignore")

import brevitas.nn as qnn  # noqa: E402
from brevitas.export import export_qonnx  # noqa: E402
from brevitas.quant import (  # noqa: E402
    Int8ActPerTensorFixedPoint,
    Int8WeightPerTensorFixedPoint,
    Uint8ActPerTensorFixedPoint,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from wild_models import to_legacy  # noqa: E402


class LegacyMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=4)
        self.fc0 = qnn.QuantLinear(36, 16, bias=True, weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=4)
        self.act = qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=4)
        self.fc1 = qnn.QuantLinear(16, 4, bias=False, weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=4)

    def forward(self, x):
        x = self.inp(x)
        x = x.view(x.shape[0], -1)
        return self.fc1(self.act(self.fc0(x)))


class FlattenAllCNN(nn.Module):
    """As chisel4ml's tests/brevitas_models.py: conv layers, then torch.flatten, then dense layers."""

    def __init__(self):
        super().__init__()
        self.conv = qnn.QuantConv2d(2, 3, 3, padding=1, bias=False, weight_quant=Int8WeightPerTensorFixedPoint,
                                    weight_bit_width=4, input_quant=Int8ActPerTensorFixedPoint,
                                    input_bit_width=6)
        self.act = qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=4)
        self.fc = qnn.QuantLinear(3 * 4 * 4, 5, bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                                  weight_bit_width=4, output_quant=Int8ActPerTensorFixedPoint, output_bit_width=8)

    def forward(self, x):
        return self.fc(torch.flatten(self.act(self.conv(x))))


def randomize(model, rng):
    """Weights on a 4-bit power-of-two grid (scale 1/8), 30 % zeros; biases on a 1/16 grid."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (qnn.QuantLinear, qnn.QuantConv2d)):
                codes = rng.integers(-8, 8, size=module.weight.shape)
                codes[rng.random(codes.shape) < 0.3] = 0
                module.weight.copy_(torch.tensor(codes / 8.0, dtype=torch.float32))
                if module.bias is not None:
                    module.bias.copy_(torch.tensor(rng.integers(-8, 8, module.bias.shape) / 16.0,
                                                   dtype=torch.float32))
    return model.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "wild"))
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)

    raw = out / "_raw_mlp.onnx"
    export_qonnx(randomize(LegacyMLP(), rng), torch.randn(1, 1, 6, 6), str(raw), dynamo=False)
    onnx.save(to_legacy(onnx.load(str(raw))), str(out / "brevitas_mlp_legacy.onnx"))
    raw.unlink()
    export_qonnx(randomize(FlattenAllCNN(), rng), torch.randn(1, 2, 4, 4), str(out / "brevitas_flatten_all_raw.onnx"),
                 dynamo=False)
    for path in sorted(out.glob("*.onnx")):
        model = onnx.load(str(path))
        print(f"{path.name}: {path.stat().st_size} bytes, ir {model.ir_version}, "
              f"{[n.op_type for n in model.graph.node]}")


if __name__ == "__main__":
    main()
