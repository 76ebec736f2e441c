"""FIFO sizing of a residual block (chisel/stream/residual.py, whose module doc gives the
rule): the data-dependency bound, and the cycle model (its branches' layer models, the FIFO
counters and the join register, stepped by the rules of the Verilog) for the occupancy at
one pixel per cycle."""
import numpy as np

from qonnx_c4ml.chisel.stream.schedule import LayerSchedule


def input_requirements(layer):
    """Per output pixel (raster order) of a streaming layer: how many input pixels (raster
    count) must have arrived before it can be issued (its clipped bottom-right window pixel)."""
    _, h, w = layer.in_shape
    _, oh, ow = layer.out_shape
    kh, kw = layer.kernel
    rows = np.clip(np.arange(oh) * layer.strides[0] - layer.pads[0] + kh - 1, 0, h - 1)
    cols = np.clip(np.arange(ow) * layer.strides[1] - layer.pads[1] + kw - 1, 0, w - 1)
    return (rows[:, None] * w + cols[None, :] + 1).ravel()


def pixels_producible(branch, received):
    """Output pixels a branch (a chain of StreamLayers) can produce from `received` input pixels
    (an array of counts within one frame)."""
    counts = np.asarray(received)
    for layer in branch:
        counts = np.searchsorted(input_requirements(layer), counts, side="right")
    return counts


def dependency_depths(block):
    """Per branch: the FIFO depth that rules out deadlock (see module doc), 0 where none is
    needed (a non-empty branch that is never ahead of the other)."""
    pixels = block.in_shape[1] * block.in_shape[2]
    received = np.arange(pixels + 1)
    made = [pixels_producible(branch, received) for branch in block.branches]
    depths = []
    for x, branch in enumerate(block.branches):
        ahead = int((made[x] - made[1 - x]).max())
        depths.append(ahead + 1 if ahead > 0 or not branch else 0)
    return depths


class BlockSchedule:
    """A residual block as one stage of `schedule.model_schedule` (the interface of
    LayerSchedule: in_ready(), step(in_take, out_ready), out_valid).  `unbounded`: every branch
    gets a FIFO without a limit, and `max_counts` records their occupancy."""

    def __init__(self, block, unbounded=False):
        self.branches = [[LayerSchedule(layer) for layer in branch] for branch in block.branches]
        self.depths = [None] * 2 if unbounded else list(block.fifo_depths)  # None: unbounded, 0: no FIFO
        self.counts, self.max_counts = [0, 0], [0, 0]
        self.out_valid = False

    def _fifo_ready(self, x):
        return self.depths[x] is None or self.counts[x] < self.depths[x]

    def _has_fifo(self, x):
        return self.depths[x] != 0

    def in_ready(self):
        return all(branch[0].in_ready() if branch else self._fifo_ready(x) for x, branch in enumerate(self.branches))

    def _head(self, x):
        return self.counts[x] > 0 if self._has_fifo(x) else self.branches[x][-1].out_valid

    def step(self, in_take, out_ready):
        """One clock edge; returns whether an output pixel left (out_valid and out_ready)."""
        advance = not self.out_valid or out_ready
        left = self.out_valid and out_ready
        heads = [self._head(0), self._head(1)]
        join = heads[0] and heads[1] and advance
        for x, layers in enumerate(self.branches):
            end_ready = self._fifo_ready(x) if self._has_fifo(x) else heads[1 - x] and advance
            readies = [s.in_ready() for s in layers] + [end_ready]
            offers = [in_take] + [s.out_valid for s in layers]
            for k, schedule in enumerate(layers):
                schedule.step(in_take if k == 0 else offers[k] and readies[k], readies[k + 1])
            if self._has_fifo(x):
                push = offers[-1] and end_ready if layers else in_take
                self.counts[x] += int(push) - int(join)
                self.max_counts[x] = max(self.max_counts[x], self.counts[x])
        if advance:
            self.out_valid = join
        return left


def measured_occupancy(block, n_frames=3):
    """Largest FIFO occupancies of `block` alone on a continuous stream of `n_frames` frames
    (a pixel offered every cycle, output always read), every branch with an unbounded FIFO."""
    model = BlockSchedule(block, unbounded=True)
    pixels = block.in_shape[1] * block.in_shape[2]
    wanted = n_frames * block.out_shape[1] * block.out_shape[2]
    sent = received = cycle = 0
    limit = 100 * (n_frames + 2) * pixels + 1000
    while received < wanted and cycle < limit:
        take = sent < n_frames * pixels and model.in_ready()
        received += model.step(take, True)
        sent += take
        cycle += 1
    if received < wanted:
        raise AssertionError(f"residual block {block.name}: the control model stalled after {cycle} cycles")
    return model.max_counts


def size_fifos(block):
    """Set block.fifo_depths: the deadlock bound (residual.dependency_depths) or the occupancy
    one pixel per cycle needs, whichever is larger; no FIFO on a branch never ahead of the other."""
    bound = dependency_depths(block)
    measured = measured_occupancy(block)
    block.fifo_depths = [max(need, seen + 1) if need or seen > 1 else 0 for need, seen in zip(bound, measured)]
    return block.fifo_depths
