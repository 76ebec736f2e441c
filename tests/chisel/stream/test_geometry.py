"""chisel/stream/geometry.py: a streaming layer's shapes, ports, line buffer and window order."""
import numpy as np
import pytest
from onnx import helper

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.chisel.stream.geometry import StreamLayer, layer_geometry, window_index
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import Port
from qonnx_c4ml.lbir import DOMAIN

from .stream_ops import conv_op, pool_op


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
