"""Streaming convolution circuits (chisel/stream/) against the LBIR numpy semantics.

Each case is a random QConv2D/QMaxPool2D chain on a small image; one Verilator build of the
frame top and one of the stream top per case, 64 random frames each, streamed continuously
(measured II must be H*W cycles, latency as generate_streaming reports it) and with random
input gaps and output back-pressure (results must not change).
"""
import shutil
import subprocess

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.chisel.stream.generate import build_stream_layers, format_report, generate_streaming
from qonnx_c4ml.chisel.stream.geometry import read_mux_luts
from qonnx_c4ml.chisel.stream.schedule import model_schedule, rate_bound, size_line_buffers
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir.conv import conv_output_hw
from qonnx_c4ml.lbir.dense import accumulator_range
from qonnx_c4ml.lbir.dtypes import datatype_for_range, datatype_range

N_FRAMES = 64
needs_verilator = pytest.mark.skipif(shutil.which("verilator") is None,
                                     reason="verilator is installed by scripts/setup.sh")


def int_tensor(name, values):
    values = np.asarray(values, dtype=np.int64)
    return helper.make_tensor(name, TensorProto.INT64, values.shape, values.flatten().tolist())


def conv(out_channels, kernel, strides=(1, 1), pads=(0, 0, 0, 0), group=1, out_bits=3, requant="thresholds"):
    return ("QConv2D", dict(out_channels=out_channels, kernel=kernel, strides=strides, pads=pads, group=group,
                            out_bits=out_bits, requant=requant))


def global_pool(kernel, out_bits=3, requant="thresholds"):
    """A depthwise QConv2D over the whole image (kernel = H x W) with equal weights per channel:
    the global pool's accumulating stage (chisel/stream/global_pool.py)."""
    return ("QConv2D", dict(out_channels=None, kernel=kernel, strides=(1, 1), pads=(0, 0, 0, 0), group=None,
                            out_bits=out_bits, requant=requant, equal=True))


def pool(kernel, strides, pads=(0, 0, 0, 0)):
    return ("QMaxPool2D", dict(kernel=kernel, strides=strides, pads=pads))


