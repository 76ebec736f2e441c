"""chisel/fold/choose.py: reuse factors from a target II keep every layer within it and the
slowest layer at it (when some layer has that many rows)."""
import pytest

from qonnx_c4ml.chisel.fold.choose import (
    FoldableLayer, candidate_iis, choose_folding, dense_layer, folded_ii, reuse_for_target, reuse_within)
from qonnx_c4ml.errors import UnsupportedModelError


def test_reuse_for_target_balances_layers():
    jets = [64, 32, 32, 5]
    assert reuse_for_target(jets, 8) == [8, 8, 8, 5]
    assert folded_ii(jets, reuse_for_target(jets, 8)) == 8
    assert reuse_for_target(jets, 1) == [1, 1, 1, 1] and folded_ii(jets, [1, 1, 1, 1]) == 1
    for target in range(1, 70):
        assert folded_ii(jets, reuse_for_target(jets, target)) <= target
    assert folded_ii([10], [4]) == 4 and folded_ii([10], [6]) == 5  # 2 units finish 10 rows in 5 steps
    for bad in (0, 2.5, True):
        with pytest.raises(UnsupportedModelError, match="target_ii"):
            reuse_for_target(jets, bad)


def _dense(name, outputs, unit_luts=10):
    """A dense layer whose LUTs are units * unit_luts (what folding divides)."""
    from qonnx_c4ml.chisel.fold.datapath import fold_geometry

    return dense_layer(name, outputs, lambda r: fold_geometry(outputs, r)[0] * unit_luts)


def test_max_luts_picks_the_smallest_ii_that_fits_and_balances_layers():
    layers = [_dense("a", 64), _dense("b", 32), _dense("c", 5)]
    full = choose_folding(layers, max_luts=10_000)
    assert full.reuse_factors == [1, 1, 1] and full.ii == 1 and full.luts == 1010
    for budget in (1010, 1009, 500, 300, 120, 30):
        folding = choose_folding(layers, max_luts=budget)
        assert folding.luts <= budget and folding.ii == max(layer.cycles(r) for layer, r in
                                                             zip(layers, folding.reuse_factors))
        # the smallest II: one cycle less (the next smaller candidate) no longer fits
        smaller = [b for b in candidate_iis(layers) if b < folding.ii]
        if smaller:
            assert sum(layer.luts(reuse_within(layer, smaller[-1])) for layer in layers) > budget
        # balanced: every layer uses the whole budget or is fully folded
        for layer, r, reason in zip(layers, folding.reuse_factors, folding.chosen_by):
            assert layer.cycles(r) <= folding.ii
            assert reason == ("fully folded" if r == layer.max_reuse else "max_luts")
    assert choose_folding(layers, max_luts=130).reuse_factors == [8, 8, 5]  # 8 + 4 + 1 units at II 8
    assert choose_folding(layers, max_luts=129).reuse_factors == [10, 8, 5]  # 7 + 4 + 1 at II 10


def test_target_ii_and_max_luts_together():
    layers = [_dense("a", 64), _dense("b", 32)]
    assert choose_folding(layers, target_ii=4, max_luts=10_000).reuse_factors == [1, 1]
    assert choose_folding(layers, target_ii=4, max_luts=240).reuse_factors == [4, 4]  # 16 + 8 units
    assert choose_folding(layers, target_ii=4).chosen_by == ["target_ii", "target_ii"]
    with pytest.raises(UnsupportedModelError, match=r"about 240 estimated LUTs .* at II 4 \(target_ii=4\)") as error:
        choose_folding(layers, target_ii=4, max_luts=100)
    assert "the smallest II under max_luts=100 is 11" in str(error.value)  # 6 + 3 units at 11 cycles
    with pytest.raises(UnsupportedModelError, match="raise max_luts to at least 20"):
        choose_folding(layers, max_luts=19)  # fully folded: one unit each
    with pytest.raises(UnsupportedModelError, match="max_luts=0 is not an integer"):
        choose_folding(layers, max_luts=0)


def test_a_conv_like_layer_plugs_in():
    """cycles = R * pixels, LUTs falling with R: the chooser balances it with a dense layer."""
    pixels = 36
    conv = FoldableLayer("conv", 8, lambda r: r * pixels, lambda r: 800 // r)
    folding = choose_folding([conv, _dense("fc", 10)], max_luts=300)
    assert folding.reuse_factors == [3, 10] and folding.ii == 108 and folding.luts == 266 + 10  # R 2: 400 + 10
    assert reuse_within(conv, 100) == 2 and candidate_iis([conv])[:2] == [36, 72]
