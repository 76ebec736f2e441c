#!/usr/bin/env python3
"""Brevitas' own example networks (``brevitas_examples``) as raw QONNX exports.

Instantiates, with seeded random weights, the networks Brevitas ships as examples:

* BNN-PYNQ (``brevitas_examples.bnn_pynq.models``, the FINN reference designs): TFC, SFC, LFC
  (MNIST MLPs 784-{64,256,1024}x3-10) and CNV (the CIFAR-10 VGG-like CNN) at every
  configuration Brevitas has a ``cfg/*.ini`` for (1w1a, 1w2a, 2w2a), plus the CIFAR-10
  ``resnet18_4w4a``;
* ImageNet (``brevitas_examples.imagenet_classification.models``): quant MobileNet-v1 (4 bit)
  and ProxylessNAS mobile14 (4 bit), full size (224x224);
* small variants built from the *same classes* with reduced sizes (``FC`` with 8x8 inputs,
  ``CNV`` with its module-level channel table narrowed, ``MobileNet``/``ProxylessNAS`` with a
  few narrow stages on 32x32/28x28 inputs) so that the circuit fits a Verilator build.

Each is calibrated (a few forward passes in train mode on random inputs: BatchNorm running
statistics and Brevitas' runtime-statistics activation scales come from the data, so the
codes vary; BN momentum is cumulative) and exported the way a user does it: a bare
``export_qonnx(model, input, path, dynamo=False)``, no qonnx cleanup.

``python scripts/make_brevitas_example_fixtures.py`` writes the exports below 500 KB to
``tests/fixtures/examples/`` (+ ``manifest.json``); ``--all`` writes every network (the big
ones are for a temp dir: ``--out /tmp/x --all``); ``--measure`` additionally runs each export
through InferLBIR and LBIR numpy against ``execute_onnx`` on the raw export and prints the
table (lowers, exact, times, estimated operators).  ``tests/e2e/test_brevitas_examples.py``
imports ``build`` / ``export`` from here to regenerate the big ones at test time.

Needs the ``train`` extra (torch==2.13.0, brevitas==0.13.4 with brevitas_examples).
"""
import argparse
import contextlib
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

warnings.filterwarnings("ignore")

import brevitas.nn as qnn  # noqa: E402
from brevitas.export import export_qonnx  # noqa: E402
from brevitas.quant import Int8ActPerTensorFloat  # noqa: E402
from brevitas_examples.bnn_pynq.models import CNV as cnv_module  # noqa: E402
from brevitas_examples.bnn_pynq.models import model_with_cfg as bnn_pynq_model  # noqa: E402
from brevitas_examples.bnn_pynq.models.FC import FC  # noqa: E402
from brevitas_examples.bnn_pynq.models.resnet import QuantBasicBlock, make_quant_conv2d  # noqa: E402
from brevitas_examples.imagenet_classification.models import model_with_cfg as imagenet_model  # noqa: E402
from brevitas_examples.imagenet_classification.models.mobilenetv1 import MobileNet  # noqa: E402
from brevitas_examples.imagenet_classification.models.proxylessnas import ProxylessNAS  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402

from qonnx_c4ml.reference import execute  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_brevitas_cnn_fixtures import activation_stats, describe_nodes, scale_kind  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "examples"
SEED = 0
MAX_COMMITTED_BYTES = 500_000
CALIBRATION_BATCHES, CALIBRATION_BATCH = 8, 16


# ----------------------------------------------------------------------------- networks
def bnn_pynq(name):
    return lambda: bnn_pynq_model(name, pretrained=False)[0]


def imagenet(name):
    return lambda: imagenet_model(name, pretrained=None)[0]


def small_fc(wb, ab, ib, hidden=(16, 16, 16)):
    """brevitas_examples' FC class (TFC/SFC/LFC) on an 8x8 image with narrow hidden layers."""
    return lambda: FC(num_classes=10, weight_bit_width=wb, act_bit_width=ab, in_bit_width=ib,
                      in_channels=1, out_features=list(hidden), in_features=(8, 8))


