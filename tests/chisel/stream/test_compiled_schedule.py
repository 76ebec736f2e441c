"""chisel/stream/compiled_schedule.py: the compiled control model gives exactly the Schedule of
the reference (every stage model stepped every cycle, `model_schedule(..., exact=True)`) on many
chains: kernels, strides, pads, folding steps, engine pipes, tight and deadlocking line buffers,
global pools; and the line buffer sizing built on it is unchanged."""
import copy
import random

import numpy as np
import pytest

from qonnx_c4ml.chisel.stream.compiled_schedule import compiled_source
from qonnx_c4ml.chisel.stream.geometry import GlobalPoolLayer, layer_geometry
from qonnx_c4ml.chisel.stream.schedule import LayerSchedule, model_schedule, rate_bound, size_line_buffers

from .stream_ops import conv_op, global_pool_op, pool_op


def outcome(layers, n_frames, exact):
    """The Schedule, or the deadlock message."""
    try:
        return model_schedule(layers, n_frames=n_frames, exact=exact)
    except AssertionError as error:
        return str(error)


def random_chain(rng):
    """2-4 stages on a small image: convs (kernel 1-3, stride 1-2, pads 0-2, S 1-7 steps, engine
    pipes 0-3 stages), max pools, sometimes a global pool at the end; rows from tight to roomy."""
    c, h, w = 1, rng.randint(3, 9), rng.randint(3, 9)
    layers = []
    for k in range(rng.randint(1, 3)):
        kh, kw = rng.randint(1, 3), rng.randint(1, 3)
        sh, sw = rng.randint(1, 2), rng.randint(1, 2)
        pads = [rng.randint(0, min(2, kh - 1 + (k % 2))), rng.randint(0, min(2, kw - 1)),
                rng.randint(0, min(2, kh - 1 + (k % 2))), rng.randint(0, min(2, kw - 1))]
        if (h + pads[0] + pads[2] - kh) < 0 or (w + pads[1] + pads[3] - kw) < 0:
            break
        if rng.random() < 0.7:
            out_c = rng.randint(1, 3)
            op = conv_op(np.ones((out_c, c, kh, kw), dtype=np.int64), (c, h, w), [[1, 4, 8]] * out_c,
                         strides=(sh, sw), pads=pads, name=f"conv{k}")
        else:
            out_c = c
            op = pool_op((c, h, w), kernel=(kh, kw), strides=(sh, sw), pads=pads, dtype="UINT2", name=f"pool{k}")
        layer = layer_geometry(op)
        layer.steps = rng.choice([1, 1, 2, 3, 5, 7])
        layer.engine_latency = 0 if layer.steps > 1 else rng.randint(0, 3)
        layer.line_buffer_rows = rng.choice([kh, kh + 1, 2 * kh + 1, 8])
        layers.append(layer)
        c, h, w = layer.out_shape
    if rng.random() < 0.4:
        layers.append(layer_geometry(global_pool_op((c, h, w), [1] * c, [[1, 10, 30]] * c)))
    return layers


@pytest.mark.parametrize("seed", range(60))
def test_random_chains_give_the_reference_schedule(seed):
    rng = random.Random(seed)
    layers = random_chain(rng)
    for n_frames in (1, 3, 6):
        assert outcome(layers, n_frames, exact=False) == outcome(layers, n_frames, exact=True)


@pytest.mark.parametrize("seed", range(20))
def test_line_buffer_sizing_is_unchanged(seed):
    layers = random_chain(random.Random(1000 + seed))
    for layer in layers:
        if hasattr(layer, "kernel") and layer.line_buffer_rows:
            layer.line_buffer_rows = max(1, layer.kernel[0])
    reference = copy.deepcopy(layers)
    assert outcome_of_sizing(layers, exact=False) == outcome_of_sizing(reference, exact=True)
    assert [layer.line_buffer_rows for layer in layers] == [layer.line_buffer_rows for layer in reference]


