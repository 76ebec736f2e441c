"""chisel/stream/schedule.py: the control model's rate bound, initiation interval and latency,
and line buffer sizing."""
import numpy as np
import pytest

from qonnx_c4ml.chisel.stream.geometry import layer_geometry
from qonnx_c4ml.chisel.stream.schedule import (AccumulateSchedule, Schedule, model_schedule, rate_bound,
                                               size_line_buffers)

from .stream_ops import conv_op, global_pool_op, pool_op


def chain():
    conv = conv_op(np.ones((2, 1, 3, 3), dtype=np.int64), (1, 6, 6), [[1, 4, 8]] * 2, pads=(1, 1, 1, 1),
                   name="conv")
    pool = pool_op((2, 6, 6), kernel=(2, 2), strides=(2, 2), dtype="UINT2", name="pool")
    return [layer_geometry(conv), layer_geometry(pool)]


def test_rate_bound_is_the_largest_frame():
    layers = chain()
    assert rate_bound(layers) == 36  # conv: 6x6 in and out; pool: 36 in, 9 out
    assert rate_bound(layers[1:]) == 36


def pool_4x4():
    return layer_geometry(pool_op((1, 4, 4), kernel=(2, 2), strides=(2, 2)))


def test_two_rows_stall_and_sizing_reaches_the_rate_bound():
    layer = pool_4x4()
    assert layer.line_buffer_rows == 2
    tight = model_schedule([layer], n_frames=4)
    assert isinstance(tight, Schedule)
    assert tight.ii > 16 and tight.input_stalls > 0 and tight.refusals == [tight.input_stalls]
    schedule = size_line_buffers([layer])
    assert layer.line_buffer_rows == 4 and layer.line_buffer_bits == 4 * 4 * 4
    assert schedule.ii == rate_bound([layer]) == 16 and schedule.input_stalls == 0
    # the last output pixel needs the last input pixel: at least one frame of input
    assert 16 <= schedule.latency <= 20 and schedule.layer_latencies == [schedule.latency]


def test_sized_chain_runs_at_the_rate_bound():
    layers = chain()
    schedule = size_line_buffers(layers)
    assert schedule.ii == rate_bound(layers)
    assert all(layer.line_buffer_rows >= 2 for layer in layers)
    assert all(layer.line_buffer_bits == layer.line_buffer_rows * layer.in_shape[2] * layer.inp.width
               for layer in layers)
    assert schedule.latency >= max(schedule.layer_latencies)


def test_a_one_row_buffer_deadlocks():
    layer = pool_4x4()
    layer.line_buffer_rows = 1  # the reader needs two rows at once
    with pytest.raises(AssertionError, match="deadlocked"):
        model_schedule([layer], n_frames=2)


def folded_chain(reuse_factor):
    """conv 'same' 6x6 (O = 4) folded by `reuse_factor`, then a 2x2 pool."""
    from qonnx_c4ml.chisel.stream.engine import engine_module

    conv = conv_op(np.ones((4, 1, 3, 3), dtype=np.int64), (1, 6, 6), [[1, 4, 8]] * 4, pads=(1, 1, 1, 1),
                   name="conv")
    layers = chain()
    layers[0] = layer_geometry(conv)
    engine_module(layers[0], conv, reuse_factor=reuse_factor)
    layers[1] = layer_geometry(pool_op((4, 6, 6), kernel=(2, 2), strides=(2, 2), dtype="UINT2", name="pool"))
    return layers


@pytest.mark.parametrize("reuse_factor, steps", [(2, 2), (3, 2), (4, 4)])
def test_a_folded_layer_takes_steps_cycles_per_output_pixel(reuse_factor, steps):
    layers = folded_chain(reuse_factor)
    assert layers[0].steps == steps and layers[0].pixel_latency == steps + 1
    assert rate_bound(layers) == steps * 36
    schedule = size_line_buffers(layers)
    # the stream runs at the folded bound; the input stalls are back-pressure, the buffers did not grow
    assert schedule.ii == steps * 36 and schedule.input_stalls > 0
    assert [layer.line_buffer_rows for layer in layers] == [4, 2]
    assert model_schedule(layers, n_frames=10).ii == steps * 36


def global_pool_4x4():
    return layer_geometry(global_pool_op((2, 4, 4), [1, 1], [[1, 10, 30]] * 2))


def test_a_global_pool_takes_a_pixel_per_cycle_and_refuses_only_its_last_pixel_while_held():
    model = AccumulateSchedule(global_pool_4x4())
    for _ in range(15):
        assert model.in_ready() and not model.step(True, True)
    assert model.in_ready() and not model.step(True, False)  # the 16th pixel loads the output
    assert model.out_valid
    for _ in range(15):  # the next frame's pixels go in while the output waits
        assert model.in_ready() and not model.step(True, False)
    assert not model.in_ready()  # its last pixel waits for the output register
    assert model.step(False, True) and not model.out_valid and model.in_ready()


def test_a_chain_ending_in_a_global_pool_runs_at_the_image_rate():
    conv = conv_op(np.ones((2, 1, 3, 3), dtype=np.int64), (1, 4, 4), [[1, 4, 8]] * 2, pads=(1, 1, 1, 1))
    layers = [layer_geometry(conv), global_pool_4x4()]
    schedule = size_line_buffers(layers)
    assert schedule.ii == rate_bound(layers) == 16 and schedule.input_stalls == 0
    assert layers[1].line_buffer_rows == 0  # sizing never grows the pool stage
