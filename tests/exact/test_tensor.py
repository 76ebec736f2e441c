"""exact/tensor.py: exact rationals as integers times scales, int64 or Python ints as the
bounds require, folding offsets and scales into one unit."""
from fractions import Fraction

import numpy as np
import pytest

from qonnx_c4ml.exact.tensor import (INT64_SAFE, Exact, as_int_array, compact, fraction_gcd, fractions, max_abs,
                                     multiply_add)

F = Fraction


def test_fractions_are_the_exact_float_values():
    values = fractions(np.array([0.1, -0.5, 3.0], dtype=np.float32))
    assert values.dtype == object
    assert values[0] == F(np.float32(0.1).item()) != F(1, 10)  # float32's 0.1, exactly
    assert values[1:].tolist() == [F(-1, 2), F(3)]
    with pytest.raises(ValueError, match="non-finite"):
        fractions([1.0, np.inf])


def test_fraction_gcd():
    assert fraction_gcd(F(1, 2), F(3, 4)) == F(1, 4)
    assert fraction_gcd(0, F(-3, 8)) == F(3, 8)
    assert fraction_gcd(6, 4) == 2


def test_compact_and_max_abs_keep_int64_while_it_is_safe():
    small = np.array([1, -(2**40)], dtype=object)
    assert compact(small).dtype == np.int64 and max_abs(small) == 2**40
    big = np.array([INT64_SAFE, 1], dtype=object)
    assert compact(big).dtype == object
    assert compact(np.array([1, 2], dtype=np.int32)).dtype == np.int64
    assert max_abs(np.zeros(0, np.int64)) == 0


def test_multiply_add_goes_to_python_ints_before_overflow():
    ints = np.array([[2**40, -3]])
    out = multiply_add(ints, np.array([2**30, 5]), np.array([1, 1]))
    assert out.dtype == object and out.tolist() == [[2**70 + 1, -14]]
    assert multiply_add(np.array([1, 2]), np.array(3)).tolist() == [3, 6]


def test_as_int_array_refuses_fractions():
    assert as_int_array([F(4), F(-2)]).tolist() == [4, -2]
    with pytest.raises(ValueError, match="not an integer multiple"):
        as_int_array([F(1, 2)])


def test_exact_values_folded_and_uniform():
    x = Exact(np.array([[1, 2], [3, -4]]), [F(1, 2), F(1, 3)], [F(1, 4), F(0)])
    assert x.shape == (2,)
    assert x.fractions().tolist() == [[F(3, 4), F(2, 3)], [F(7, 4), F(-4, 3)]]
    ints, unit = x.folded()  # value = ints * unit, offset moved in
    assert (ints * unit).tolist() == x.fractions().tolist()
    ints, unit = x.uniform()
    assert unit == F(1, 12) and (ints * unit).tolist() == x.fractions().tolist()
    assert np.allclose(x.approx(), [[0.75, 2 / 3], [1.75, -4 / 3]])


def test_channel_uniform_gives_one_unit_per_channel():
    weights = Exact(np.array([[1, 2], [3, 4]]), np.array([[F(1, 2)], [F(1, 3)]]), batched=False)
    ints, units = weights.channel_uniform(axis=0)
    assert units.tolist() == [F(1, 2), F(1, 3)] and ints.tolist() == [[1, 2], [3, 4]]


def test_map_layout_moves_ints_and_per_element_scales_together():
    x = Exact(np.array([[1, 2, 3]]), [F(1), F(2), F(3)])
    flipped = x.map_layout(lambda a: a[:, ::-1])
    assert flipped.fractions().tolist() == [x.fractions().tolist()[0][::-1]]
    scalar = Exact(np.array([[1, 2, 3]]), F(1, 2)).map_layout(lambda a: a[:, ::-1])
    assert scalar.scale.ndim == 0 and scalar.ints.tolist() == [[3, 2, 1]]
