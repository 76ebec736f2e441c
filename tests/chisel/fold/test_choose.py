"""chisel/fold/choose.py: reuse factors from a target II keep every layer within it and the
slowest layer at it (when some layer has that many rows)."""
import pytest

from qonnx_c4ml.chisel.fold.choose import folded_ii, reuse_for_target
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
