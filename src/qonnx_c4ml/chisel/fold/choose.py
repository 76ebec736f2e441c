"""Reuse factors from a throughput target and/or a LUT budget, FINN SetFolding-like: every
layer gets the largest fold whose cycles per sample stay within one common cycle budget B,
so the layers' cycles are balanced and the slowest sets the circuit's II.

    target_ii only:  R_layer = min(M_layer, target_ii)  ->  S_layer = ceil(M / ceil(M / R)) <= target_ii
    max_luts:        B = the smallest II whose layers' estimated LUTs sum to <= max_luts
                     (and B <= target_ii when both are given)

(a layer of M <= B rows becomes one unit computing a row per cycle).

`choose_folding` is generic over layers: each is a `FoldableLayer` (name, max reuse,
cycles(R), estimated_luts(R)), so a layer of any kind plugs in by saying how its cycles and
LUTs grow with R (a folded dense layer: cycles = ceil(M / ceil(M / R)); a folded convolution
would be cycles = R * pixels).  cycles(R) must not fall as R grows; the budget search assumes
the total estimated LUTs do not grow as B grows (what folding is for), and bisects the
candidate IIs, so a layer's LUT estimate is called O(log candidates) times.
"""
from dataclasses import dataclass
from typing import Callable

from qonnx_c4ml.chisel.fold.datapath import fold_geometry
from qonnx_c4ml.errors import UnsupportedModelError


def reuse_for_target(outputs, target_ii):
    """Reuse factors for layers of `outputs` rows each (a list) at `target_ii` cycles per sample."""
    check_positive("target_ii", target_ii)
    return [min(int(m), target_ii) for m in outputs]


def folded_ii(outputs, reuse_factors):
    """Cycles per sample of the folded chain: the largest layer step count."""
    return max(fold_geometry(int(m), int(r))[1] for m, r in zip(outputs, reuse_factors))


def check_positive(option, value):
    """Refuse anything but an integer >= 1 for `option`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        unit = "cycles per sample" if option == "target_ii" else "estimated LUTs"
        raise UnsupportedModelError(f"{option}={value!r} is not an integer >= 1 ({unit})")


@dataclass(frozen=True)
class FoldableLayer:
    """One layer the chooser can fold: `cycles(R)` per sample and `luts(R)` estimated at reuse
    factor R in 1..max_reuse."""
    name: str
    max_reuse: int
    cycles: Callable[[int], int]
    luts: Callable[[int], int]


def dense_layer(name, outputs, luts):
    """A folded dense layer of `outputs` rows: cycles(R) = ceil(M / ceil(M / R)) (fold_geometry)."""
    return FoldableLayer(name, int(outputs), lambda r: fold_geometry(int(outputs), r)[1], luts)


@dataclass
class Folding:
    """The chooser's answer: one reuse factor per layer, the II they reach, the estimated
    LUTs, and per layer which constraint chose its R."""
    reuse_factors: list
    ii: int
    luts: int
    chosen_by: list


def reuse_within(layer, budget):
    """The layer's fold for a cycle budget: the smallest R whose cycles equal those of the
    largest R_max with cycles(R_max) <= budget (the same units, fewer steps to name)."""
    lo, hi = 1, layer.max_reuse  # largest R with cycles(R) <= budget, by bisection (cycles rise with R)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if layer.cycles(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    steps = layer.cycles(lo)
    # the smallest R with those cycles: the same units (a dense layer: R = S, ceil(M / ceil(M / S)) = S)
    first = 1
    while first < lo:
        mid = (first + lo) // 2
        if layer.cycles(mid) >= steps:
            lo = mid
        else:
            first = mid + 1
    return lo


def candidate_iis(layers):
    """Every II some layer's cycles can take, ascending (the budgets worth trying)."""
    values = set()
    for layer in layers:
        values.update(layer.cycles(r) for r in range(1, layer.max_reuse + 1))
    return sorted(values)


def _at_budget(layers, budget):
    factors = [reuse_within(layer, budget) for layer in layers]
    luts = sum(layer.luts(r) for layer, r in zip(layers, factors))
    return factors, max(layer.cycles(r) for layer, r in zip(layers, factors)), luts


def choose_folding(layers, target_ii=None, max_luts=None, min_ii=1):
    """A Folding of `layers` (FoldableLayers) for `target_ii` cycles per sample, `max_luts`
    estimated LUTs, or both (the smallest II within both; see module doc).  `min_ii`: try
    only budgets of at least that many cycles (a caller whose exact LUT count of the chosen
    folding came out above max_luts asks again above that II)."""
    if target_ii is None and max_luts is None:
        raise UnsupportedModelError("choose_folding needs target_ii or max_luts")
    for option, value in (("target_ii", target_ii), ("max_luts", max_luts)):
        if value is not None:
            check_positive(option, value)
    names = [layer.name for layer in layers]
    if max_luts is None:
        factors, ii, luts = _at_budget(layers, target_ii)
        return Folding(factors, ii, luts, ["target_ii" if r < layer.max_reuse else "fully folded"
                                           for layer, r in zip(layers, factors)])
    budgets = [b for b in candidate_iis(layers) if b >= min_ii]
    if not budgets:
        raise UnsupportedModelError(f"max_luts={max_luts}: the folded layers {', '.join(names)} are fully folded at "
                                    f"II {min_ii - 1} and still above the budget", hint="raise max_luts")
    allowed = [b for b in budgets if target_ii is None or b <= target_ii] or budgets[:1]
    fits = lambda budget: _at_budget(layers, budget)[2] <= max_luts  # noqa: E731
    if not fits(allowed[-1]):
        _refuse(layers, names, budgets, allowed, target_ii, max_luts)
    lo, hi = 0, len(allowed) - 1  # the first allowed budget that fits (LUTs fall as the budget grows)
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(allowed[mid]):
            hi = mid
        else:
            lo = mid + 1
    factors, ii, luts = _at_budget(layers, allowed[lo])
    reason = "max_luts" if target_ii is None else "max_luts+target_ii"
    return Folding(factors, ii, luts, [reason if r < layer.max_reuse else "fully folded"
                                       for layer, r in zip(layers, factors)])


def _refuse(layers, names, budgets, allowed, target_ii, max_luts):
    """The UnsupportedModelError for a LUT budget no allowed II meets: the smallest LUTs
    reachable within target_ii, and the smallest II under the budget if there is one."""
    _, ii, luts = _at_budget(layers, allowed[-1])
    where = (f"at II {ii} (target_ii={target_ii})" if target_ii is not None and budgets[-1] > allowed[-1]
             else f"fully folded (II {ii})")
    under = next((b for b in budgets if b > allowed[-1] and _at_budget(layers, b)[2] <= max_luts), None)
    hint = (f"the smallest II under max_luts={max_luts} is {_at_budget(layers, under)[1]} cycles per sample: raise "
            "target_ii to it or raise max_luts" if under is not None else
            f"raise max_luts to at least {luts}")
    raise UnsupportedModelError(f"max_luts={max_luts}: the folded layers {', '.join(names)} need about {luts} "
                                f"estimated LUTs (the chooser's model) {where}", hint=hint)