@contextlib.contextmanager
def cnv_channels(conv, fc, last):
    """CNV's topology lives in module constants; narrow them while the class is instantiated."""
    saved = cnv_module.CNV_OUT_CH_POOL, cnv_module.INTERMEDIATE_FC_FEATURES, cnv_module.LAST_FC_IN_FEATURES
    cnv_module.CNV_OUT_CH_POOL, cnv_module.INTERMEDIATE_FC_FEATURES, cnv_module.LAST_FC_IN_FEATURES = conv, fc, last
    try:
        yield
    finally:
        cnv_module.CNV_OUT_CH_POOL, cnv_module.INTERMEDIATE_FC_FEATURES, cnv_module.LAST_FC_IN_FEATURES = saved


def small_cnv(wb, ab):
    """The CNV class (32x32x3, 6 conv 3x3 unpadded, 2 maxpools, 3 linears) with 4-16 channels."""
    def build():
        with cnv_channels([(4, False), (4, True), (8, False), (8, True), (16, False), (16, False)],
                          [(16, 16), (16, 16)], 16):
            return cnv_module.CNV(num_classes=10, weight_bit_width=wb, act_bit_width=ab, in_bit_width=8, in_ch=3)
    return build


def small_mobilenet(round_average_pool=False):
    """The MobileNet class: init conv s2 (unpadded) + 3 depthwise-separable blocks, 4 bit, 32x32."""
    # 32 -> init 3x3 s2 p0 -> 15 -> dws s1 -> 15 -> dws s2 -> 8 -> dws s1 -> 8 -> TruncAvgPool 8
    return lambda: MobileNet(channels=[[8], [16], [16, 32]], first_stage_stride=False, act_bit_width=4,
                             weight_bit_width=4, round_average_pool=round_average_pool, last_layer_bit_width=4,
                             avg_pool_kernel_size=8, in_channels=3, num_classes=10)


def small_proxylessnas():
    """The ProxylessNAS class: init conv s2, a plain block and an inverted-residual stage with a
    shortcut, final 1x1 block, TruncAvgPool 7 (fixed in the class) on 28x28."""
    return lambda: ProxylessNAS(channels=[[8], [16, 16]], init_block_channels=8, final_block_channels=32,
                                residuals=[[1], [1, 1]], shortcuts=[[0], [0, 1]], kernel_sizes=[[3], [3, 5]],
                                expansions=[[1], [3, 3]], bit_width=4, depthwise_bit_width=4,
                                first_layer_weight_bit_width=8, hadamard_classifier=False,
                                round_average_pool=False, in_channels=3, num_classes=10)


def mid_proxylessnas():
    """The first three stages of ProxylessNAS mobile14 as the ImageNet config has them (kernels
    3/5/7, expansions 3, residual shortcuts, per-channel expansion activations) on 56x56."""
    return lambda: ProxylessNAS(channels=[[24], [40, 40, 40, 40], [56, 56, 56, 56]], init_block_channels=48,
                                final_block_channels=128, residuals=[[1], [1, 1, 0, 0], [1, 1, 1, 1]],
                                shortcuts=[[0], [0, 1, 1, 1], [0, 1, 1, 1]],
                                kernel_sizes=[[3], [5, 3, 3, 3], [7, 3, 5, 5]],
                                expansions=[[1], [3, 3, 3, 3], [3, 3, 3, 3]], bit_width=4, depthwise_bit_width=4,
                                first_layer_weight_bit_width=8, hadamard_classifier=False,
                                round_average_pool=False, in_channels=3, num_classes=10)


