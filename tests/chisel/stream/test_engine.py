"""chisel/stream/engine.py: the window engine evaluated in numpy equals the window arithmetic
(max per channel; dot product + threshold count per output channel)."""
import numpy as np
import pytest

from qonnx_c4ml.chisel.logic.evaluate import evaluate
from qonnx_c4ml.chisel.stream.engine import ENGINE_FIELDS, EngineCache, engine_module, engine_verilog
from qonnx_c4ml.chisel.stream.geometry import layer_geometry
from qonnx_c4ml.errors import UnsupportedModelError

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


def test_reuse_factor_one_is_the_parallel_engine_and_folding_sets_the_fold_numbers():
    weights = RNG.integers(-2, 3, size=(5, 2, 2, 2))
    thresholds = np.sort(RNG.integers(-6, 7, size=(5, 3)), axis=1)
    op = conv_op(weights, (2, 3, 3), thresholds)
    parallel = layer_geometry(op)
    text = engine_verilog(parallel, engine_module(parallel, op, reuse_factor=1), "")
    assert (parallel.reuse_factor, parallel.units, parallel.steps) == (1, 5, 1)
    assert text == engine_verilog(layer_geometry(op), engine_module(layer_geometry(op), op), "")
    assert parallel.estimated_luts > 0 and parallel.pixel_latency == 2
    folded = layer_geometry(op)
    engine = engine_module(folded, op, reuse_factor=2)
    assert (folded.reuse_factor, folded.units, folded.steps) == (2, 3, 2)
    assert folded.pixel_latency == 3 and folded.ii_cycles == max(3 * 3, 2 * 2 * 2)  # pixels in, 2 steps x 2x2 out
    assert "input wire [0:0] step" in engine_verilog(folded, engine, "") and 0 < folded.estimated_luts


def test_pools_and_pipelined_engines_do_not_fold():
    pool = pool_op((2, 4, 4))
    with pytest.raises(UnsupportedModelError, match="only QConv2D layers fold"):
        engine_module(layer_geometry(pool), pool, reuse_factor=2)
    op = conv_op(np.ones((2, 1, 3, 3), dtype=np.int64), (1, 4, 4), [[0, 3, 6]] * 2)
    with pytest.raises(UnsupportedModelError, match="not pipelined"):
        engine_module(layer_geometry(op), op, stage_levels=2, reuse_factor=2)
    with pytest.raises(UnsupportedModelError, match="not an integer >= 1"):
        engine_module(layer_geometry(op), op, reuse_factor=0)


def test_the_engine_cache_rebuilds_only_what_changed():
    weights = RNG.integers(-2, 3, size=(6, 2, 2, 2))
    thresholds = np.sort(RNG.integers(-6, 7, size=(6, 3)), axis=1)
    op = conv_op(weights, (2, 3, 3), thresholds)
    cache = EngineCache()
    first = layer_geometry(op)
    engine = cache.engine(first, op, reuse_factor=2)
    again = layer_geometry(op)  # a retry: fresh geometry, same op and R
    assert cache.engine(again, op, reuse_factor=2) is engine
    assert all(getattr(again, name) == getattr(first, name) for name in ENGINE_FIELDS)
    fresh = layer_geometry(op)
    built = engine_module(fresh, op, reuse_factor=2)
    assert all(getattr(fresh, name) == getattr(first, name) for name in ENGINE_FIELDS)
    assert cache.verilog(first, engine, "// h\n") == engine_verilog(fresh, built, "// h\n")
    other = layer_geometry(op)
    assert cache.engine(other, op, reuse_factor=3) is not engine and other.steps == 3  # 6 channels, 2 units
    from qonnx_c4ml.chisel.fold.memory import InMemory

    in_memory = cache.engine(layer_geometry(op), op, reuse_factor=InMemory(2))  # == 2 as an int
    assert in_memory is not engine and cache.engine(layer_geometry(op), op, reuse_factor=InMemory(2)) is in_memory
    changed = conv_op(weights, (2, 3, 3), thresholds + 1)  # another node: another engine
    assert cache.engine(layer_geometry(changed), changed, reuse_factor=2) is not engine
