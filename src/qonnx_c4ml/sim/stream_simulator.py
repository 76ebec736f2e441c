"""Run frames through a streaming circuit (chisel/stream/) in Verilator.

The host serializes each frame (N, C*H*W codes, channels first) into H*W pixels in raster
order, each pixel its C channel codes packed with channel 0 in the LSBs; the circuit's frame
top returns whole frames in LBIR flat order.  The build reuses `build_library` (content-hash
cache, ccache, the same compiler flags) with the streaming driver stream_harness.cpp.
"""
import ctypes
import os
from pathlib import Path

import numpy as np

from qonnx_c4ml.sim.closeable import Closeable
from qonnx_c4ml.sim.errors import SimulationError
from qonnx_c4ml.sim.packing import pack_codes, unpack_codes, words_for_bits
from qonnx_c4ml.sim.verilator import build_library, thread_pool

STREAM_HARNESS_PATH = Path(__file__).with_name("stream_harness.cpp")
# With back-pressure on, a pending pixel is held back this often and out_ready is low this often.
BACKPRESSURE_IN_GAP_PERCENT = 30
BACKPRESSURE_OUT_STALL_PERCENT = 40
# A stream of its own gets at least this many frames (reset and pipeline fill cost ~1 frame).
MIN_FRAMES_PER_THREAD = 16


def frames_to_pixels(codes, in_shape):
    """(N, C*H*W) channels-first codes -> (N*H*W, C) pixels in raster order."""
    c, h, w = in_shape
    codes = np.asarray(codes, dtype=np.int64).reshape(-1, c, h, w)
    return codes.transpose(0, 2, 3, 1).reshape(-1, c)


