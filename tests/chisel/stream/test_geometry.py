"""chisel/stream/geometry.py: a streaming layer's shapes, ports, line buffer and window order."""
import numpy as np
import pytest
from onnx import helper

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.chisel.stream.geometry import GlobalPoolLayer, StreamLayer, is_global_pool, layer_geometry, window_index
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import Port
from qonnx_c4ml.lbir import DOMAIN

from .stream_ops import conv_op, global_pool_op, pool_op


def test_conv_geometry():
    weights = np.ones((4, 2, 3, 3), dtype=np.int64)
    layer = layer_geometry(conv_op(weights, (2, 6, 5), [[0, 4, 9]] * 4, pads=(1, 1, 1, 1), name="conv-1"))
    assert isinstance(layer, StreamLayer)
    assert (layer.name, layer.op_type) == ("conv_1", "QConv2D")  # a Verilog identifier
    assert layer.in_shape == [2, 6, 5] and layer.out_shape == [4, 6, 5]
    assert layer.kernel == [3, 3] and layer.strides == [1, 1] and layer.pads == [1, 1, 1, 1]
    assert layer.inp == Port(2, 2, False) and layer.out == Port(4, 2, False)
    assert layer.line_buffer_rows == 4  # next power of two >= KH = 3
    assert layer.line_buffer_bits == 4 * 5 * layer.inp.width
    assert layer.ii_cycles == 30 and layer.pixel_latency == 2


def test_pool_geometry_keeps_channels_and_needs_two_rows_at_least():
    layer = layer_geometry(pool_op((3, 4, 6), kernel=(1, 2), strides=(1, 2)))
    assert layer.out_shape == [3, 4, 3] and layer.inp == layer.out == Port(3, 4, True)
    assert layer.line_buffer_rows == 2  # KH = 1, still two rows
    assert layer.ii_cycles == 24  # max(H*W, OH*OW)


def test_window_index_is_row_column_channel():
    layer = layer_geometry(pool_op((3, 4, 4), kernel=(2, 2)))
    order = [window_index(layer, u, v, c) for u in range(2) for v in range(2) for c in range(3)]
    assert order == list(range(12))
    assert window_index(layer, 1, 0, 2) == (1 * 2 + 0) * 3 + 2


def test_other_ops_and_empty_outputs_are_refused():
    dense = getCustomOp(helper.make_node("QDense", ["x"], ["y"], name="d", domain=DOMAIN))
    with pytest.raises(UnsupportedModelError, match="no streaming circuit"):
        layer_geometry(dense)
    with pytest.raises(UnsupportedModelError, match="empty output"):
        layer_geometry(pool_op((1, 2, 2), kernel=(3, 3), strides=(1, 1)))


def test_a_depthwise_conv_of_equal_weights_over_the_image_is_a_global_pool():
    op = global_pool_op((4, 8, 8), [1, 1, 2, 1], [[0, 60, 120]] * 4)
    layer = layer_geometry(op)
    assert is_global_pool(op) and isinstance(layer, GlobalPoolLayer)
    assert layer.out_shape == [4, 1, 1] and layer.kernel == [8, 8]
    assert (layer.line_buffer_rows, layer.line_buffer_bits, layer.read_mux_luts) == (0, 0, 0)
    assert layer.ii_cycles == 64 and layer.pixel_latency == 1
    assert layer.accumulator_bits == 9  # 63 pixels of 0..3: 0..189, signed
    # the accumulators, the 6-bit pixel counter, the output register, its valid bit
    assert layer.accumulator_flip_flops == 4 * 9 + 6 + layer.out.width + 1


def test_anything_else_stays_a_window_layer():
    thresholds = [[0, 60, 120]] * 2
    taps = np.ones((2, 64), dtype=np.int64)
    taps[1, 5] = 2
    others = [
        global_pool_op((2, 8, 8), taps, thresholds),  # unequal weights in a channel
        global_pool_op((2, 8, 8), [1, 0], thresholds),  # a zero channel
        global_pool_op((2, 1, 1), [1, 1], thresholds),  # one pixel: a 1x1 convolution
        conv_op(np.ones((2, 2, 8, 8), dtype=np.int64), (2, 8, 8), thresholds),  # not depthwise
        conv_op(np.ones((2, 2, 7, 8), dtype=np.int64), (2, 8, 8), thresholds),  # kernel smaller than the image
    ]
    for op in others:
        assert not is_global_pool(op) and type(layer_geometry(op)) is StreamLayer
    padded = global_pool_op((2, 8, 8), [1, 1], thresholds, pads=(1, 1, 1, 1))
    assert not is_global_pool(padded) and layer_geometry(padded).out_shape == [2, 3, 3]
    assert not is_global_pool(pool_op((2, 4, 4), kernel=(4, 4), strides=(4, 4)))
