"""chisel/stream/global_pool.py: the global pool stage's engine evaluated in numpy: its sums are
accumulator + pixel, its codes the requantization of the channel's weight times the frame's sum
(what QConv2D's execute_node computes for the whole image)."""
import copy

import numpy as np

from qonnx_c4ml.chisel.logic.evaluate import evaluate
from qonnx_c4ml.chisel.stream.geometry import GlobalPoolLayer, layer_geometry
from qonnx_c4ml.chisel.stream.global_pool import global_pool_engine

from .stream_ops import global_pool_op

RNG = np.random.default_rng(5)


def only_outputs(netlist, bus):
    """`netlist` with the out nodes of `bus` only (the evaluator orders outputs by offset)."""
    kept = copy.copy(netlist)
    kept.nodes = [n for n in netlist.nodes if n.op != "out" or n.params[0] == bus]
    return kept


def frame_sums(layer, n):
    """Random (pixel, accumulator) columns within the ranges the stage holds."""
    c = layer.in_shape[0]
    lo, hi = layer.inp.code_range
    pixels = RNG.integers(lo, hi + 1, size=(n, c))
    accs = RNG.integers((layer.pixels - 1) * lo, (layer.pixels - 1) * hi + 1, size=(n, c))
    return pixels, accs


def test_engine_codes_are_the_requantized_frame_sums():
    thresholds = np.array([[3, 40, 90], [-20, 0, 10], [50, 51, 200]])
    weights = np.array([1, -2, 3])
    op = global_pool_op((3, 4, 5), weights, thresholds, in_dtype="UINT3", out_dtype="UINT2")
    layer = layer_geometry(op)
    assert isinstance(layer, GlobalPoolLayer) and layer.pixels == 20
    assert layer.accumulator_bits == 9 and layer.sum_bits == 9  # 19 * 7 = 133, 20 * 7 = 140, signed
    engine = global_pool_engine(layer, op)
    pixels, accs = frame_sums(layer, 500)
    columns = np.concatenate([pixels, accs], axis=1)  # in_data elements, then acc (columns C + c)
    lowered = engine.lowered()
    sums = evaluate(only_outputs(lowered, "sum_data"), columns, check_ranges=True)
    assert np.array_equal(sums, accs + pixels)
    acc = (accs + pixels) * weights
    expected = (acc[:, :, None] >= thresholds[None]).sum(axis=2)
    assert np.array_equal(evaluate(only_outputs(lowered, "out_data"), columns, check_ranges=True), expected)
    assert layer.estimated_luts > 0 and layer.adders >= 3 and layer.engine_latency == 0


def test_engine_codes_match_qconv2d_on_whole_frames():
    """The frame's pixels accumulated one by one, then the engine's codes == execute_node."""
    thresholds = RNG.integers(-30, 30, size=(2, 7))
    thresholds.sort(axis=1)
    op = global_pool_op((2, 3, 3), [2, -1], thresholds, in_dtype="INT3", out_dtype="UINT3")
    layer = layer_geometry(op)
    lowered = global_pool_engine(layer, op).lowered()
    frames = RNG.integers(-4, 4, size=(200, 2, 9))
    accs = frames[:, :, :-1].sum(axis=2)  # the accumulators before the last pixel
    columns = np.concatenate([frames[:, :, -1], accs], axis=1)
    context = {"x": frames.reshape(200, -1).astype(np.float32)}
    op.execute_node(context, None)
    got = evaluate(only_outputs(lowered, "out_data"), columns, check_ranges=True)
    assert np.array_equal(got, context["y"].astype(np.int64))


def test_engine_without_requantization_outputs_the_weighted_sum():
    op = global_pool_op((2, 2, 2), [3, -1], [], in_dtype="UINT2", out_dtype="INT8", requant="none")
    layer = layer_geometry(op)
    lowered = global_pool_engine(layer, op).lowered()
    pixels, accs = frame_sums(layer, 100)
    got = evaluate(only_outputs(lowered, "out_data"), np.concatenate([pixels, accs], axis=1), check_ranges=True)
    assert np.array_equal(got, (accs + pixels) * np.array([3, -1]))
