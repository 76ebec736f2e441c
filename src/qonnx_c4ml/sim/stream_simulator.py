"""Run frames through a streaming circuit (chisel/stream/) in Verilator.

The host serializes each frame (N, C*H*W codes, channels first) into H*W pixels in raster
order, each pixel its C channel codes packed with channel 0 in the LSBs; the circuit's frame
top returns whole frames in LBIR flat order.  The build reuses `build_library` (content-hash
cache, ccache, the same compiler flags) with the streaming driver stream_harness.cpp.
"""
import ctypes
from pathlib import Path

import numpy as np

from qonnx_c4ml.sim.closeable import Closeable
from qonnx_c4ml.sim.errors import SimulationError
from qonnx_c4ml.sim.packing import pack_codes, unpack_codes, words_for_bits
from qonnx_c4ml.sim.verilator import build_library

STREAM_HARNESS_PATH = Path(__file__).with_name("stream_harness.cpp")
# With back-pressure on, a pending pixel is held back this often and out_ready is low this often.
BACKPRESSURE_IN_GAP_PERCENT = 30
BACKPRESSURE_OUT_STALL_PERCENT = 40


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

    def __init__(self, description, cache_dir=None, timeout_s=600, top="frame", so_path=None):
        self._handle = None  # close() (and __del__) must work even if this constructor raises
        if top not in ("frame", "stream"):
            raise ValueError(f"top must be 'frame' or 'stream', got {top!r}")
        self.description = description
        self.top = top
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
        self._handle = None
        self.last_statistics = None  # cycles, ii, latency, stall_cycles of the last run_frames

    def run_frames(self, codes, backpressure=None, max_cycles=None):
        """Stream `codes` (N, C*H*W) int64 through the circuit; returns (out (N, E) int64, stats).

        `codes` are in the layout of the first layer's input tensor (its in_index, if any, is
        applied here); `out` is the last layer's output in LBIR flat order.

        backpressure: None streams a pixel every cycle with out_ready always high; an integer
        seeds random gaps in in_valid and random low periods of out_ready.
        stats: cycles (after reset, until the last frame), ii (cycles between consecutive
        frames, the largest gap when unstalled, the mean otherwise), latency (first pixel of
        frame 0 accepted -> its frame out; with top="stream", -> its last output pixel),
        stall_cycles (in_valid high, in_ready low), out_stall_cycles, frame_cycles (cycle each
        frame, or its last pixel, left), pixel_cycles (cycle each input pixel was accepted).
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
        stats = np.zeros(4, dtype=np.int64)
        gap, stall, seed = (0, 0, 0) if backpressure is None else (
            BACKPRESSURE_IN_GAP_PERCENT, BACKPRESSURE_OUT_STALL_PERCENT, int(backpressure))
        if max_cycles is None:
            # a folded circuit's frame is one pixel taking ii_cycles cycles
            max_cycles = 20 * (n_frames + 4) * max(h * w, int(self.description.get("ii_cycles") or 1)) + 10_000
        if self._handle is None:
            self._handle = self._lib.qc4ml_create()
            if not self._handle:
                raise MemoryError(f"could not create a model instance of {self.so_path}")
        self._lib.qc4ml_stream_run(self._handle, in_words.ctypes.data, pixels.shape[0], n_beats, gap, stall,
                                   seed, max_cycles, out_words.ctypes.data, pixel_cycles.ctypes.data,
                                   beat_cycles.ctypes.data, stats.ctypes.data)
        cycles, beats, in_stalls, out_stalls = (int(v) for v in stats)
        if beats != n_beats:
            raise SimulationError(f"{self.so_path}: {n_frames} frames in, {beats} of {n_beats} output beats after "
                                  f"{cycles} cycles ({in_stalls} input stall cycles): the stream deadlocked or "
                                  "lost data")
        out = unpack_codes(out_words, self.beat_out["elements"], self.beat_out["bits"], self.beat_out["signed"])
        if self.top == "stream":  # (N*OH*OW, O) pixels -> (N, O*OH*OW) channels first
            channels, oh, ow = self.out_shape
            out = out.reshape(n_frames, oh, ow, channels).transpose(0, 3, 1, 2).reshape(n_frames, -1)
        frame_cycles = beat_cycles[beats_per_frame - 1::beats_per_frame]
        gaps = np.diff(frame_cycles)
        if len(gaps):
            ii = int(gaps.max()) if backpressure is None else float(gaps.mean())
        else:
            ii = h * w
        self.last_statistics = {"cycles": cycles, "ii": ii, "latency": int(frame_cycles[0] - pixel_cycles[0]),
                                "stall_cycles": in_stalls}
        return out, {
            "cycles": cycles,
            "ii": ii,
            "latency": int(frame_cycles[0] - pixel_cycles[0]),
            "stall_cycles": in_stalls,
            "out_stall_cycles": out_stalls,
            "frame_cycles": frame_cycles,
            "pixel_cycles": pixel_cycles,
        }

    def close(self):
        if self._handle is not None:
            self._lib.qc4ml_destroy(self._handle)
            self._handle = None


def run_frames(description, codes, backpressure=None, cache_dir=None, top="frame"):
    """One-shot helper: build (cached) and run; see StreamSimulator.run_frames."""
    with StreamSimulator(description, cache_dir=cache_dir, top=top) as circuit:
        return circuit.run_frames(codes, backpressure)
