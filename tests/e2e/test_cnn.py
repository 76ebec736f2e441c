"""Convolutional networks (real Brevitas exports in tests/fixtures/cnn, made by
scripts/make_brevitas_cnn_fixtures.py) through the whole flow, fully parallel: RTL against
qonnx `execute_onnx` on the original model.

- every small fixture (chisel4ml's 6x6x3 CNN, stride/pad/Pad node, depthwise-separable with
  BatchNorm, residual block, TruncAvgPool, global average pool), in NCHW and after qonnx's
  channels-last conversion: bit-exact on 500 inputs, one Verilator build for all of them;
- the MNIST CNNs on the 1,000 shipped test digits: power-of-two bit-exact with the
  accuracy kept; the float-scale one to the float32 rule of docs/ARCHITECTURE.md §2.4 (same
  code on >= 99.9 % of output elements, never more than 1 LSB), its measured rates printed;
- a residual block with pipeline=2, whose skip path needs delay registers;
- the streaming style (line-buffered conv/pool front, one pixel per cycle, fully parallel
  dense tail): MNIST bit-exact on the 1,000 digits, the small fixtures on 300 inputs each,
  with the initiation interval the harness counts;
- GlobalAveragePool as the accumulating stage (chisel/stream/global_pool.py) in the streaming
  and folded styles, with input gaps and back-pressure; the chooser never folds it.
"""
import json
from pathlib import Path

import numpy as np
import pytest
from residual_models import residual_lbir, with_pixel_dependent_add
from combined import CombinedCircuits, host_split, host_tail

from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.io import read_model
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim
from qonnx_c4ml.metadata import circuit_description
from qonnx_c4ml.comparison import compare, output_lsb
from qonnx_c4ml.reference import execute
from qonnx_c4ml.verify import random_inputs, verify

CNN = Path(__file__).resolve().parents[1] / "fixtures" / "cnn"
MANIFEST = json.loads((CNN / "manifest.json").read_text())
SMALL = ["chisel4ml_cnn", "conv_stride_pad", "depthwise_separable", "residual_block", "trunc_avgpool",
         "trunc_avgpool_a8", "global_avgpool"]
CHANNELS_LAST = ["chisel4ml_cnn", "conv_stride_pad", "depthwise_separable", "global_avgpool"]
SAMPLES = 500


def channels_last(model):
    return model.transform(ConvertToChannelsLastAndClean(make_input_channels_last=False))


def mnist_digits():
    data = np.load(CNN / "mnist_test.npz")
    return data["x_uint8"].astype(np.float32) / data["divisor"], data["y"]


def test_small_cnns_lbir_exact():
    """The numpy LBIR model alone (no Verilator): every fixture and layout, exact."""
    for name in SMALL:
        for layout in ("nchw", "channels_last"):
            model = read_model(CNN / MANIFEST[name]["file"])
            if layout == "channels_last":
                model = channels_last(model)
            report = verify(model, samples=200, seed=1, rtl=False)
            assert report.all_exact, (name, layout, report.table())


@pytest.mark.slow
def test_small_cnns_rtl_against_qonnx(tmp_path, record_property):
    cases = [(name, "nchw") for name in SMALL] + [(name, "channels_last") for name in CHANNELS_LAST]
    originals = []
    for name, layout in cases:
        model = read_model(CNN / MANIFEST[name]["file"])
        originals.append(channels_last(model) if layout == "channels_last" else model)
    lowered = [m.transform(InferLBIR()) for m in originals]
    combined = CombinedCircuits(lowered, tmp_path / "verilog")
    inputs = [random_inputs(m, SAMPLES, seed=i) for i, m in enumerate(originals)]
    splits = [host_split(m, x) for m, x in zip(lowered, inputs)]
    rtl_codes = combined.run_codes([codes for _, _, codes, _, _ in splits])
    failures = []
    for (name, layout), original, lbir, x, split, codes in zip(cases, originals, lowered, inputs, splits, rtl_codes):
        model, context, _, circuit_output, tail = split
        report = compare("rtl", execute(original, x), host_tail(model, context, tail, circuit_output, codes),
                         output_lsb(lbir), 0)
        ops = sorted({n.op_type for n in lbir.graph.node if n.domain == "qonnx_c4ml.lbir"})
        record_property("c4ml_summary", (
            f"CNN {name:20} {layout:13} RTL vs qonnx on {SAMPLES} inputs: bit-exact {report.exact_fraction:.4f} "
            f"(LBIR ops {', '.join(ops)})"))
        if report.exact_fraction != 1.0:
            failures.append((name, layout, report))
    assert not failures, failures