def make_chain(seed, in_shape, in_dtype, specs, first_in_index=None):
    """CustomOp instances of a random chain: weights in [-3, 3] (some zero), thresholds sorted
    per row and spread over the reachable accumulator range; `first_in_index` is the first
    op's in_index gather."""
    rng = np.random.default_rng(seed)
    ops, shape, dtype = [], list(in_shape), in_dtype
    for k, (op_type, spec) in enumerate(specs):
        name, tensor_in, tensor_out = f"{op_type.lower()}_{k}", f"t{k}", f"t{k + 1}"
        if op_type == "QConv2D":
            c = shape[0]
            if spec.get("equal"):  # a global pool: one non-zero weight per channel, everywhere
                spec = dict(spec, out_channels=c, group=c)
                weights = np.broadcast_to(rng.choice([-3, -2, -1, 1, 2, 3], size=(c, 1, 1, 1)),
                                          (c, 1, *spec["kernel"])).copy()
            else:
                weights = rng.integers(-3, 4, size=(spec["out_channels"], c // spec["group"], *spec["kernel"]))
            lo, hi = datatype_range(dtype)
            acc_lo, acc_hi = accumulator_range(weights.reshape(weights.shape[0], -1), lo, hi)
            attrs = {}
            if spec["requant"] == "thresholds":
                out_dtype = f"UINT{spec['out_bits']}"
                n = (1 << spec["out_bits"]) - 1
                thresholds = np.sort(np.stack([rng.integers(a // 2 - 1, b // 2 + 2, size=n)
                                               for a, b in zip(acc_lo, acc_hi)]), axis=1)
                attrs = dict(thresholds=int_tensor("thresholds", thresholds), out_base=0)
            else:
                out_dtype = datatype_for_range(int(acc_lo.min()), int(acc_hi.max()))
            node = helper.make_node(
                "QConv2D", [tensor_in], [tensor_out], name=name, domain="qonnx_c4ml.lbir",
                weights=int_tensor("weights", weights), in_shape=shape, strides=list(spec["strides"]),
                pads=list(spec["pads"]), group=spec["group"], in_dtype=dtype, out_dtype=out_dtype,
                requant=spec["requant"], **attrs)
        else:
            out_dtype = dtype
            node = helper.make_node(
                "QMaxPool2D", [tensor_in], [tensor_out], name=name, domain="qonnx_c4ml.lbir", in_shape=shape,
                kernel=list(spec["kernel"]), strides=list(spec["strides"]), pads=list(spec["pads"]),
                in_dtype=dtype, out_dtype=out_dtype)
        if k == 0 and first_in_index is not None:
            node.attribute.append(helper.make_attribute("in_index", list(first_in_index)))
        op = getCustomOp(node)
        assert not op.verify_node()
        ops.append(op)
        shape, dtype = list(op.out_shape()), out_dtype
    return ops


def reference(ops, codes):
    """The chain through the ops' own execute_node (conv_forward + requantize_codes, pool windows)."""
    x = codes
    for op in ops:
        context = {op.onnx_node.input[0]: x.astype(np.float32)}
        op.execute_node(context, None)
        x = context[op.onnx_node.output[0]].astype(np.int64)
    return x


CASES = {
    "conv3x3_same_then_pool": dict(in_shape=[3, 6, 6], in_dtype="UINT3", specs=[
        conv(4, (3, 3), pads=(1, 1, 1, 1)), pool((2, 2), (2, 2))]),
    "stride2_asymmetric_1x1_padded_pool": dict(in_shape=[2, 8, 8], in_dtype="UINT2", specs=[
        conv(3, (3, 3), strides=(2, 2), pads=(0, 1, 1, 0), out_bits=4), conv(4, (1, 1), out_bits=2),
        pool((3, 3), (1, 1), pads=(1, 1, 1, 1))]),
    "depthwise_signed_bottom_heavy": dict(in_shape=[3, 6, 6], in_dtype="INT4", specs=[
        conv(3, (3, 3), pads=(1, 0, 2, 1), group=3), conv(4, (1, 1), strides=(2, 2), out_bits=2),
        pool((2, 2), (2, 2), pads=(0, 0, 1, 1))]),
    "signed_pool_first_rect_kernel_accumulators": dict(in_shape=[2, 7, 5], in_dtype="INT3", specs=[
        pool((3, 3), (2, 1), pads=(1, 1, 1, 1)), conv(3, (3, 2), strides=(1, 2), pads=(2, 1, 0, 1),
                                                      requant="none")]),
    "pipelined_engine": dict(in_shape=[3, 6, 6], in_dtype="UINT3", stage_levels=2, specs=[
        conv(4, (3, 3), pads=(1, 1, 1, 1)), conv(2, (3, 3), strides=(2, 2), pads=(0, 0, 1, 1), out_bits=2),
        pool((2, 2), (1, 1))]),
}


def random_case(seed):
    """A random chain of 1-3 layers: kernels 1..4 x 1..3, strides 1-2, asymmetric pads below
    the kernel size, depthwise or dense convolutions, pools, 2-4 bit codes."""
    rng = np.random.default_rng(seed)
    in_dtype = str(rng.choice(["UINT2", "UINT3", "INT3", "UINT4", "INT4"]))
    shape = [int(rng.integers(1, 4)), int(rng.integers(3, 9)), int(rng.integers(3, 9))]
    specs, current = [], list(shape)
    for _ in range(int(rng.integers(1, 4))):
        kh, kw = int(rng.choice([1, 2, 3, 4])), int(rng.choice([1, 2, 3]))
        strides = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        pads = tuple(int(rng.integers(0, k)) for k in (kh, kw, kh, kw))
        oh, ow = conv_output_hw(current, (kh, kw), strides, pads)
        if oh < 1 or ow < 1:
            break
        if rng.random() < 0.3:
            specs.append(pool((kh, kw), strides, pads))
        else:
            depthwise = rng.random() < 0.3
            out_channels = current[0] if depthwise else int(rng.integers(1, 5))
            specs.append(conv(out_channels, (kh, kw), strides, pads, current[0] if depthwise else 1,
                              out_bits=int(rng.integers(2, 5))))
        current = [specs[-1][1].get("out_channels", current[0]), oh, ow]
    if not specs:
        specs = [conv(2, (1, 1))]
    return dict(in_shape=shape, in_dtype=in_dtype, specs=specs, stage_levels=[None, 1, 3][seed % 3])


def generate_case(name, tmp_path, seed=0):
    case = CASES[name] if isinstance(name, str) else name
    ops = make_chain(seed, case["in_shape"], case["in_dtype"], case["specs"])
    description = generate_streaming(ops, tmp_path, top="c4ml_top", stage_levels=case.get("stage_levels"))
    return case, ops, description


def random_frames(case, n, seed):
    c, h, w = case["in_shape"]
    lo, hi = datatype_range(case["in_dtype"])
    return np.random.default_rng(seed).integers(lo, hi + 1, size=(n, c * h * w))


@needs_verilator
@pytest.mark.parametrize("name", sorted(CASES))
def test_streaming_matches_numpy_with_and_without_backpressure(name, tmp_path, record_property):
    from qonnx_c4ml.sim.stream_simulator import StreamSimulator

    case, ops, description = generate_case(name, tmp_path)
    codes = random_frames(case, N_FRAMES, seed=1)
    expected = reference(ops, codes)
    _, h, w = case["in_shape"]
    assert description["ii_cycles"] == h * w and description["modelled_input_stalls"] == 0
    summary = []
    for top in ("frame", "stream"):
        with StreamSimulator(description, top=top) as circuit:
            out, stats = circuit.run_frames(codes)
            np.testing.assert_array_equal(out, expected)
            # continuous streaming: one pixel per cycle in, never refused; a frame per H*W cycles
            assert stats["stall_cycles"] == 0
            assert stats["ii"] == h * w
            assert np.all(np.diff(stats["pixel_cycles"]) == 1)
            if top == "frame":
                assert stats["latency"] == description["latency_cycles"]
            summary.append(f"{top}: ii {stats['ii']} latency {stats['latency']}")
            for seed in (11, 12):
                out, stats = circuit.run_frames(codes, backpressure=seed)
                np.testing.assert_array_equal(out, expected)
                assert stats["out_stall_cycles"] > 0
            assert top == "frame" or stats["stall_cycles"] > 0  # the back-pressure reached the input
    record_property("c4ml_summary", f"streaming {name}: {'; '.join(summary)}, "
                                    f"line buffers {description['line_buffer_bits']} bits")


@needs_verilator
@pytest.mark.parametrize("top", ["frame", "stream"])
def test_frames_split_over_two_instances_run_as_two_streams_laid_end_to_end(top, tmp_path):
    from qonnx_c4ml.sim.stream_simulator import StreamSimulator

    case, ops, description = generate_case(sorted(CASES)[0], tmp_path)
    codes = random_frames(case, N_FRAMES, seed=2)
    half = N_FRAMES // 2
    with StreamSimulator(description, top=top) as circuit:
        first, first_stats = circuit.run_frames(codes[:half])
        second, second_stats = circuit.run_frames(codes[half:])
        out, stats = circuit.run_frames(codes, threads=2)  # 64 frames: two streams of 32
        assert circuit.last_statistics == {key: stats[key] for key in ("cycles", "ii", "latency", "stall_cycles")}
    np.testing.assert_array_equal(out, reference(ops, codes))
    np.testing.assert_array_equal(out, np.concatenate([first, second]))
    # the same as the two halves run one after the other, each from reset
    assert stats["cycles"] == first_stats["cycles"] + second_stats["cycles"]
    for key in ("frame_cycles", "pixel_cycles"):
        np.testing.assert_array_equal(
            stats[key], np.concatenate([first_stats[key], second_stats[key] + first_stats["cycles"]]))
    assert (stats["ii"], stats["latency"], stats["stall_cycles"]) == (
        max(first_stats["ii"], second_stats["ii"]), first_stats["latency"], 0)


EDGE_CASES = {
    "one_row": dict(in_shape=[2, 1, 5], in_dtype="UINT2", specs=[
        conv(3, (1, 3), pads=(0, 1, 0, 1)), pool((1, 2), (1, 2))]),
    "one_column": dict(in_shape=[1, 4, 1], in_dtype="INT3", specs=[
        conv(2, (3, 1), pads=(1, 0, 1, 0)), pool((2, 1), (1, 1), pads=(0, 0, 1, 0))]),
    "one_pixel": dict(in_shape=[3, 1, 1], in_dtype="UINT3", specs=[
        conv(2, (3, 3), pads=(1, 1, 1, 1)), conv(2, (1, 1))]),
    "output_larger_than_input": dict(in_shape=[2, 2, 2], in_dtype="UINT2", specs=[
        conv(2, (3, 3), pads=(2, 2, 2, 2), out_bits=2), pool((2, 2), (1, 1))]),
    "global_pool_after_conv": dict(in_shape=[3, 6, 6], in_dtype="UINT3", specs=[
        conv(4, (3, 3), pads=(1, 1, 1, 1)), global_pool((6, 6))]),
    "global_pool_signed_without_requantization": dict(in_shape=[2, 5, 3], in_dtype="INT4", specs=[
        global_pool((5, 3), requant="none")]),
    "global_pool_then_1x1_conv": dict(in_shape=[3, 4, 4], in_dtype="UINT2", specs=[
        global_pool((4, 4), out_bits=2), conv(2, (1, 1))]),
    "global_pool_after_pipelined_conv": dict(in_shape=[2, 5, 5], in_dtype="INT3", stage_levels=1, specs=[
        conv(3, (3, 3), strides=(2, 2), pads=(1, 1, 1, 1), out_bits=4), global_pool((3, 3), out_bits=2)]),
    "global_pool_of_two_pixels": dict(in_shape=[2, 1, 2], in_dtype="UINT3", specs=[global_pool((1, 2))]),
}


@needs_verilator
@pytest.mark.parametrize("name", [f"random_{seed}" for seed in range(8)] + sorted(EDGE_CASES))
def test_chains_match_numpy_at_the_modelled_rate(name, tmp_path, record_property):
    """Random geometries and edge cases, including ones whose output frame is larger than the
    input (more padding than 'same'): the chain then runs at the rate bound max(pixels in,
    pixels out) of its slowest layer, which the control model predicts and the RTL must reach
    exactly."""
    from qonnx_c4ml.sim.stream_simulator import StreamSimulator

    seed = int(name.split("_")[1]) if name.startswith("random_") else sorted(EDGE_CASES).index(name)
    case = random_case(seed) if name.startswith("random_") else EDGE_CASES[name]
    _, ops, description = generate_case(case, tmp_path, seed=seed)
    codes = random_frames(case, N_FRAMES, seed=seed + 100)
    expected = reference(ops, codes)
    layers, _ = build_stream_layers(ops)
    assert description["ii_cycles"] == description["ii_bound_cycles"] == rate_bound(layers)
    with StreamSimulator(description) as circuit:
        out, stats = circuit.run_frames(codes)
        np.testing.assert_array_equal(out, expected)
        assert (stats["ii"], stats["latency"]) == (description["ii_cycles"], description["latency_cycles"])
        _, h, w = case["in_shape"]
        assert stats["stall_cycles"] == 0 or description["ii_cycles"] > h * w
        out, _ = circuit.run_frames(codes, backpressure=seed)
        np.testing.assert_array_equal(out, expected)
    with StreamSimulator(description, top="stream") as circuit:
        out, _ = circuit.run_frames(codes, backpressure=seed + 1)
        np.testing.assert_array_equal(out, expected)
    shapes = " -> ".join(f"{layer['op_type']}{layer['kernel']}s{layer['strides']}p{layer['pads']}"
                         for layer in description["layers"])
    record_property("c4ml_summary", f"streaming {name}: {case['in_shape']} {shapes}: "
                                    f"ii {stats['ii']} latency {stats['latency']}")


@needs_verilator
@pytest.mark.parametrize("name", sorted(CASES) + sorted(EDGE_CASES))
def test_streaming_verilog_is_lint_clean(name, tmp_path):
    _, _, description = generate_case(CASES.get(name) or EDGE_CASES[name], tmp_path)
    for top in (description["top"], description["stream_top"]):
        result = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", top, *description["files"]],
                                capture_output=True, text=True)
        assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_description_reports_ii_latency_and_line_buffers(tmp_path):
    case, _, description = generate_case("conv3x3_same_then_pool", tmp_path)
    conv_layer, pool_layer = description["layers"]
    assert conv_layer["ii_cycles"] == 36 and pool_layer["ii_cycles"] == 36
    # 3x3 kernel: 4 rows x 6 pixels x 3 channels x 3 bits; the 2x2 pool keeps 2 rows
    assert conv_layer["line_buffer_bits"] == 4 * 6 * 3 * 3
    assert pool_layer["line_buffer_bits"] == pool_layer["line_buffer_rows"] * 6 * 4 * 3
    assert pool_layer["line_buffer_rows"] in (2, 4)
    assert description["line_buffer_bits"] == conv_layer["line_buffer_bits"] + pool_layer["line_buffer_bits"]
    assert description["inp"] == {"elements": 108, "bits": 3, "signed": False}
    assert description["out"] == {"elements": 36, "bits": 3, "signed": False}
    assert description["pixel_in"] == {"elements": 3, "bits": 3, "signed": False}
    # the frame cannot be out before its last pixel went in and through both layers
    assert description["latency_cycles"] > 36 + conv_layer["pixel_latency"] + pool_layer["pixel_latency"]
    assert all((tmp_path / f"{module}.v").is_file()
               for module in ("c4ml_top", "c4ml_top_stream", "qconv2d_0", "qconv2d_0_engine", "qmaxpool2d_1"))
    assert all(path.startswith(str(tmp_path)) for path in description["files"])


def test_global_pool_is_an_accumulating_stage_without_line_buffer(tmp_path):
    case, ops, description = generate_case(EDGE_CASES["global_pool_after_conv"], tmp_path)
    conv_layer, pool_layer = description["layers"]
    assert not conv_layer["global_pool"] and pool_layer["global_pool"]
    assert (pool_layer["line_buffer_bits"], pool_layer["read_mux_luts"], pool_layer["ii_cycles"]) == (0, 0, 36)
    assert pool_layer["accumulator_bits"] == 9  # 35 pixels of 0..7: 0..245, signed
    assert description["read_mux_luts"] == conv_layer["read_mux_luts"]
    assert description["estimated_luts"] == (conv_layer["estimated_luts"] + conv_layer["read_mux_luts"]
                                             + pool_layer["estimated_luts"])
    text = (tmp_path / f"{pool_layer['name']}.v").read_text()
    assert "line_buffer" not in text and "acc[" in text
    with pytest.raises(UnsupportedModelError, match="global pool.*does not fold"):
        build_stream_layers(ops, reuse_factors=[1, 2])


@pytest.mark.parametrize("name", sorted(CASES))
def test_schedule_model_streams_without_input_stalls(name):
    case = CASES[name]
    layers, _ = build_stream_layers(make_chain(0, case["in_shape"], case["in_dtype"], case["specs"]),
                                    case.get("stage_levels"))
    _, h, w = case["in_shape"]
    schedule = size_line_buffers(layers)
    assert (schedule.ii, schedule.input_stalls) == (h * w, 0)
    assert model_schedule(layers, n_frames=12).ii == h * w  # steady, not just for six frames


def test_format_report_lists_layers_and_totals(tmp_path):
    _, _, description = generate_case("conv3x3_same_then_pool", tmp_path)
    lines = format_report(description).splitlines()
    assert lines[0].split()[:3] == ["layer", "op", "in"]
    assert lines[1].split()[:4] == ["qconv2d_0", "QConv2D", "3x6x6", "4x6x6"]
    assert lines[0].split()[-8:] == ["R", "steps", "est.", "LUTs", "read", "mux", "LUTs", "FFs"]
    assert lines[1].split()[-5:-3] == ["1", "1"]  # R = 1: one window per cycle
    assert lines[3].split() == ["total", str(description["line_buffer_bits"]), "36", str(description["latency_cycles"]),
                                str(description["engine_luts"]), str(description["read_mux_luts"]),
                                str(description["flip_flops"])]
    # the circuit's estimate: the engines' netlist cost and the line-buffer reads' formula
    assert description["estimated_luts"] == description["engine_luts"] + description["read_mux_luts"]
    conv = description["layers"][0]  # 3x3 window over 6 columns of 9-bit pixels, 4 row slots
    assert conv["read_mux_luts"] == 9 * (3 * 4 * 2 + 3 * 3 * 1) == read_mux_luts(6, [3, 3], 4, 9)


def channels_last_index(c, h, w):
    """in_index of an image stored channels last: element (c, h, w) at (h*W + w)*C + c."""
    return [(y * w + x) * c + ch for ch in range(c) for y in range(h) for x in range(w)]


@needs_verilator
def test_channels_last_input_is_gathered_by_the_host(tmp_path):
    from qonnx_c4ml.sim.stream_simulator import StreamSimulator

    case = CASES["conv3x3_same_then_pool"]
    ops = make_chain(3, case["in_shape"], case["in_dtype"], case["specs"],
                     first_in_index=channels_last_index(*case["in_shape"]))
    description = generate_streaming(ops, tmp_path)
    assert description["in_index"] == channels_last_index(*case["in_shape"])
    codes = random_frames(case, N_FRAMES, seed=4)  # read as channels-last frames
    with StreamSimulator(description) as circuit:
        out, stats = circuit.run_frames(codes)
    np.testing.assert_array_equal(out, reference(ops, codes))
    assert stats["ii"] == 36


def test_in_index_after_the_first_layer_is_rejected(tmp_path):
    specs = [conv(4, (3, 3), pads=(1, 1, 1, 1)), conv(2, (1, 1))]
    first = make_chain(0, [3, 6, 6], "UINT3", specs[:1])[0]
    second = make_chain(0, [4, 6, 6], "UINT3", specs[1:], first_in_index=channels_last_index(4, 6, 6))[0]
    with pytest.raises(UnsupportedModelError, match="in_index"):
        generate_streaming([first, second], tmp_path)


def test_generation_is_deterministic(tmp_path):
    generate_case("depthwise_signed_bottom_heavy", tmp_path / "a")
    generate_case("depthwise_signed_bottom_heavy", tmp_path / "b")
    for path in sorted((tmp_path / "a").glob("*.v")):
        assert path.read_text() == (tmp_path / "b" / path.name).read_text()


def test_unsupported_op_and_mismatched_chain_are_rejected(tmp_path):
    case = CASES["conv3x3_same_then_pool"]
    ops = make_chain(0, case["in_shape"], case["in_dtype"], case["specs"])
    dense = getCustomOp(helper.make_node("QDense", ["a"], ["b"], name="fc", domain="qonnx_c4ml.lbir",
                                         weights=int_tensor("w", np.ones((2, 3))), in_shape=[3],
                                         in_dtype="UINT3", out_dtype="UINT3"))
    with pytest.raises(UnsupportedModelError, match="QDense has no streaming circuit"):
        generate_streaming([ops[0], dense], tmp_path)
    with pytest.raises(UnsupportedModelError, match="expects"):
        generate_streaming([ops[1], ops[0]], tmp_path)
