"""chisel/fold/conv.py: the folded window engine of a streaming QConv2D.

- W' (the conv's weights over the window vector) times a window equals the conv's own
  execute_node on that window, for dense, grouped and depthwise convolutions;
- the folded engine evaluated step by step (chisel/logic/evaluate.py) and put back in
  channel order equals the requantized conv, for R = 2, R = O and Rs that do not divide O;
- streaming chains with folded convs (Verilator, the stream harness): codes equal the ops'
  numpy reference with and without back-pressure, and the II the harness measures equals
  the description's ii_cycles (the control model), S * OH * OW for the slowest layer.
"""
import shutil

import numpy as np
import pytest

from qonnx_c4ml.chisel.fold.conv import estimate_front_operators, folded_conv_engine, window_weights
from qonnx_c4ml.chisel.logic.evaluate import evaluate
from qonnx_c4ml.chisel.stream.generate import generate_streaming
from qonnx_c4ml.chisel.stream.geometry import layer_geometry, window_index

from ..stream.test_generate import conv, make_chain, pool, random_frames, reference

needs_verilator = pytest.mark.skipif(shutil.which("verilator") is None,
                                     reason="verilator is installed by scripts/setup.sh")


def windows_of(layer, images):
    """Window vectors (N, KH*KW*C) of images (N, C*KH*KW) that are exactly one window."""
    c, kh, kw = layer.in_shape[0], *layer.kernel
    images = images.reshape(-1, c, kh, kw)
    out = np.zeros((images.shape[0], kh * kw * c), dtype=np.int64)
    for u in range(kh):
        for v in range(kw):
            for ch in range(c):
                out[:, window_index(layer, u, v, ch)] = images[:, ch, u, v]
    return out