class QuantResNet8(nn.Module):
    """MLPerf Tiny's CIFAR-10 ResNet-8 topology (a 3x3 stem, then one basic block per stage with
    `planes` channels, stride 2 and a 1x1 downsample shortcut from the second stage on, an average
    pool over the last feature map, a linear classifier) assembled like brevitas_examples'
    QuantResNet (bnn_pynq/models/resnet.py: its QuantBasicBlock, shared ReLU quantizers along
    each residual add, TruncAvgPool2d to 8 bit, 8-bit last layer), behind an 8-bit input
    QuantIdentity.  QuantResNet itself fixes 64-512 channels and four stages."""

    def __init__(self, planes=(16, 32, 64), weight_bit_width=2, act_bit_width=4, pool=8, num_classes=10):
        super().__init__()
        from brevitas.quant import Int8WeightPerChannelFloat, Int8WeightPerTensorFloat, Int32Bias, TruncTo8bit

        self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=8, return_quant_tensor=True)
        self.conv1 = make_quant_conv2d(3, planes[0], kernel_size=3, stride=1, padding=1, weight_bit_width=8,
                                       weight_quant=Int8WeightPerChannelFloat)
        self.bn1 = nn.BatchNorm2d(planes[0])
        shared = qnn.QuantReLU(bit_width=act_bit_width, return_quant_tensor=True)
        self.relu = shared
        blocks, in_planes = [], planes[0]
        for stage, width in enumerate(planes):
            block = QuantBasicBlock(in_planes, width, stride=1 if stage == 0 else 2, shared_quant_act=shared,
                                    act_bit_width=act_bit_width, weight_bit_width=weight_bit_width,
                                    weight_quant=Int8WeightPerChannelFloat)
            blocks.append(block)
            shared, in_planes = block.relu_out, width
        self.blocks = nn.Sequential(*blocks)
        self.final_pool = qnn.TruncAvgPool2d(kernel_size=pool, trunc_quant=TruncTo8bit, float_to_int_impl_type="FLOOR")
        self.linear = qnn.QuantLinear(planes[-1], num_classes, weight_bit_width=8, bias=True, bias_quant=Int32Bias,
                                      weight_quant=Int8WeightPerTensorFloat)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(self.inp(x))))
        out = self.final_pool(self.blocks(out))
        return self.linear(out.view(out.size(0), -1))


def resnet8(planes=(16, 32, 64), weight_bit_width=2, act_bit_width=4, pool=8):
    return lambda: QuantResNet8(planes, weight_bit_width, act_bit_width, pool)


class WithInputQuant(nn.Module):
    """A user's fix for the ImageNet/ResNet examples, which have no input quantizer (they
    assume 8-bit RGB): an 8-bit QuantIdentity in front."""

    def __init__(self, body):
        super().__init__()
        self.inp = qnn.QuantIdentity(act_quant=Int8ActPerTensorFloat, bit_width=8, return_quant_tensor=True)
        self.body = body

    def forward(self, x):
        return self.body(self.inp(x))


def with_input_quant(build):
    return lambda: WithInputQuant(build())


MNIST, CIFAR, IMAGENET = (1, 1, 28, 28), (1, 3, 32, 32), (1, 3, 224, 224)

# name -> family, variant, build, input shape, input distribution ("unit": [0, 1] pixels as
# the BNN-PYNQ models expect before their 2x-1; "normal": normalized images), description
NETWORKS = {}
for _net, _cfgs in (("tfc", ("1w1a", "1w2a", "2w2a")), ("sfc", ("1w1a", "1w2a", "2w2a")),
                    ("lfc", ("1w1a", "1w2a")), ("cnv", ("1w1a", "1w2a", "2w2a"))):
    for _cfg in _cfgs:
        NETWORKS[f"{_net}_{_cfg}"] = dict(
            family="bnn_pynq", variant=f"full, cfg {_net}_{_cfg}.ini", build=bnn_pynq(f"{_net}_{_cfg}"),
            in_shape=CIFAR if _net == "cnv" else MNIST, inputs="unit", big=_net != "tfc",
            desc=f"brevitas_examples.bnn_pynq model_with_cfg('{_net}_{_cfg}', pretrained=False)")
for _cfg, (_wb, _ab, _ib) in {"1w1a": (1, 1, 1), "1w2a": (1, 2, 1), "2w2a": (2, 2, 2)}.items():
    NETWORKS[f"fc_small_{_cfg}"] = dict(
        family="bnn_pynq", variant="small: FC class, 8x8 input, 16-16-16 hidden", build=small_fc(_wb, _ab, _ib),
        in_shape=(1, 1, 8, 8), inputs="unit",
        desc=f"bnn_pynq FC(in_features=(8, 8), out_features=[16, 16, 16], {_cfg}) (TFC/SFC/LFC topology, narrow)")
