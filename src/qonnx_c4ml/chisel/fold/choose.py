"""Reuse factors from a throughput target, FINN SetFolding-like: every dense layer gets the
largest fold that keeps its cycles per sample within `target_ii`, so the layers' cycles are
balanced and the slowest sets the circuit's II.

    R_layer = min(M_layer, target_ii)   ->   S_layer = ceil(M / ceil(M / R)) <= target_ii

(a layer of M <= target_ii rows becomes one unit computing a row per cycle).
"""
from qonnx_c4ml.chisel.fold.datapath import fold_geometry
from qonnx_c4ml.errors import UnsupportedModelError


def reuse_for_target(outputs, target_ii):
    """Reuse factors for layers of `outputs` rows each (a list) at `target_ii` cycles per sample."""
    if isinstance(target_ii, bool) or not isinstance(target_ii, int) or target_ii < 1:
        raise UnsupportedModelError(f"target_ii={target_ii!r} is not an integer >= 1 (cycles per sample)")
    return [min(int(m), target_ii) for m in outputs]


def folded_ii(outputs, reuse_factors):
    """Cycles per sample of the folded chain: the largest layer step count."""
    return max(fold_geometry(int(m), int(r))[1] for m, r in zip(outputs, reuse_factors))
