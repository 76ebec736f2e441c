"""chisel/stream/engine.py: the window engine evaluated in numpy equals the window arithmetic
(max per channel; dot product + threshold count per output channel)."""
import numpy as np

from qonnx_c4ml.chisel.logic.evaluate import evaluate
from qonnx_c4ml.chisel.stream.engine import engine_module, engine_verilog
from qonnx_c4ml.chisel.stream.geometry import layer_geometry

from .stream_ops import conv_op, pool_op

RNG = np.random.default_rng(11)


def test_pool_engine_is_the_channel_max_of_the_window():
    op = pool_op((3, 4, 4), kernel=(2, 2))
    layer = layer_geometry(op)
    engine = engine_module(layer, op)
    windows = RNG.integers(-8, 8, size=(300, 2 * 2 * 3))  # element (u*2 + v)*3 + c
    out = evaluate(engine.lowered(), windows, check_ranges=True)
    assert np.array_equal(out, windows.reshape(300, 4, 3).max(axis=1))
    assert layer.engine_latency == 0 and layer.engine_levels > 0
    text = engine_verilog(layer, engine, "")
    assert "module pool_engine" in text and "enable" not in text


def test_conv_engine_is_the_requantized_dot_product():
    weights = RNG.integers(-2, 3, size=(3, 2, 2, 2))
    thresholds = np.array([[-4, 0, 3], [-1, 1, 2], [0, 5, 9]])
    op = conv_op(weights, (2, 3, 3), thresholds, out_base=0)
    layer = layer_geometry(op)
    engine = engine_module(layer, op)
    windows = RNG.integers(0, 4, size=(400, 2 * 2 * 2))
    # window element (u, v, c) -> weight [o, c, u, v]
    acc = windows @ weights.transpose(2, 3, 1, 0).reshape(8, 3)
    expected = (acc[:, :, None] >= thresholds[None]).sum(axis=2)
    assert np.array_equal(evaluate(engine.lowered(), windows, check_ranges=True), expected)
    assert layer.adders > 0


def test_pipelined_engine_registers_load_on_enable():
    op = pool_op((2, 4, 4), kernel=(2, 2), dtype="INT8")
    layer = layer_geometry(op)
    engine = engine_module(layer, op, stage_levels=1)
    assert layer.engine_latency >= 1 and layer.pixel_latency == 2 + layer.engine_latency
    text = engine_verilog(layer, engine, "")
    assert "  input wire [0:0] enable," in text and "    if (enable) begin" in text
    assert "posedge clock" in text
    windows = RNG.integers(-128, 128, size=(200, 8))
    assert np.array_equal(evaluate(engine.lowered(), windows), windows.reshape(200, 4, 2).max(axis=1))