for _cfg, (_wb, _ab) in {"1w1a": (1, 1), "2w2a": (2, 2)}.items():
    NETWORKS[f"cnv_small_{_cfg}"] = dict(
        family="bnn_pynq", variant="small: CNV class, channels 4/4/8/8/16/16, fc 16", build=small_cnv(_wb, _ab),
        in_shape=CIFAR, inputs="unit",
        desc=f"bnn_pynq CNV({_cfg}, 8-bit input) with CNV_OUT_CH_POOL narrowed to 4-16 channels")
NETWORKS["resnet18_4w4a"] = dict(
    family="bnn_pynq (CIFAR-10)", variant="full, cfg resnet18_4w4a.ini", build=bnn_pynq("resnet18_4w4a"),
    in_shape=CIFAR, inputs="normal", big=True, desc="bnn_pynq quant_resnet18 (4w4a, 8-bit first/last layer), no input quantizer")
NETWORKS["resnet18_4w4a_inq"] = dict(
    NETWORKS["resnet18_4w4a"], variant="full + 8-bit input QuantIdentity",
    build=with_input_quant(bnn_pynq("resnet18_4w4a")), desc="resnet18_4w4a behind an Int8ActPerTensorFloat QuantIdentity")
NETWORKS["resnet8_w2a4"] = dict(
    family="bnn_pynq (CIFAR-10)", variant="ResNet-8 (MLPerf Tiny topology) of QuantBasicBlocks, 16-32-64 ch",
    build=resnet8(), in_shape=CIFAR, inputs="normal", big=True,
    desc="QuantResNet8: brevitas_examples QuantBasicBlock x3 (2-bit weights, 4-bit ReLUs), 8-bit stem/classifier")
NETWORKS["resnet8_small_w2a4"] = dict(
    NETWORKS["resnet8_w2a4"], variant="small: ResNet-8 of QuantBasicBlocks, 4-8-8 ch, 16x16",
    build=resnet8(planes=(4, 8, 8), pool=4), in_shape=(1, 3, 16, 16), big=False,
    desc="QuantResNet8(planes=(4, 8, 8)) on 16x16: the ResNet-8 topology narrowed")
for _name, _arch in (("mobilenet_v1_4b", "quant_mobilenet_v1_4b"), ("proxylessnas_mobile14_4b", "quant_proxylessnas_mobile14_4b")):
    NETWORKS[_name] = dict(family="imagenet", variant=f"full, cfg {_arch}.ini", build=imagenet(_arch),
                           in_shape=IMAGENET, inputs="normal", big=True,
                           desc=f"imagenet_classification model_with_cfg('{_arch}'), no input quantizer")
    NETWORKS[_name + "_inq"] = dict(NETWORKS[_name], variant="full + 8-bit input QuantIdentity",
                                    build=with_input_quant(imagenet(_arch)),
                                    desc=f"{_arch} behind an Int8ActPerTensorFloat QuantIdentity")
NETWORKS["mobilenet_small"] = dict(family="imagenet", variant="small: MobileNet class, 8-32 ch, 32x32",
                                   build=small_mobilenet(), in_shape=(1, 3, 32, 32), inputs="normal",
                                   desc="MobileNet(channels=[[8],[16],[16,32]]) 4 bit, no input quantizer")
NETWORKS["mobilenet_small_inq"] = dict(NETWORKS["mobilenet_small"], variant="small + 8-bit input QuantIdentity",
                                       build=with_input_quant(small_mobilenet()),
                                       desc="small MobileNet behind an Int8ActPerTensorFloat QuantIdentity")
NETWORKS["mobilenet_small_round_inq"] = dict(
    NETWORKS["mobilenet_small_inq"], variant="small + input QuantIdentity, round TruncAvgPool",
    build=with_input_quant(small_mobilenet(round_average_pool=True)),
    desc="small MobileNet with round_average_pool=True (cfg quant_mobilenet_v1_4b_round_avgpool's setting)")
NETWORKS["proxylessnas_small"] = dict(family="imagenet", variant="small: ProxylessNAS class, 8-48 ch, 28x28",
                                      build=small_proxylessnas(), in_shape=(1, 3, 28, 28), inputs="normal",
                                      desc="ProxylessNAS 2 stages (one residual shortcut) 4 bit, no input quantizer")