def stream_stats(simulated):
    """Cycle counts of the last streaming run of the model's RTLCircuit (counted by the harness)."""
    node = next(n for n in simulated.graph.node if n.op_type == "RTLCircuit")
    return getCustomOp(node).run_statistics()


def mnist_circuit(name, tmp_path, style):
    original = read_model(CNN / MANIFEST[name]["file"])
    generated = original.transform(InferLBIR()).transform(GenerateChiselCircuit(tmp_path / "verilog", style=style))
    assert circuit_description(generated).style == style
    return original, generated.transform(RTLSim())


@pytest.mark.slow
@pytest.mark.parametrize("style", ["parallel", "streaming"])
def test_mnist_cnn_po2_rtl_bit_exact_and_accurate(style, tmp_path, record_property):
    """The issue's acceptance CNN: conv3x3 -> ReLU -> maxpool -> conv3x3 -> ReLU -> maxpool ->
    dense, 4-bit power-of-two, trained on real MNIST digits; both circuit styles in RTL."""
    original, simulated = mnist_circuit("mnist_cnn_w4a4_po2", tmp_path, style)
    x, y = mnist_digits()
    reference, rtl = execute(original, x), execute(simulated, x)
    assert np.array_equal(rtl, reference)  # bit for bit, all 1,000 images
    accuracy = float((rtl.argmax(axis=1) == y).mean())
    assert accuracy == MANIFEST["mnist_cnn_w4a4_po2"]["accuracy_qonnx"] and accuracy > 0.9
    cycles = ""
    if style == "streaming":
        stats = stream_stats(simulated)
        assert stats["ii"] == 28 * 28 and stats["stall_cycles"] == 0  # one pixel per cycle, never stalled
        cycles = f", {stats['ii']} cycles per image, latency {stats['latency']} cycles"
    record_property("c4ml_summary", f"MNIST CNN w4a4 po2, {style} RTL: bit-exact on {len(y)} digits, "
                                    f"accuracy {accuracy:.3f} (qonnx {MANIFEST['mnist_cnn_w4a4_po2']['accuracy_qonnx']:.3f})"
                                    f"{cycles}")


@pytest.mark.slow
def test_mnist_cnn_float_scales_within_tolerance(tmp_path, record_property):
    """Brevitas default (float) scales: the threshold circuit is exact in rationals; the float32
    reference may differ only at ties (docs/ARCHITECTURE.md §2.4), never by more than 1 LSB."""
    original, simulated = mnist_circuit("mnist_cnn_w3a3_float", tmp_path, "streaming")
    x, y = mnist_digits()
    report = compare("rtl", execute(original, x), execute(simulated, x), output_lsb(simulated), 0)
    accuracy = float((execute(simulated, x).argmax(axis=1) == y).mean())
    record_property("c4ml_summary", (
        f"MNIST CNN w3a3 float scales, streaming RTL vs qonnx on {len(y)} digits: same code {report.same_code_fraction:.4f}, "
        f"bit-exact {report.exact_fraction:.4f}, max {report.max_diff_lsb:.3g} LSB, accuracy {accuracy:.3f}"))
    assert report.same_code_fraction >= 0.999 and report.max_diff_lsb <= 1.0
    assert abs(accuracy - MANIFEST["mnist_cnn_w3a3_float"]["accuracy_qonnx"]) <= 0.002


@pytest.mark.slow
def test_residual_block_pipelined_skip_path(tmp_path):
    """pipeline=2: the convolution branch takes more cycles than the skip path, which the top
    module delays to match; results unchanged."""
    original = read_model(CNN / MANIFEST["residual_block"]["file"])
    generated = original.transform(InferLBIR()).transform(GenerateChiselCircuit(tmp_path / "verilog", pipeline="2"))
    description = circuit_description(generated)
    top = (tmp_path / "verilog" / f"{description.top}.v").read_text()
    assert "_d1 <=" in top  # delay registers on the skip path
    add = next(layer for layer in description.layers if layer.op == "QAdd")
    assert len(add.inputs) == 2 and len(add.in_ports) == 2
    x = random_inputs(original, 300, seed=5)
    assert np.array_equal(execute(generated.transform(RTLSim()), x), execute(original, x))


STREAMING = [("chisel4ml_cnn", "nchw"), ("conv_stride_pad", "nchw"), ("depthwise_separable", "nchw"),
             ("trunc_avgpool_a8", "nchw"), ("global_avgpool", "nchw"), ("chisel4ml_cnn", "channels_last"),
             ("global_avgpool", "channels_last")]


