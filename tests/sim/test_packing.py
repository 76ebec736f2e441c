"""pack_codes / unpack_codes against a bit-by-bit Python-integer reference."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qonnx_c4ml.sim import pack_codes, unpack_codes, words_for_bits


def reference_words(codes, elem_bits):
    """One Python int per sample (element i at bit i*elem_bits), cut into 32-bit words."""
    n_words = words_for_bits(len(codes[0]) * elem_bits)
    rows = []
    for sample in codes:
        value = 0
        for index, code in enumerate(sample):
            value |= (int(code) & ((1 << elem_bits) - 1)) << (index * elem_bits)
        rows.append([(value >> (32 * word)) & 0xFFFFFFFF for word in range(n_words)])
    return np.array(rows, dtype=np.uint32)


@st.composite
def code_batches(draw):
    elem_bits = draw(st.integers(1, 32))
    signed = draw(st.booleans())
    n_elems = draw(st.integers(1, 120))  # up to 3840 bits: far beyond 64
    n_samples = draw(st.integers(1, 4))
    if signed:
        low, high = -(1 << (elem_bits - 1)), (1 << (elem_bits - 1)) - 1
    else:
        low, high = 0, (1 << elem_bits) - 1
    # Edge values are drawn often: they are where sign handling and masks go wrong.
    code = st.one_of(st.sampled_from([low, high, 0, min(high, 1), max(low, -1)]),
                     st.integers(low, high))
    codes = draw(st.lists(st.lists(code, min_size=n_elems, max_size=n_elems),
                          min_size=n_samples, max_size=n_samples))
    return np.array(codes, dtype=np.int64), elem_bits, signed


@given(code_batches())
def test_pack_matches_reference_and_round_trips(batch):
    codes, elem_bits, signed = batch
    words = pack_codes(codes, elem_bits, signed)
    assert words.dtype == np.uint32
    np.testing.assert_array_equal(words, reference_words(codes, elem_bits))
    unpacked = unpack_codes(words, codes.shape[1], elem_bits, signed)
    assert unpacked.dtype == np.int64
    np.testing.assert_array_equal(unpacked, codes)


def test_wide_port_layout_784_by_8_bits():
    codes = np.arange(784, dtype=np.int64).reshape(1, 784) % 256 - 128
    words = pack_codes(codes, 8, signed=True)
    assert words.shape == (1, 196)
    # Element 0 in the least significant byte of word 0; element 783 in the top byte of word 195.
    assert words[0, 0] & 0xFF == (-128) & 0xFF
    assert words[0, 195] >> 24 == codes[0, 783] & 0xFF
    np.testing.assert_array_equal(unpack_codes(words, 784, 8, signed=True), codes)


@pytest.mark.parametrize("elem_bits, signed, value", [
    (1, False, 2), (1, False, -1), (1, True, 1), (5, True, 16), (5, True, -17),
    (8, False, 256), (32, True, 1 << 31), (32, False, 1 << 32), (32, False, -1),
])
def test_out_of_range_code_is_rejected_with_its_position(elem_bits, signed, value):
    codes = np.zeros((3, 4), dtype=np.int64)
    codes[2, 1] = value
    with pytest.raises(ValueError, match=rf"code {value} \(sample 2, element 1\) does not fit"):
        pack_codes(codes, elem_bits, signed)


def test_extreme_codes_fit():
    codes = np.array([[-(1 << 31), (1 << 31) - 1]])
    np.testing.assert_array_equal(pack_codes(codes, 32, True), [[0x80000000, 0x7FFFFFFF]])
    codes = np.array([[(1 << 32) - 1, 0]], dtype=np.uint64)
    np.testing.assert_array_equal(pack_codes(codes, 32, False), [[0xFFFFFFFF, 0]])


def test_whole_floats_are_codes_but_fractions_are_not():
    np.testing.assert_array_equal(pack_codes(np.array([[-3.0, 2.0]]), 4, True),
                                  pack_codes(np.array([[-3, 2]]), 4, True))
    with pytest.raises(ValueError, match="whole numbers"):
        pack_codes(np.array([[0.5]]), 4, True)


def test_unpack_ignores_bits_above_the_elements():
    words = np.array([[0xFFFFFFF0]], dtype=np.uint32)
    np.testing.assert_array_equal(unpack_codes(words, 1, 4, signed=False), [[0]])


@pytest.mark.parametrize("call, message", [
    (lambda: pack_codes(np.zeros(4, dtype=np.int64), 4, True), "shape"),
    (lambda: pack_codes(np.zeros((1, 4), dtype=np.int64), 33, True), "elem_bits"),
    (lambda: pack_codes(np.zeros((1, 4), dtype=np.int64), 0, True), "elem_bits"),
    (lambda: unpack_codes(np.zeros((1, 1), dtype=np.uint32), 5, 8, True), "need 2 words"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_code_checks_are_public_for_the_simulators():
    """sim/verilator.py checks codes and widths with the same two functions pack_codes uses."""
    from qonnx_c4ml.sim.packing import MAX_ELEM_BITS, as_int64_codes, check_elem_bits

    assert check_elem_bits(7) == 7 and check_elem_bits(MAX_ELEM_BITS) == MAX_ELEM_BITS
    with pytest.raises(ValueError, match="elem_bits"):
        check_elem_bits(0)
    assert as_int64_codes(np.array([1.0, -2.0])).dtype == np.int64
    with pytest.raises(ValueError):
        as_int64_codes(np.array([0.5]))