# (hadamard_classifier=True, cfg quant_proxylessnas_mobile14_hadamard_4b, cannot run in Brevitas 0.13.4:
# HadamardClassifier.forward evaluates `(self.return_quant_tensor and inp.zero_point != 0.0).any()`,
# which is a bool's .any() -> AttributeError whenever return_quant_tensor is False, as in ProxylessNAS)
NETWORKS["proxylessnas_small_inq"] = dict(NETWORKS["proxylessnas_small"],
                                          variant="small + 8-bit input QuantIdentity",
                                          build=with_input_quant(small_proxylessnas()),
                                          desc="small ProxylessNAS behind an Int8ActPerTensorFloat QuantIdentity")

NETWORKS["proxylessnas_mid_inq"] = dict(
    NETWORKS["proxylessnas_small_inq"], variant="first 3 stages of mobile14 + input QuantIdentity, 56x56",
    build=with_input_quant(mid_proxylessnas()), in_shape=(1, 3, 56, 56), big=True,
    desc="ProxylessNAS mobile14 stages 1-3 (24/40/56 channels, kernels 3/5/7, shortcuts) behind an input QuantIdentity")


# ----------------------------------------------------------------------------- build / export
def sample_inputs(name, n, seed):
    """`n` inputs of the network's kind (seeded numpy)."""
    cfg = NETWORKS[name]
    rng = np.random.default_rng(seed)
    shape = (n,) + tuple(cfg["in_shape"][1:])
    if cfg["inputs"] == "unit":
        return rng.random(shape).astype(np.float32)
    return rng.normal(0, 1, shape).astype(np.float32)