@pytest.mark.slow
@pytest.mark.parametrize("name,layout", STREAMING)
def test_small_cnns_streaming(name, layout, tmp_path, record_property):
    original = read_model(CNN / MANIFEST[name]["file"])
    if layout == "channels_last":
        original = channels_last(original)
    generated = original.transform(InferLBIR()).transform(
        GenerateChiselCircuit(tmp_path / "verilog", style="streaming"))
    description = circuit_description(generated)
    simulated = generated.transform(RTLSim())
    x = random_inputs(original, 300, seed=2)
    assert np.array_equal(execute(simulated, x), execute(original, x))
    stats = stream_stats(simulated)
    c, h, w = description.stream["in_shape"]
    assert stats["ii"] == description.stream["ii_cycles"] >= h * w
    record_property("c4ml_summary", f"CNN {name:20} {layout:13} streaming RTL == qonnx on 300 inputs, "
                                    f"{stats['ii']} cycles per frame, latency {stats['latency']}")


def test_streaming_refusals_name_their_cause(tmp_path):
    lbir = residual_lbir()
    with_pixel_dependent_add(lbir)
    with pytest.raises(UnsupportedModelError, match="QAdd.*differ between pixels of a channel"):
        lbir.transform(GenerateChiselCircuit(tmp_path, style="streaming"))
    chisel = read_model(CNN / MANIFEST["chisel4ml_cnn"]["file"]).transform(InferLBIR())
    with pytest.raises(UnsupportedModelError, match="pipeline must be 'none'"):
        chisel.transform(GenerateChiselCircuit(tmp_path, style="streaming", pipeline="layer"))


@pytest.mark.parametrize("style", ["streaming", "folded"])
def test_global_average_pool_streams_as_an_accumulator(style, tmp_path, record_property):
    """conv 3x3 -> GlobalAveragePool -> dense: the pool is the accumulating stage
    (chisel/stream/global_pool.py: no line buffer, no window reads), RTL == qonnx, and the same
    codes with random input gaps and output back-pressure."""
    from stream_harness import assert_exact_under_backpressure

    raw = read_model(CNN / MANIFEST["global_avgpool"]["file"])
    lbir = raw.transform(InferLBIR())
    options = dict(style="folded", reuse_factor=2) if style == "folded" else dict(style="streaming")
    model = lbir.transform(GenerateChiselCircuit(tmp_path / "verilog", **options))
    description = circuit_description(model)
    pool = next(layer for layer in description.stream["layers"] if layer["global_pool"])
    assert (pool["line_buffer_bits"], pool["read_mux_luts"], pool["reuse_factor"]) == (0, 0, 1)
    rtl = model.transform(RTLSim())
    x = random_inputs(raw, 200, seed=5)
    np.testing.assert_array_equal(execute(rtl, x), execute(raw, x))
    stats = stream_stats(rtl)
    assert stats["ii"] == description.stream["ii_cycles"] and stats["latency"] == description.latency_cycles
    assert_exact_under_backpressure(lbir, model, description, x)
    record_property("c4ml_summary", f"global average pool {style}: 200 samples exact, ii {stats['ii']}, "
                                    f"latency {stats['latency']}, pool stage {pool['estimated_luts']} est. LUTs")


def test_a_global_pool_never_folds(tmp_path):
    from qonnx_c4ml.lbir.graph import lbir_graph
    from qonnx_c4ml.transformations.fold_choice import foldable_nodes, front_reuse_factors
    from qonnx_c4ml.transformations.stream_front import streaming_front

    lbir = read_model(CNN / MANIFEST["global_avgpool"]["file"]).transform(InferLBIR())
    nodes, circuit_input, _ = lbir_graph(lbir)
    front, rest = streaming_front(nodes, circuit_input)  # Conv_0, GlobalAveragePool_0 | Gemm_0
    assert front_reuse_factors(front, rest, 3) == ([3, 1], [3])
    assert [n.name for n in foldable_nodes(front, rest)] == ["Conv_0", "Gemm_0"]
    with pytest.raises(UnsupportedModelError, match="QConv2D 'GlobalAveragePool_0': pooling layers do not fold"):
        front_reuse_factors(front, rest, {"GlobalAveragePool_0": 2})
    model = lbir.transform(GenerateChiselCircuit(tmp_path, style="folded", max_luts=2000))
    stream = circuit_description(model).stream
    conv, pool = stream["layers"]
    assert pool["global_pool"] and pool["reuse_factor"] == 1 and "chosen_by" not in pool
    assert conv["chosen_by"] == "max_luts" and stream["estimated_luts"] <= 2000
    # the operator estimate counts the pool as its stage: per channel an adder, per threshold column two
    from qonnx_c4ml.chisel.fold.conv import estimate_front_operators
    from qonnx_c4ml.transformations.stream_front import front_ops

    pool_op = front_ops(front)[1]
    columns = pool_op.threshold_codes().shape[-1]
    assert pool["adders"] <= estimate_front_operators([pool_op], [1]) == 4 * (1 + 2 * columns)
