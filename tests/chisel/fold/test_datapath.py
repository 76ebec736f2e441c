"""chisel/fold/datapath.py: the unit netlist of a folded QDense layer, evaluated step by step
(chisel/logic/evaluate.py), equals the LBIR numpy reference (lbir/dense.py dense_forward) for
random small layers, R in 1..4 (M not divisible by R), both requantization forms, minifloat
threshold weights and requant="none"."""
import numpy as np
import pytest

from qonnx_c4ml.chisel.fold.datapath import (
    estimate_folded_operators, fold_geometry, unit_module, unit_rows)
from qonnx_c4ml.chisel.logic.evaluate import evaluate
from qonnx_c4ml.interface import Port
from qonnx_c4ml.lbir.dense import dense_forward


def run_folded(weights, in_port, out_dtype, requant, thresholds, out_base, reuse_factor, x, threshold_weights=()):
    """The layer's outputs (N, M) assembled from the unit netlist evaluated at every step."""
    module, _, units, steps, rows = unit_module("unit", weights, in_port, out_dtype, requant, thresholds, out_base,
                                                reuse_factor, threshold_weights)
    netlist = module.lowered()
    outputs = weights.shape[0]
    got = np.zeros((x.shape[0], outputs), dtype=np.int64)
    for r in range(steps):
        y = evaluate(netlist, np.concatenate([x, np.full((x.shape[0], 1), r)], axis=1), check_ranges=True)
        for u in range(units):
            got[:, rows[u][r]] = y[:, u]  # a repeated row computes the same code again
    return got, netlist


def random_layer(rng, kind):
    outputs, inputs = int(rng.integers(2, 10)), int(rng.integers(1, 7))
    weights = rng.integers(-3, 4, size=(outputs, inputs)) * (rng.random((outputs, inputs)) < 0.7)
    if kind == "comparators":  # arbitrary sorted thresholds
        return weights, np.sort(rng.integers(-20, 20, size=(outputs, 3)), axis=1), "thresholds", "UINT2", 0
    if kind == "shift":  # evenly spaced by 4, a different offset per row
        first = rng.integers(-6, 6, size=(outputs, 1))
        return weights, first + 4 * np.arange(4)[None], "thresholds", "INT3", -2
    return weights, np.zeros((0, 0), dtype=np.int64), "none", "INT12", 0


@pytest.mark.parametrize("kind", ["comparators", "shift", "none"])
@pytest.mark.parametrize("signed", [False, True])
def test_unit_netlist_equals_dense_forward(kind, signed):
    rng = np.random.default_rng(7 + signed)
    in_port = Port(0, 3, signed)
    lo, hi = in_port.code_range
    shift_forms = 0
    for _ in range(12):
        weights, thresholds, requant, out_dtype, out_base = random_layer(rng, kind)
        x = rng.integers(lo, hi + 1, size=(64, weights.shape[1]))
        x[0], x[1] = lo, hi  # the corners
        expected = dense_forward(x, weights, requant, thresholds, out_base)
        for reuse_factor in (1, 2, 3, 4):
            port = Port(weights.shape[1], 3, signed)
            got, netlist = run_folded(weights, port, out_dtype, requant, thresholds, out_base, reuse_factor, x)
            np.testing.assert_array_equal(got, expected)
            shift_forms += any(node.op == "shr" for node in netlist.nodes)
    assert kind != "shift" or shift_forms > 0  # the shift form was taken somewhere


def test_minifloat_threshold_weights():
    rng = np.random.default_rng(2)
    weights = rng.integers(-2, 3, size=(5, 4))
    thresholds = np.sort(rng.integers(-10, 10, size=(5, 3)), axis=1)
    x = rng.integers(0, 8, size=(100, 4))
    expected = dense_forward(x, weights, "thresholds", thresholds, 1, [1, 2, 4])
    for reuse_factor in (2, 3):
        got, _ = run_folded(weights, Port(4, 3, False), "UINT4", "thresholds", thresholds, 1, reuse_factor, x,
                            [1, 2, 4])
        np.testing.assert_array_equal(got, expected)


def test_geometry_and_selects():
    assert fold_geometry(64, 4) == (16, 4)
    assert fold_geometry(5, 4) == (2, 3)  # 2 units finish 5 rows in 3 steps
    assert fold_geometry(5, 9) == (1, 5)  # R above M is M
    assert unit_rows(5, 2, 3) == [[0, 2, 4], [1, 3, 3]]  # row 5 does not exist: repeat row 3
    # grouped by likeness: rows 0 and 2 are equal, so are 1 and 3
    alike = np.array([[1, 0, -1], [0, 2, 2], [1, 0, -1], [0, 2, 2], [1, 1, 1]])
    assert unit_rows(5, 2, 3, alike) == [[0, 2, 4], [1, 3, 3]]
    alike[[1, 2]] = alike[[2, 1]]
    assert unit_rows(5, 2, 3, alike) == [[0, 1, 4], [2, 3, 3]]
    for outputs in range(1, 40):  # every unit gets at least one row, every row a unit
        for reuse_factor in range(1, outputs + 2):
            units, steps = fold_geometry(outputs, reuse_factor)
            rows = unit_rows(outputs, units, steps, np.arange(outputs * 2).reshape(outputs, 2) % 3)
            assert sorted({m for row in rows for m in row}) == list(range(outputs)) and steps <= reuse_factor
    with pytest.raises(ValueError):
        fold_geometry(4, 0)
    # equal weights in every step need no select; a column of zeros no term
    weights = np.array([[1, 0, 2], [1, 0, 3]])
    module, _, units, steps, _ = unit_module("u", weights, Port(3, 2, False), "INT6", "none", np.zeros((0, 0)), 0, 2)
    assert (units, steps) == (1, 2)
    selects = [node for node in module.lowered().nodes if node.op == "select"]
    assert len(selects) == 1 and len(selects[0].args) == 3  # input 2: x2*2 or x2*3; input 0 shared; input 1 none


def test_estimate_falls_with_the_reuse_factor():
    rng = np.random.default_rng(0)
    weights = rng.integers(-1, 2, size=(32, 16))
    thresholds = np.sort(rng.integers(-8, 8, size=(32, 3)), axis=1)
    estimates = [estimate_folded_operators(weights, thresholds, r) for r in (1, 2, 4, 8)]
    assert estimates == sorted(estimates, reverse=True) and estimates[-1] < estimates[0] / 4
    adders = [sum(node.op in ("add", "sub") for node in unit_module(
        "u", weights, Port(16, 2, False), "UINT2", "thresholds", thresholds, 0, r)[0].lowered().nodes)
        for r in (1, 8)]
    assert adders[1] <= estimates[-1] and adders[0] <= estimates[0]  # an upper estimate


def test_kept_groupings_are_the_grouping_and_copies_of_it():
    from qonnx_c4ml.chisel.fold import datapath

    weights = np.random.default_rng(3).integers(-2, 3, size=(9, 6))
    first = unit_rows(9, 3, 3, weights)
    assert first == datapath._group_rows(9, 3, 3, weights)  # what grouping gives
    first[0][0] = 99  # the caller's copy
    assert unit_rows(9, 3, 3, weights.astype(np.int32)) == datapath._group_rows(9, 3, 3, weights)
    other = weights.copy()
    other[4] = -other[4]
    assert unit_rows(9, 3, 3, other) == datapath._group_rows(9, 3, 3, other)
