"""lbir/dtypes.py: the narrowest field and qonnx DataType for an integer range, and back."""
import pytest

from qonnx_c4ml.lbir.dtypes import bits_for_range, datatype_for_range, datatype_range


@pytest.mark.parametrize("lo, hi, expected", [
    (0, 0, (1, False)), (0, 1, (1, False)), (0, 7, (3, False)), (0, 8, (4, False)), (3, 255, (8, False)),
    (-1, 0, (1, True)), (-2, 1, (2, True)), (-1, 2, (3, True)), (-128, 127, (8, True)), (-129, 0, (9, True)),
])
def test_bits_for_range(lo, hi, expected):
    assert bits_for_range(lo, hi) == expected


def test_empty_range_is_an_error():
    with pytest.raises(ValueError, match="empty range"):
        bits_for_range(1, 0)


def test_datatype_for_range_round_trips_through_datatype_range():
    assert datatype_for_range(0, 1) == "BINARY"
    assert datatype_for_range(0, 5) == "UINT3" and datatype_for_range(-5, 3) == "INT4"
    for lo, hi in [(0, 3), (-8, 7), (0, 255), (-3, 100)]:
        name = datatype_for_range(lo, hi)
        low, high = datatype_range(name)
        assert low <= lo and hi <= high
    assert datatype_range("INT4") == (-8, 7) and datatype_range("BIPOLAR") == (-1, 1)


def test_datatype_range_refuses_floats():
    with pytest.raises(ValueError, match="not an integer datatype"):
        datatype_range("FLOAT32")