class StreamSimulator(Closeable):
    """A built streaming circuit: `run_frames` pushes frames through it.

    `description` is the dict returned by `chisel.stream.generate.generate_streaming`.  `top="frame"`
    drives the frame top (output beats are whole frames, gathered by the collector);
    `top="stream"` drives `<top>_stream`, whose output beats are the last layer's pixels, so
    back-pressure reaches every output pixel; the driver then assembles the frames.
    """

    def __init__(self, description, cache_dir=None, timeout_s=600, top="frame", so_path=None, threads=1):
        self._handles, self._pool = [], None  # close() (and __del__) must work even if this constructor raises
        if top not in ("frame", "stream"):
            raise ValueError(f"top must be 'frame' or 'stream', got {top!r}")
        self.description = description
        self.top = top
        self.threads = max(1, int(threads))  # run_frames' default
        self.in_shape = list(description["in_shape"])
        self.out_shape = list(description["out_shape"])
        self.pixel_in = description["pixel_in"]
        self.beat_out = description["out"] if top == "frame" else description["pixel_out"]
        self.in_bits = self.pixel_in["elements"] * self.pixel_in["bits"]
        self.out_bits = self.beat_out["elements"] * self.beat_out["bits"]
        module = description["top"] if top == "frame" else description["stream_top"]
        # `so_path`: an already built library (RTLSim builds once; the Verilog may be gone later)
        self.so_path = so_path or build_library(description["files"], module, self.in_bits, self.out_bits,
                                                cache_dir=cache_dir, timeout_s=timeout_s,
                                                harness=STREAM_HARNESS_PATH)
        lib = ctypes.CDLL(str(self.so_path))
        lib.qc4ml_create.restype = ctypes.c_void_p
        lib.qc4ml_destroy.argtypes = [ctypes.c_void_p]
        lib.qc4ml_destroy.restype = None
        lib.qc4ml_stream_run.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
            ctypes.c_int64, ctypes.c_uint64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.qc4ml_stream_run.restype = None
        self._lib = lib
        self.last_statistics = None  # cycles, ii, latency, stall_cycles of the last run_frames

    def run_frames(self, codes, backpressure=None, max_cycles=None, threads=None):
        """Stream `codes` (N, C*H*W) int64 through the circuit; returns (out (N, E) int64, stats).

        `codes` are in the layout of the first layer's input tensor (its in_index, if any, is
        applied here); `out` is the last layer's output in LBIR flat order.

        backpressure: None streams a pixel every cycle with out_ready always high; an integer
        seeds random gaps in in_valid and random low periods of out_ready.
        threads (default: the simulator's `threads`, 1 unless given): without back-pressure,
        up to this many model instances each stream a
        consecutive share of the frames (at least MIN_FRAMES_PER_THREAD), from reset, in
        parallel threads (the ctypes call releases the GIL); their cycles are then laid end to
        end, as if the streams had run one after the other, each from reset.
        stats: cycles (after reset, until the last frame; summed over the streams), ii (cycles
        between consecutive frames of one stream, the largest gap when unstalled, the mean
        otherwise), latency (first pixel of frame 0 accepted -> its frame out; with
        top="stream", -> its last output pixel), stall_cycles (in_valid high, in_ready low),
        out_stall_cycles, frame_cycles (cycle each frame, or its last pixel, left),
        pixel_cycles (cycle each input pixel was accepted).
        """
        codes = np.asarray(codes, dtype=np.int64)
        codes = codes.reshape(codes.shape[0], -1)
        n_frames = codes.shape[0]
        c, h, w = self.in_shape
        if self.description.get("in_index"):  # the first layer reads its image through a gather
            codes = codes[:, self.description["in_index"]]
        pixels = frames_to_pixels(codes, self.in_shape)
        in_words = np.ascontiguousarray(pack_codes(pixels, self.pixel_in["bits"], self.pixel_in["signed"]))
        beats_per_frame = 1 if self.top == "frame" else self.out_shape[1] * self.out_shape[2]
        n_beats = n_frames * beats_per_frame
        out_words = np.zeros((n_beats, words_for_bits(self.out_bits)), dtype=np.uint32)
        pixel_cycles = np.full(pixels.shape[0], -1, dtype=np.int64)
        beat_cycles = np.full(n_beats, -1, dtype=np.int64)
        threads = self.threads if threads is None else max(1, int(threads))
        n_streams = 1 if backpressure is not None else max(1, min(threads, n_frames // MIN_FRAMES_PER_THREAD))
        bounds = np.linspace(0, n_frames, n_streams + 1).astype(int)
        spans = list(zip(bounds[:-1], bounds[1:]))
        arrays = (in_words, out_words, pixel_cycles, beat_cycles)
        all_stats = self._run_streams(spans, arrays, beats_per_frame, backpressure, max_cycles)
        offset, gaps = 0, []
        for (first, last), stats in zip(spans, all_stats):
            cycles, beats, in_stalls, _ = (int(v) for v in stats)
            expected = (last - first) * beats_per_frame
            if beats != expected:
                raise SimulationError(f"{self.so_path}: {last - first} frames in, {beats} of {expected} output beats "
                                      f"after {cycles} cycles ({in_stalls} input stall cycles): the stream "
                                      "deadlocked or lost data")
            frames_of_stream = beat_cycles[first * beats_per_frame + beats_per_frame - 1:last * beats_per_frame:beats_per_frame]
            gaps.append(np.diff(frames_of_stream))
            pixel_cycles[first * h * w:last * h * w] += offset  # laid end to end
            beat_cycles[first * beats_per_frame:last * beats_per_frame] += offset
            offset += cycles
        cycles, _, in_stalls, out_stalls = (int(v) for v in np.sum(all_stats, axis=0))
        out = unpack_codes(out_words, self.beat_out["elements"], self.beat_out["bits"], self.beat_out["signed"])
        if self.top == "stream":  # (N*OH*OW, O) pixels -> (N, O*OH*OW) channels first
            channels, oh, ow = self.out_shape
            out = out.reshape(n_frames, oh, ow, channels).transpose(0, 3, 1, 2).reshape(n_frames, -1)
        frame_cycles = beat_cycles[beats_per_frame - 1::beats_per_frame]
        gaps = np.concatenate(gaps)
        if len(gaps):
            ii = int(gaps.max()) if backpressure is None else float(gaps.mean())
        else:
            ii = h * w
        self.last_statistics = {"cycles": cycles, "ii": ii, "latency": int(frame_cycles[0] - pixel_cycles[0]),
                                "stall_cycles": in_stalls}
        return out, {
            **self.last_statistics,
            "out_stall_cycles": out_stalls,
            "frame_cycles": frame_cycles,
            "pixel_cycles": pixel_cycles,
        }

    def _run_streams(self, spans, arrays, beats_per_frame, backpressure, max_cycles):
        """Frames [first, last) of each span on instance i (in parallel threads when several),
        each filling its own slices of `arrays`; returns each stream's C++ stats."""
        in_words, out_words, pixel_cycles, beat_cycles = arrays
        pixels_per_frame = self.in_shape[1] * self.in_shape[2]
        # a folded circuit's frame is one pixel taking ii_cycles cycles
        cycles_per_frame = max(pixels_per_frame, int(self.description.get("ii_cycles") or 1))
        gap, stall, seed = (0, 0, 0) if backpressure is None else (
            BACKPRESSURE_IN_GAP_PERCENT, BACKPRESSURE_OUT_STALL_PERCENT, int(backpressure))

        def stream(index, first, last):
            pixel_span = slice(first * pixels_per_frame, last * pixels_per_frame)
            beat_span = slice(first * beats_per_frame, last * beats_per_frame)
            stats = np.zeros(4, dtype=np.int64)
            limit = max_cycles if max_cycles is not None else 20 * (last - first + 4) * cycles_per_frame + 10_000
            self._lib.qc4ml_stream_run(
                self._instance(index), in_words[pixel_span].ctypes.data, (last - first) * pixels_per_frame,
                (last - first) * beats_per_frame, gap, stall, seed, limit, out_words[beat_span].ctypes.data,
                pixel_cycles[pixel_span].ctypes.data, beat_cycles[beat_span].ctypes.data, stats.ctypes.data)
            return stats

        for index in range(len(spans)):
            self._instance(index)  # created here, in this thread, before any stream starts
        if len(spans) == 1:
            return [stream(0, *spans[0])]
        self._pool = thread_pool(self._pool, len(spans))
        futures = [self._pool[0].submit(stream, index, *span) for index, span in enumerate(spans)]
        return [future.result() for future in futures]

    def _instance(self, index):
        while len(self._handles) <= index:
            handle = self._lib.qc4ml_create()
            if not handle:
                raise MemoryError(f"could not create a model instance of {self.so_path}")
            self._handles.append(handle)
        return self._handles[index]

    def close(self):
        handles, self._handles = getattr(self, "_handles", []), []
        for handle in handles:
            self._lib.qc4ml_destroy(handle)
        pool, self._pool = getattr(self, "_pool", None), None
        if pool is not None and pool[1] == os.getpid():
            pool[0].shutdown(wait=False)


def run_frames(description, codes, backpressure=None, cache_dir=None, top="frame"):
    """One-shot helper: build (cached) and run; see StreamSimulator.run_frames."""
    with StreamSimulator(description, cache_dir=cache_dir, top=top) as circuit:
        return circuit.run_frames(codes, backpressure)
