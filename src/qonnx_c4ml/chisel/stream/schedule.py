"""The cycle model of the streaming control (the rules of the Verilog, without data): latency,
initiation interval, and line buffer sizing.

A folded layer (S steps per window) issues a window only when it holds none or its held
window finishes (layer_verilog.py), so it produces an output pixel every S cycles; the rate
bound counts S * OH * OW cycles for it, and upstream layers see its refusals as
back-pressure (their stalls are not a sizing failure when the chain runs at the bound).

LayerSchedule / AccumulateSchedule are the reference models, stepped cycle by cycle
(`model_schedule(..., exact=True)`, and any chain with a residual block, whose BlockSchedule
steps its branches' LayerSchedules); other chains run compiled (compiled_schedule.py: the same
rules as one Python function that skips the cycles in which a stage cannot change), with
identical results (tests/chisel/stream/test_compiled_schedule.py)."""
from dataclasses import dataclass

import numpy as np

from qonnx_c4ml.chisel.stream.compiled_schedule import run_compiled

class LayerSchedule:
    """Cycle model of one layer's control (the same rules as the Verilog, without data).  The
    geometry is read once; the window's clipped rows/columns change only when a window issues."""

    def __init__(self, layer):
        self.layer = layer
        _, self.h, self.w = layer.in_shape
        _, oh, ow = layer.out_shape
        self.kh1, self.kw1 = layer.kernel[0] - 1, layer.kernel[1] - 1
        self.sh, self.sw = layer.strides
        self.rows = layer.line_buffer_rows
        self.top0, self.left0 = -layer.pads[0], -layer.pads[1]
        self.last_top, self.last_left = (oh - 1) * self.sh - layer.pads[0], (ow - 1) * self.sw - layer.pads[1]
        self.steps, self.folded = layer.steps, layer.steps > 1
        self.write_row = self.write_col = self.frame_row0 = 0
        self.top, self.left = self.top0, self.left0
        self.pipe = [False] * (1 + layer.engine_latency)  # window register + engine stages
        self.out_valid = False
        self.held, self.step_count = False, 0  # folded (S > 1): a window held, its step
        self._window_moved()

    def _window_moved(self):
        """The last input pixel the window needs (its bottom-right corner clipped to the image)
        and the oldest row it reads."""
        h1, w1 = self.h - 1, self.w - 1
        self.need_row = min(max(self.top + self.kh1, 0), h1)
        self.need_col = min(max(self.left + self.kw1, 0), w1)
        self.first_row = min(max(self.top, 0), h1)

    def in_ready(self):
        return self.write_row - self.frame_row0 - self.first_row < self.rows

    def step(self, in_take, out_ready):
        """One clock edge; returns whether an output pixel left (out_valid and out_ready)."""
        ahead = self.write_row - self.frame_row0 - self.need_row
        window_ready = ahead > 0 or (ahead == 0 and self.write_col > self.need_col)
        advance = not self.out_valid or out_ready
        left = self.out_valid and out_ready
        folded = self.folded
        finish = folded and self.held and self.step_count == self.steps - 1 and advance
        issue = window_ready and ((not self.held or finish) if folded else advance)
        if in_take:
            self.write_col += 1
            if self.write_col == self.w:
                self.write_col, self.write_row = 0, self.write_row + 1
        if issue:
            if self.left == self.last_left:
                self.left = self.left0
                if self.top == self.last_top:
                    self.top, self.frame_row0 = self.top0, self.frame_row0 + self.h
                else:
                    self.top += self.sh
            else:
                self.left += self.sw
            self._window_moved()
        if folded:
            if issue or finish:
                self.step_count = 0
            elif self.held and self.step_count < self.steps - 1:
                self.step_count += 1
            self.held = issue or (self.held and not finish)
            self.out_valid = finish or (self.out_valid and not out_ready)
        elif advance:
            self.out_valid = self.pipe[-1]
            self.pipe = [issue] + self.pipe[:-1]
        return left


class AccumulateSchedule:
    """Cycle model of a global pool stage (chisel/stream/global_pool.py; the rules of
    global_pool_verilog.py, without data): a pixel per cycle, the frame's last one refused
    while the previous output pixel is unread."""

    def __init__(self, layer):
        self.layer = layer
        self.count = 0
        self.out_valid = False

    def in_ready(self):
        return not (self.count == self.layer.pixels - 1 and self.out_valid)

    def step(self, in_take, out_ready):
        """One clock edge; returns whether the output pixel left (out_valid and out_ready)."""
        left = self.out_valid and out_ready
        last = self.count == self.layer.pixels - 1
        if in_take and last:
            self.count, self.out_valid = 0, True
        else:
            if in_take:
                self.count += 1
            if out_ready:
                self.out_valid = False
        return left


@dataclass
class Schedule:
    """What the control model measured (cycles)."""

    latency: int  # first pixel of frame 0 accepted -> the collector's out_valid
    ii: int  # largest gap between consecutive frames
    input_stalls: int  # cycles a pending input pixel was refused
    refusals: list  # per layer: cycles its upstream offered a pixel it refused
    layer_latencies: list  # per layer: its first input pixel -> its frame 0's last output pixel, inclusive


