#!/usr/bin/env python3
"""Brevitas exports of brevitas_examples' quant MobileNet-v1 (random weights), for the exact
reference and the layerwise check of `verify`.

brevitas_examples' `MobileNet` (imagenet_classification/models/mobilenetv1.py): 4-bit
per-channel weights (8-bit first layer), depthwise 3x3 + pointwise 1x1 blocks with
BatchNorm and float-scale QuantReLU (per-channel in all but the last stage), a
TruncAvgPool2d (FLOOR) and an 8-bit QuantLinear with Int32 bias; in front of it an 8-bit
QuantIdentity input quantizer (the model itself takes float input, which the circuit
cannot). BatchNorm statistics and affine parameters are randomized and the activation
scales calibrated by a few forward passes on random images, so every layer carries signal.

    python scripts/make_brevitas_mobilenet.py tiny OUT.onnx      # the test fixture (< 300 KB)
    python scripts/make_brevitas_mobilenet.py full OUT.onnx [--width 0.25 --size 64]

`tiny`: 3x16x16 input, channels [[8], [16], [16]] (init conv + 2 depthwise-separable
blocks), pool 4x4, 10 classes. `full`: the real channel plan [[32], [64], [128, 128],
[256, 256], [512]*6, [1024, 1024]] times --width, input --size (a multiple of 32; the
final pool covers the whole size/32 map, 7 at 224 as in the original), 1000 classes.
"""
import argparse
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

warnings.filterwarnings("ignore")

import brevitas.nn as qnn  # noqa: E402
from brevitas.export import export_qonnx  # noqa: E402
from brevitas.quant import Int8ActPerTensorFloat  # noqa: E402
from brevitas_examples.imagenet_classification.models.mobilenetv1 import MobileNet  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402
from qonnx.util.cleanup import cleanup_model  # noqa: E402

FULL_CHANNELS = [[32], [64], [128, 128], [256, 256], [512, 512, 512, 512, 512, 512], [1024, 1024]]


def build(channels, size, classes, seed=0):
    torch.manual_seed(seed)
    net = MobileNet(channels=channels, first_stage_stride=False, round_average_pool=False, act_bit_width=4,
                    weight_bit_width=4, last_layer_bit_width=4, avg_pool_kernel_size=size // 32 if size >= 64
                    else size // 4, num_classes=classes, first_layer_stride=2)
    model = nn.Sequential(qnn.QuantIdentity(Int8ActPerTensorFloat, bit_width=8, return_quant_tensor=True), net)
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.weight.data = 0.5 + torch.rand(n, generator=generator)
            module.bias.data = 0.2 * torch.randn(n, generator=generator)
    model.train()
    with torch.no_grad():  # BatchNorm running statistics and activation scale statistics
        for _ in range(4):
            model(torch.randn(8, 3, size, size, generator=generator))
    return model.eval()


def export(model, size, out_path):
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        export_qonnx(model, torch.randn(1, 3, size, size), str(raw), dynamo=False)
        cleaned = cleanup_model(ModelWrapper(str(raw)))
    cleaned.save(str(out_path))
    return cleaned


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["tiny", "full"])
    parser.add_argument("out")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.kind == "tiny":
        size, model = 16, build([[8], [16], [16]], 16, 10, args.seed)
    else:
        channels = [[max(1, int(c * args.width)) for c in stage] for stage in FULL_CHANNELS]
        size, model = args.size, build(channels, args.size, 1000, args.seed)
    export(model, size, args.out)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size} bytes)")
    return np.int64(0)


if __name__ == "__main__":
    main()
