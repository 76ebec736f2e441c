"""chisel/stream/block_schedule.py: input requirements of the reader rule, the dependency
bound on skip FIFOs (tight: one word less deadlocks the block's cycle model under random gaps
and back-pressure, the bound itself never does) and the sizing for one pixel per cycle."""
import numpy as np
import pytest
from residual_models import residual_lbir

from qonnx_c4ml.chisel.stream.block_schedule import (
    BlockSchedule, dependency_depths, input_requirements, measured_occupancy, pixels_producible)
from qonnx_c4ml.chisel.stream.generate import build_stream_layers
from qonnx_c4ml.chisel.stream.geometry import StreamLayer
from qonnx_c4ml.chisel.stream.schedule import model_schedule
from qonnx_c4ml.interface import Port
from qonnx_c4ml.lbir.graph import lbir_graph
from qonnx_c4ml.transformations.stream_front import front_ops, streaming_front


def layer(in_shape, kernel, strides, pads, out_hw):
    port = Port(in_shape[0], 4, False)
    return StreamLayer("l", "QConv2D", list(in_shape), [in_shape[0], *out_hw], list(kernel), list(strides),
                       list(pads), port, port, line_buffer_rows=4)


def residual_block():
    lbir = residual_lbir()
    nodes, circuit_input, _ = lbir_graph(lbir)
    front, _ = streaming_front(nodes, circuit_input)
    stages, _ = build_stream_layers(front_ops(front))
    return stages[0]


def test_input_requirements_follow_the_clipped_window_corner():
    same = layer((1, 4, 5), (3, 3), (1, 1), (1, 1, 1, 1), (4, 5))
    i, j = np.meshgrid(np.arange(4), np.arange(5), indexing="ij")
    np.testing.assert_array_equal(input_requirements(same),
                                  (np.minimum(i + 1, 3) * 5 + np.minimum(j + 1, 4) + 1).ravel())
    strided = layer((1, 4, 4), (1, 1), (2, 2), (0, 0, 0, 0), (2, 2))
    np.testing.assert_array_equal(input_requirements(strided), [1, 3, 9, 11])
    # a chain: the stride-2 layer reads what the 'same' layer has produced
    chain = [layer((1, 4, 4), (3, 3), (1, 1), (1, 1, 1, 1), (4, 4)), strided]
    produced = pixels_producible(chain, np.arange(17))
    assert produced[-1] == 4 and produced[5] == 0 and produced[6] == 1 and list(produced) == sorted(produced)


def test_identity_skip_gets_the_fifo_the_conv_branch_does_not():
    block = residual_block()
    assert [len(branch) for branch in block.branches] == [0, 2]  # Add(input, conv(conv(input)))
    bound = dependency_depths(block)
    pixels = np.arange(65)
    lag = pixels - pixels_producible(block.branches[1], pixels)
    assert bound == [int(lag.max()) + 1, 0]
    measured = measured_occupancy(block)
    assert block.fifo_depths == [max(bound[0], measured[0] + 1), 0]
    assert model_schedule([block]).ii == 64  # one pixel per cycle through the block


def run(block, depths, seed, frames=3):
    """Frames through the block's model with random input gaps and output stalls; True when all arrive."""
    block.fifo_depths = depths
    model = BlockSchedule(block)
    rng = np.random.default_rng(seed)
    total, wanted = frames * 64, frames * 64
    sent = received = cycle = 0
    while received < wanted and cycle < 40 * total:
        take = sent < total and rng.random() < 0.8 and model.in_ready()
        received += model.step(take, rng.random() < 0.6)
        sent += take
        cycle += 1
    return received == wanted


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_dependency_bound_is_tight(seed):
    block = residual_block()
    bound = dependency_depths(block)
    assert run(block, bound, seed)
    assert not run(block, [bound[0] - 1, 0], seed)  # one word less: the fork waits on a full FIFO forever