def outcome_of_sizing(layers, exact):
    """size_line_buffers' Schedule, or the deadlock message."""
    try:
        return size_line_buffers(layers, exact=exact)
    except AssertionError as error:
        return str(error)


def folded_conv(in_shape, steps, strides=(1, 1), pads=(1, 1, 1, 1), rows=4):
    layer = layer_geometry(conv_op(np.ones((2, in_shape[0], 3, 3), dtype=np.int64), in_shape, [[1, 4, 8]] * 2,
                                   strides=strides, pads=pads))
    layer.steps, layer.line_buffer_rows = steps, rows
    return layer


@pytest.mark.parametrize("steps, strides", [(2, (1, 1)), (15, (2, 2)), (40, (1, 1)), (97, (2, 1))])
def test_long_folded_steps_are_skipped_exactly(steps, strides):
    layers = [folded_conv((1, 12, 10), steps, strides), folded_conv((2, 12 // strides[0], 10 // strides[1]), 3)]
    fast, slow = outcome(layers, 6, exact=False), outcome(layers, 6, exact=True)
    assert fast == slow and fast.ii == rate_bound(layers)


def one_row_pool(channels, hw, steps):
    layer = layer_geometry(pool_op((channels, hw, hw), kernel=(2, 2), strides=(2, 2), dtype="UINT2"))
    layer.line_buffer_rows, layer.steps = 1, steps  # the reader needs two rows at once
    return layer


@pytest.mark.parametrize("layers", [[one_row_pool(1, 4, 1)], [folded_conv((1, 5, 5), 3), one_row_pool(2, 5, 5)]])
def test_a_deadlock_is_reported_after_the_same_cycles(layers):
    message = outcome(layers, 2, exact=False)
    assert "deadlocked after" in message and message == outcome(layers, 2, exact=True)


def test_the_source_inlines_the_geometry():
    layer = folded_conv((1, 6, 5), 7)
    source = compiled_source([LayerSchedule(layer)], [30])
    assert "sc0 == 6" in source and "wc0 == 5" in source and "def run(" in source


def generated_chains():
    """test_generate.py's named cases and random chains, as built by build_stream_layers, each
    parallel and with its convolutions folded by 2 and by 4."""
    from qonnx_c4ml.chisel.stream.generate import build_stream_layers

    from .test_generate import CASES, make_chain, random_case

    cases = [CASES[name] for name in sorted(CASES)] + [random_case(seed) for seed in range(12)]
    for case in cases:
        for reuse in (1, 2, 4):
            ops = make_chain(0, case["in_shape"], case["in_dtype"], case["specs"])
            factors = [reuse if op.onnx_node.op_type == "QConv2D" and not isinstance(layer_geometry(op), GlobalPoolLayer)
                       else 1 for op in ops]  # (a global pool does not fold; a folded engine is not pipelined)
            yield build_stream_layers(ops, case.get("stage_levels") if reuse == 1 else None, factors)[0]


def test_generated_chains_and_their_sizing_give_the_reference_schedule():
    count = 0
    for layers in generated_chains():
        reference = copy.deepcopy(layers)
        assert outcome_of_sizing(layers, exact=False) == outcome_of_sizing(reference, exact=True)
        assert [layer.line_buffer_rows for layer in layers] == [layer.line_buffer_rows for layer in reference]
        assert outcome(layers, 12, exact=False) == outcome(layers, 12, exact=True)
        count += 1
    assert count >= 3 * 12


def test_residual_branches_run_compiled_and_blocks_stepped_give_the_reference_schedule():
    from .test_block_schedule import residual_block

    block = residual_block()
    conv_branch = block.branches[1]
    assert outcome(conv_branch, 6, exact=False) == outcome(conv_branch, 6, exact=True)
    schedule = model_schedule([block])  # the block brings its own model: the stepped loop
    assert schedule == model_schedule([block], exact=True) and schedule.ii == 64
