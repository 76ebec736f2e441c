"""Loaded Verilator models, kept per thread and evicted least recently used.

Loading a shared object and creating the model is the expensive part of a run, so RTLCircuit
keeps the simulators it loaded.  Each thread has its own (a simulator serializes its own
calls); at most MAX_LOADED per thread stay cached: the least recently used one is dropped when
another is needed (and closed by its own __del__ once no caller holds it any more).
"""
import os
import threading
from collections import OrderedDict

from qonnx_c4ml.sim import CircuitSimulator
from qonnx_c4ml.sim.stream_simulator import StreamSimulator

MAX_LOADED = 8

_LOADED = threading.local()


def streaming_sim_description(description, verilog_dir=None):
    """What qonnx_c4ml.sim.stream_simulator needs to drive a streaming top: its geometry and ports."""
    stream = dict(description.stream)
    if verilog_dir is not None:
        stream["files"] = [str(verilog_dir / f) for f in description.files]
    return stream


def _load(library, description):
    if description.style == "streaming":
        # a large batch is split over one model instance per core (StreamSimulator.run_frames)
        return StreamSimulator(streaming_sim_description(description), so_path=library,
                               threads=len(os.sched_getaffinity(0)))
    return CircuitSimulator(library, description.inp.width, description.out.width, description.latency_cycles)


def simulator_for(library, description):
    """The loaded simulator of `library` for the circuit `description` (this thread's)."""
    loaded = getattr(_LOADED, "by_key", None)
    if loaded is None:
        loaded = _LOADED.by_key = OrderedDict()
    # two circuits can share one library (same Verilog) yet differ in how the host feeds it
    # (a streaming circuit's in_index gather), so the description is part of the key
    key = (library, description.to_json())
    if key in loaded:
        loaded.move_to_end(key)
        return loaded[key]
    while len(loaded) >= MAX_LOADED:
        loaded.popitem(last=False)
    loaded[key] = _load(library, description)
    return loaded[key]


def loaded(library, description):
    """This thread's loaded simulator of `library` for `description`, or None (nothing loaded)."""
    return getattr(_LOADED, "by_key", {}).get((library, description.to_json()))


def loaded_count():
    """How many simulators this thread holds (for tests of the eviction)."""
    return len(getattr(_LOADED, "by_key", ()))
