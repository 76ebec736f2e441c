#!/usr/bin/env python3
"""Regenerate the Brevitas fixtures with zero-points and FP8 (tests/fixtures/zero_point_float).

Deterministic (fixed seed): two 16-24-5 MLPs, calibrated by 20 training-mode forward passes
on uniform inputs in [-0.5, 2.5), exported with `export_qonnx(dynamo=False)`:

* `shifted_uint8_mlp.onnx`: QuantIdentity(ShiftedUint8ActPerTensorFixedPoint) -> QuantLinear
  (Int8WeightPerTensorFixedPoint, float bias) -> QuantIdentity(ShiftedUint8ActPerTensorFixedPoint)
  -> QuantLinear: unsigned 8-bit activations with zero-points (power-of-two scales: bit-exact).
* `fp8_e4m3_mlp.onnx`: QuantIdentity(Fp8e4m3OCPActPerTensorFloat) -> QuantLinear
  (Fp8e4m3OCPWeightPerTensorFloat) -> QuantIdentity(FP8) -> QuantLinear(FP8 weights), scales
  restricted to powers of two, and an FP8 QuantIdentity on the output: FloatQuant E4M3,
  bias 7, max_val 448, saturating.

* `zero_point_fp8_cnn.onnx` (1x6x6 input): ShiftedUint8 input -> QuantConv2d 3x3 pad 1 ->
  ShiftedUint8 -> MaxPool2d -> QuantConv2d 3x3 pad 1 (FP8 weights) -> FP8 -> QuantLinear (FP8
  weights) -> FP8: zero-points through zero padding and pooling, minifloat convolutions.

Cleanup is qonnx's `cleanup_model` steps with FloatQuant kept out of FoldConstants:
`cleanup_model` itself folds FloatQuant weight quantizers into float constants (it keeps only
Quant/BipolarQuant), after which the weights are plain floats the flow cannot take.

    python scripts/make_brevitas_zero_point_float_fixtures.py [--out tests/fixtures/zero_point_float]
"""
import argparse
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

warnings.filterwarnings("ignore")

import brevitas.nn as qnn  # noqa: E402
from brevitas.core.restrict_val import RestrictValueType  # noqa: E402
from brevitas.export import export_qonnx  # noqa: E402
from brevitas.quant import Int8WeightPerTensorFixedPoint, ShiftedUint8ActPerTensorFixedPoint  # noqa: E402
from brevitas.quant.float_quant_ocp import Fp8e4m3OCPActPerTensorFloat, Fp8e4m3OCPWeightPerTensorFloat  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402
from qonnx.transformation.fold_constants import FoldConstants  # noqa: E402
from qonnx.transformation.general import (  # noqa: E402
    GiveReadableTensorNames,
    GiveUniqueNodeNames,
    GiveUniqueParameterTensors,
    RemoveStaticGraphInputs,
    RemoveUnusedTensors,
)
from qonnx.transformation.infer_shapes import InferShapes  # noqa: E402
from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit  # noqa: E402


class Po2Fp8Act(Fp8e4m3OCPActPerTensorFloat):
    restrict_scaling_type = RestrictValueType.POWER_OF_TWO


class Po2Fp8Weight(Fp8e4m3OCPWeightPerTensorFloat):
    restrict_scaling_type = RestrictValueType.POWER_OF_TWO


def mlp(act_quant, weight_quant, bias, quantized_output=False):
    layers = [
        qnn.QuantIdentity(act_quant=act_quant, return_quant_tensor=True),
        qnn.QuantLinear(16, 24, bias=bias, weight_quant=weight_quant),
        qnn.QuantIdentity(act_quant=act_quant, return_quant_tensor=True),
        qnn.QuantLinear(24, 5, bias=False, weight_quant=weight_quant)]
    if quantized_output:
        layers.append(qnn.QuantIdentity(act_quant=act_quant))
    return nn.Sequential(*layers)


class MixedCNN(nn.Module):
    """Zero-point activations into padded convolutions and a max pool, then FP8 (E4M3)."""

    def __init__(self):
        super().__init__()
        self.inp = qnn.QuantIdentity(act_quant=ShiftedUint8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.conv0 = qnn.QuantConv2d(1, 4, 3, padding=1, bias=True, weight_quant=Int8WeightPerTensorFixedPoint)
        self.act0 = qnn.QuantIdentity(act_quant=ShiftedUint8ActPerTensorFixedPoint, return_quant_tensor=True)
        self.pool = nn.MaxPool2d(2)
        self.conv1 = qnn.QuantConv2d(4, 4, 3, padding=1, bias=False, weight_quant=Po2Fp8Weight)
        self.act1 = qnn.QuantIdentity(act_quant=Po2Fp8Act, return_quant_tensor=True)
        self.fc = qnn.QuantLinear(36, 5, bias=False, weight_quant=Po2Fp8Weight)
        self.out = qnn.QuantIdentity(act_quant=Po2Fp8Act)

    def forward(self, x):
        x = self.act1(self.conv1(self.pool(self.act0(self.conv0(self.inp(x))))))
        return self.out(self.fc(x.flatten(1)))


def cleanup_keeping_floatquant(model):
    for t in [InferShapes(), GiveUniqueParameterTensors(),
              FoldConstants(exclude_op_types=["Quant", "BipolarQuant", "FloatQuant"]),
              FoldTransposeIntoQuantInit(), RemoveUnusedTensors(), RemoveStaticGraphInputs(),
              GiveUniqueNodeNames(), GiveReadableTensorNames()]:
        model = model.transform(t)
    return model


def export(net, path, shape=(16,)):
    torch.manual_seed(0)
    net.train()
    with torch.no_grad():
        for _ in range(20):
            net(torch.rand(64, *shape) * 3 - 0.5)
    net.eval()
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        export_qonnx(net, torch.rand(1, *shape), export_path=str(raw), dynamo=False)
        cleanup_keeping_floatquant(ModelWrapper(str(raw))).save(str(path))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/zero_point_float")
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    export(mlp(ShiftedUint8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, True), out / "shifted_uint8_mlp.onnx")
    torch.manual_seed(1)
    export(mlp(Po2Fp8Act, Po2Fp8Weight, False, quantized_output=True), out / "fp8_e4m3_mlp.onnx")
    torch.manual_seed(2)
    export(MixedCNN(), out / "zero_point_fp8_cnn.onnx", shape=(1, 6, 6))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