def calibrate(model, name):
    """Forward passes in train mode (no gradients): BN running stats (cumulative average) and
    runtime-statistics activation scales adapt to the data, so no layer is stuck at 0."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for i in range(CALIBRATION_BATCHES):
            model(torch.from_numpy(sample_inputs(name, CALIBRATION_BATCH, SEED + 100 + i)))
    model.eval()
    return model


def build(name):
    """The calibrated torch model (deterministic)."""
    torch.manual_seed(SEED)
    return calibrate(NETWORKS[name]["build"](), name)


def export(name, path):
    """Raw export as a user does it: export_qonnx(dynamo=False), nothing else."""
    torch.set_num_threads(1)
    model = build(name)
    export_qonnx(model, torch.from_numpy(sample_inputs(name, 1, SEED)), str(path), dynamo=False)
    return model


def torch_out(model, x):
    with torch.no_grad():
        o = model(torch.from_numpy(x))
    return (o.value if hasattr(o, "value") else o).numpy()


# ----------------------------------------------------------------------------- measurement
def measure(name, path, samples=64, rtl_check=None):
    """InferLBIR + LBIR numpy against execute_onnx on the raw export; returns a result dict."""
    from qonnx_c4ml.errors import C4mlError
    from qonnx_c4ml.transformations import InferLBIR
    from qonnx_c4ml.lbir.graph import lbir_graph
    from qonnx_c4ml.transformations.generate_circuit import estimate_operators
    from qonnx_c4ml.comparison import compare, output_lsb
    from qonnx.custom_op.registry import getCustomOp

    original = ModelWrapper(str(path))
    x = sample_inputs(name, samples, SEED + 1)
    res = {"name": name, "onnx_bytes": path.stat().st_size, "scales": scale_kind(original)}
    start = time.perf_counter()
    reference = execute(original, x)
    res["reference_s"] = round(time.perf_counter() - start, 3)
    res["outputs_distinct"] = int(len({r.tobytes() for r in reference.reshape(len(x), -1)}))
    res["output_std"] = float(reference.std(axis=0).mean())
    stats = activation_stats(original, x[:8])  # Quant/Trunc activations (BipolarQuant is never 0)
    res["min_nonzero_codes"] = min((s["nonzero"] for s in stats.values()), default=None)
    res["max_saturated_codes"] = max((s["saturated"] for s in stats.values()), default=None)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        lbir = original.transform(InferLBIR())
    except C4mlError as error:
        res.update(lowers=False, error=str(error), infer_s=round(time.perf_counter() - start, 3))
        return res
    res.update(lowers=True, infer_s=round(time.perf_counter() - start, 3),
               infer_cpu_s=round(time.process_time() - cpu, 3))
    nodes = lbir_graph(lbir)[0]
    res["lbir_ops"] = {op: sum(n.op_type == op for n in nodes) for op in sorted({n.op_type for n in nodes})}
    res["operators"] = int(sum(estimate_operators(getCustomOp(n)) for n in nodes))
    start, cpu = time.perf_counter(), time.process_time()
    result = execute(lbir, x)
    res["lbir_exec_s"] = round(time.perf_counter() - start, 3)
    res["lbir_exec_cpu_s"] = round(time.process_time() - cpu, 3)
    c = compare("lbir", reference, result, output_lsb(lbir), 0)
    res.update(exact_fraction=c.exact_fraction, same_code_fraction=c.same_code_fraction,
               max_diff_lsb=c.max_diff_lsb, lsb=output_lsb(lbir))
    res["exact"] = c.exact_fraction == 1.0 if res["scales"] == "po2" else (
        c.same_code_fraction >= 0.999 and c.max_diff_lsb <= 1.0)
    return res


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--only", nargs="*", help="networks (default: the small ones, which are committed)")
    ap.add_argument("--all", action="store_true", help="keep exports above 500 KB too")
    ap.add_argument("--measure", action="store_true")
    ap.add_argument("--results", help="with --measure: write the measurements (JSON) here")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--reuse", action="store_true", help="measure an existing export instead of exporting again")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mpath = out / "manifest.json"
    manifest = json.loads(mpath.read_text()) if mpath.exists() else {}
    manifest["_about"] = (
        "made by scripts/make_brevitas_example_fixtures.py: brevitas_examples networks (Brevitas 0.13.4), seeded "
        "random weights (torch.manual_seed(0)) calibrated by 8 train-mode batches of 16 seeded random inputs, "
        "raw export_qonnx(dynamo=False) without cleanup; only exports below 500 KB are committed, the "
        "others are regenerated at test time by the same script")
    results = {}
    for name in args.only or [n for n in NETWORKS if not NETWORKS[n].get("big")]:
        path = out / f"{name}.onnx"
        start = time.perf_counter()
        diff = None
        if not (args.reuse and path.exists()):
            model = export(name, path)
            x = sample_inputs(name, 2, SEED + 2)
            diff = float(np.abs(execute(ModelWrapper(str(path)), x) - torch_out(model, x)).max())
        export_s = time.perf_counter() - start
        mw = ModelWrapper(str(path))
        size = path.stat().st_size
        entry = {"file": path.name, "description": NETWORKS[name]["desc"], "variant": NETWORKS[name]["variant"],
                 "input_shape": list(NETWORKS[name]["in_shape"]), "inputs": NETWORKS[name]["inputs"],
                 "scales": scale_kind(mw), "onnx_bytes": size, "torch_vs_qonnx_max_abs_diff": diff,
                 "ops": [n.op_type for n in mw.graph.node]}
        if size < MAX_COMMITTED_BYTES and out == OUT:
            entry["nodes"] = describe_nodes(mw)
        line = f"{name:28s} {size / 1e3:9.0f} KB export {export_s:5.1f} s {entry['scales']} |torch-qonnx| {diff}"
        if args.measure:
            res = results[name] = measure(name, path, args.samples)
            line += (f" lowers={res['lowers']} " + (
                f"exact={res['exact']} ({res['exact_fraction']:.4f} bit-exact, {res['same_code_fraction']:.4f} "
                f"same code, {res['max_diff_lsb']:.3g} LSB) infer {res['infer_s']} s (cpu {res['infer_cpu_s']}) "
                f"lbir {res['lbir_exec_s']} s (cpu {res['lbir_exec_cpu_s']}) "
                f"ops {res['operators']:,} distinct outputs {res['outputs_distinct']}/{args.samples} "
                f"nonzero>={res['min_nonzero_codes']} saturated<={res['max_saturated_codes']}"
                if res["lowers"] else f"infer {res['infer_s']} s ERROR {res['error']}"))
        print(line, flush=True)
        if size >= MAX_COMMITTED_BYTES and not args.all:
            path.unlink()
            manifest.pop(name, None)
            continue
        manifest[name] = entry
        mpath.write_text(json.dumps(manifest, indent=1) + "\n")
    if args.results:
        Path(args.results).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