@pytest.mark.parametrize("in_channels, out_channels, group", [(3, 5, 1), (4, 6, 2), (4, 4, 4)])
def test_window_weights_times_a_window_is_the_convolution(in_channels, out_channels, group):
    case = dict(in_shape=[in_channels, 3, 2], in_dtype="INT3",
                specs=[conv(out_channels, (3, 2), group=group, requant="none")])
    op = make_chain(5, case["in_shape"], case["in_dtype"], case["specs"])[0]
    layer = layer_geometry(op)
    images = random_frames(case, 50, seed=2)
    matrix = window_weights(layer, op)
    assert matrix.shape == (out_channels, 3 * 2 * in_channels)
    if group > 1:  # zeros outside each output channel's group
        per_group = in_channels // group
        for o in range(out_channels):
            first = (o // (out_channels // group)) * per_group
            outside = [window_index(layer, u, v, ch) for u in range(3) for v in range(2) for ch in range(in_channels)
                       if not first <= ch < first + per_group]
            assert not matrix[o, outside].any()
    np.testing.assert_array_equal(windows_of(layer, images) @ matrix.T, reference([op], images))


@pytest.mark.parametrize("reuse_factor", [2, 3, 5, 7])
def test_folded_engine_equals_the_requantized_convolution(reuse_factor):
    case = dict(in_shape=[2, 3, 3], in_dtype="UINT3", specs=[conv(7, (3, 3), out_bits=3)])
    op = make_chain(9, case["in_shape"], case["in_dtype"], case["specs"])[0]
    layer = layer_geometry(op)
    module, units, steps, order = folded_conv_engine(layer, op, reuse_factor)
    assert units == -(-7 // reuse_factor) and steps == -(-7 // units) and sorted(order) == sorted(set(order))
    images = random_frames(case, 200, seed=4)
    netlist = module.lowered()
    windows = windows_of(layer, images)
    slots = np.concatenate([evaluate(netlist, np.concatenate([windows, np.full((len(windows), 1), r)], axis=1),
                                     check_ranges=True) for r in range(steps)], axis=1)  # slot r*G + u
    np.testing.assert_array_equal(slots[:, order], reference([op], images))


def test_front_estimate_shrinks_with_the_reuse_factor():
    ops = make_chain(1, [4, 8, 8], "UINT2", [conv(8, (3, 3)), pool((2, 2), (2, 2)), conv(8, (3, 3))])
    estimates = [estimate_front_operators(ops, [r, 1, r]) for r in (1, 2, 8)]
    assert estimates[0] > estimates[1] > estimates[2] > 0
    assert estimate_front_operators(ops[1:2], [1]) == 8 * 2 * 2  # a comparator per tap and channel


FOLDED = {
    # R = 2 on a 'same' conv (O = 5: 3 units, the last one's second step repeats), a pool, R = O
    "same_r2_pool_r_equals_o": (dict(in_shape=[3, 6, 6], in_dtype="UINT3", specs=[
        conv(5, (3, 3), pads=(1, 1, 1, 1)), pool((2, 2), (2, 2)), conv(4, (2, 2))]), [2, 1, 4]),
    # stride 2 with asymmetric pads folded by 3 (O = 4 -> 2 units x 2 steps), a parallel 1x1 after it
    "stride2_pads_r3": (dict(in_shape=[2, 8, 8], in_dtype="UINT2", specs=[
        conv(4, (3, 3), strides=(2, 2), pads=(0, 1, 1, 0), out_bits=4), conv(3, (1, 1), out_bits=2)]), [3, 1]),
    # depthwise folded to one unit (R = O = C), then a pointwise conv with an R that does not divide O
    "depthwise_then_pointwise": (dict(in_shape=[3, 6, 6], in_dtype="INT4", specs=[
        conv(3, (3, 3), pads=(1, 0, 2, 1), group=3), conv(5, (1, 1), strides=(2, 2), out_bits=2)]), [3, 2]),
    # requant="none" (accumulator codes) folded: the +1s of flipped terms per step
    "accumulators_r2": (dict(in_shape=[2, 5, 5], in_dtype="INT3", specs=[
        conv(3, (2, 2), pads=(1, 1, 0, 0), requant="none")]), [2]),
}


@needs_verilator
@pytest.mark.parametrize("name", sorted(FOLDED))
def test_folded_chains_match_numpy_at_the_modelled_rate(name, tmp_path, record_property):
    from qonnx_c4ml.sim.stream_simulator import StreamSimulator

    case, factors = FOLDED[name]
    ops = make_chain(3, case["in_shape"], case["in_dtype"], case["specs"])
    description = generate_streaming(ops, tmp_path, reuse_factors=factors)
    layers = description["layers"]
    assert [layer["reuse_factor"] for layer in layers] == factors
    for layer, op in zip(layers, ops):
        if layer["reuse_factor"] > 1:
            out_channels = layer["out_shape"][0]
            assert layer["units"] == -(-out_channels // min(layer["reuse_factor"], out_channels))
            assert layer["steps"] == -(-out_channels // layer["units"]) and layer["estimated_luts"] > 0
    bound = max(max(l["in_shape"][1] * l["in_shape"][2], l["steps"] * l["out_shape"][1] * l["out_shape"][2])
                for l in layers)
    assert description["ii_cycles"] == description["ii_bound_cycles"] == bound
    codes = random_frames(case, 24, seed=7)
    expected = reference(ops, codes)
    with StreamSimulator(description, top="frame") as circuit:
        out, stats = circuit.run_frames(codes)
        np.testing.assert_array_equal(out, expected)
        assert stats["ii"] == description["ii_cycles"]  # measured by the harness
        assert stats["latency"] == description["latency_cycles"]
        for seed in (5, 6):
            out, stats = circuit.run_frames(codes, backpressure=seed)
            np.testing.assert_array_equal(out, expected)
            assert stats["out_stall_cycles"] > 0
    record_property("c4ml_summary", f"folded stream {name} R={factors}: ii {description['ii_cycles']} "
                                    f"latency {description['latency_cycles']}")



def test_reuse_for_a_frame_target_keeps_each_layer_within_it():
    from qonnx_c4ml.chisel.fold.conv import reuse_for_frame_target
    from qonnx_c4ml.chisel.fold.datapath import fold_geometry

    ops = make_chain(1, [4, 8, 8], "UINT2", [conv(8, (3, 3)), pool((2, 2), (2, 2)), conv(8, (3, 3))])
    # 6x6 out, pool, 1x1 out: a target of 100 cycles per frame folds the last conv fully, the first by 2
    assert [reuse_for_frame_target(op, 100) for op in ops] == [2, 1, 8]
    assert [reuse_for_frame_target(op, 10) for op in ops] == [1, 1, 8]
    for op in (ops[0], ops[2]):
        out_channels, oh, ow = op.out_shape()
        r = reuse_for_frame_target(op, 100)
        assert fold_geometry(out_channels, r)[1] * oh * ow <= 100