def rate_bound(layers):
    """Fewest cycles per frame the chain can take: every layer reads its input frame at one
    pixel per cycle and writes its output frame at one pixel per S cycles (S = 1 unless it
    is folded)."""
    bound = 0
    for stage in layers:  # a residual block: its frames in and out, and its branches' layers
        bound = max(bound, stage.in_shape[1] * stage.in_shape[2], stage.out_shape[1] * stage.out_shape[2])
        for l in stage.layers if hasattr(stage, "branches") else [stage]:
            bound = max(bound, l.in_shape[1] * l.in_shape[2], l.steps * l.out_shape[1] * l.out_shape[2])
    return bound


def model_schedule(layers, n_frames=6, exact=False):
    """Continuous streaming of `n_frames` frames (a pixel offered every cycle, output always
    read) through the control model (the rules of the Verilog, without data).  A chain of
    layers and global pools runs compiled (chisel/stream/compiled_schedule.py, the same
    results); `exact`, or a stage with a model of its own (a residual block), steps the models."""
    # a stage with its own model (a residual block: chisel/stream/block_schedule.py) brings it
    schedules = [layer.control_model() if hasattr(layer, "control_model") else LayerSchedule(layer)
                 for layer in layers]
    pixels = layers[0].in_shape[1] * layers[0].in_shape[2]
    out_pixels = layers[-1].out_shape[1] * layers[-1].out_shape[2]
    per_frame = [layer.out_shape[1] * layer.out_shape[2] for layer in layers]
    limit = 100 * (n_frames + 2) * rate_bound(layers) + 1000
    if exact or not all(type(s) in (LayerSchedule, AccumulateSchedule) for s in schedules):
        frames, cycle, refusals, layer_start, layer_done = _stepped(schedules, per_frame, n_frames, pixels,
                                                                     out_pixels, limit)
    else:
        frames, cycle, refusals, layer_start, layer_done = run_compiled(schedules, per_frame, n_frames, pixels,
                                                                        out_pixels, limit)
    if len(frames) < n_frames:
        raise AssertionError(f"streaming control model deadlocked after {cycle} cycles")
    return Schedule(latency=frames[0], ii=int(np.diff(frames).max()) if n_frames > 1 else pixels,
                    input_stalls=refusals[0], refusals=refusals,
                    layer_latencies=[done - start + 1 for start, done in zip(layer_start, layer_done)])


def _stepped(schedules, per_frame, n_frames, pixels, out_pixels, limit):
    """The reference loop: every stage model stepped every cycle.  Returns (frames, cycles,
    refusals, layer_start, layer_done) as compiled_schedule.run_compiled does."""
    sent, collected, frames, cycle = 0, 0, [], 0
    n = len(schedules)
    refusals, layer_done, layer_start, layer_count = [0] * n, [-1] * n, [-1] * n, [0] * n
    while len(frames) < n_frames and cycle < limit:
        # readies come from registers only (the collector is always ready here)
        readies = [s.in_ready() for s in schedules] + [True]
        offers = [sent < n_frames * pixels] + [s.out_valid for s in schedules]
        for k, schedule in enumerate(schedules):
            take = offers[k] and readies[k]
            refusals[k] += offers[k] and not readies[k]
            if take and layer_start[k] < 0:
                layer_start[k] = cycle
            if schedule.step(take, readies[k + 1]) and layer_done[k] < 0:
                layer_count[k] += 1
                if layer_count[k] == per_frame[k]:
                    layer_done[k] = cycle
        sent += offers[0] and readies[0]
        if offers[-1]:
            collected += 1
            if collected == out_pixels:
                frames.append(cycle + 1)  # frame_valid rises at the next edge
                collected = 0
        cycle += 1
    return frames, cycle, refusals, layer_start, layer_done


def size_line_buffers(layers, max_rounds=24, exact=False):
    """Grow line buffers (doubling rows) until the modelled stream runs at the rate bound.

    R = the next power of two >= KH + 1 rows suffices for 'same'-like padding; heavy bottom
    padding makes several output rows due after the last input row, and the reader then needs
    more rows of slack to keep the writer going.  The layer grown is the most downstream one
    that refused input (upstream refusals are often its back-pressure).  `exact`: the
    reference model (model_schedule's), for the tests that compare the two."""
    for _ in range(max_rounds):
        schedule = model_schedule(layers, exact=exact)
        if schedule.ii <= rate_bound(layers):
            return schedule
        refused = [layer for layer, count in zip(layers, schedule.refusals) if count and hasattr(layer, "kernel")
                   and 0 < layer.line_buffer_rows < 4 * (layer.in_shape[1] + layer.kernel[0])]
        # (blocks size their own; a global pool stage has no line buffer)
        if not refused:
            return schedule
        layer = refused[-1]
        layer.line_buffer_rows *= 2
        layer.line_buffer_bits = layer.line_buffer_rows * layer.in_shape[2] * layer.inp.width
    return model_schedule(layers, exact=exact)
