"""sim/closeable.py: simulators free their model instances on exit and on collection."""
import gc

from qonnx_c4ml.sim.closeable import Closeable


class Counting(Closeable):
    closed = 0

    def close(self):
        Counting.closed += 1


def test_with_block_and_collection_close():
    Counting.closed = 0
    with Counting() as sim:
        assert isinstance(sim, Counting) and Counting.closed == 0
    assert Counting.closed == 1
    del sim
    gc.collect()
    assert Counting.closed == 2  # __del__ closes again: close() must be idempotent in subclasses
