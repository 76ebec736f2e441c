"""Pack integer codes into the circuit's port words and back.

A port carries `n_elems` elements of `elem_bits` bits each, element 0 in the least significant
bits (element i occupies bits [i*elem_bits, (i+1)*elem_bits)), two's complement when signed.
On the C++ side a port of any width is an array of little-endian uint32 words, which is also
how Verilator stores ports wider than 64 bits, so the words produced here are copied verbatim.

Both directions work on groups of g = 32/gcd(elem_bits, 32) elements, which fill exactly
lcm(elem_bits, 32)/32 words, so every group has the same layout: one vectorized shift per
position in the group (at most 32), never a loop over samples or elements.
"""
import math

import numpy as np

WORD_BITS = 32
MAX_ELEM_BITS = 32

# Samples are processed in blocks whose uint64 temporaries stay near the CPU cache size: on
# 100k x 784 8-bit codes, ~6 MB blocks packed 2-5x faster than 400 MB blocks.
_BLOCK_BYTES = 8 << 20


def _rows_per_block(values_per_row):
    return max(1, _BLOCK_BYTES // (8 * max(1, values_per_row)))


def words_for_bits(total_bits):
    """Number of uint32 words a port of `total_bits` bits occupies (at least one)."""
    return max(1, -(-int(total_bits) // WORD_BITS))


def check_elem_bits(elem_bits):
    """`elem_bits` as an int, refused outside 1..MAX_ELEM_BITS (ValueError)."""
    if not 1 <= int(elem_bits) <= MAX_ELEM_BITS:
        raise ValueError(f"elem_bits must be in 1..{MAX_ELEM_BITS}, got {elem_bits}")
    return int(elem_bits)


def _code_range(elem_bits, signed):
    if signed:
        return -(1 << (elem_bits - 1)), (1 << (elem_bits - 1)) - 1
    return 0, (1 << elem_bits) - 1


def as_int64_codes(codes):
    """Integer view of `codes`; floats are accepted when every value is a whole number."""
    array = np.asarray(codes)
    if array.dtype == np.bool_ or np.issubdtype(array.dtype, np.integer):
        if array.dtype == np.uint64 and array.size and array.max() > np.iinfo(np.int64).max:
            raise ValueError("codes do not fit in int64")
        return array.astype(np.int64, copy=False)
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError("codes must be whole numbers; got non-integer floating-point values")
        if array.size and np.abs(array).max() >= 2.0**63:
            raise ValueError("codes do not fit in int64")
        return array.astype(np.int64)
    raise ValueError(f"codes must be an integer array, got dtype {array.dtype}")


class _GroupLayout:
    """Where each position of a g-element group sits inside the group's words."""

    def __init__(self, n_elems, elem_bits):
        self.group_elems = WORD_BITS // math.gcd(elem_bits, WORD_BITS)
        self.group_words = self.group_elems * elem_bits // WORD_BITS
        self.n_groups = -(-n_elems // self.group_elems)
        offsets = [position * elem_bits for position in range(self.group_elems)]
        # (position, word within the group, shift, whether the field spills into the next word)
        self.positions = [
            (position, offset // WORD_BITS, np.uint64(offset % WORD_BITS),
             offset % WORD_BITS + elem_bits > WORD_BITS)
            for position, offset in enumerate(offsets)
        ]


def pack_codes(codes, elem_bits, signed):
    """Pack `codes` (N, n_elems) into port words, uint32 (N, ceil(n_elems*elem_bits/32)).

    Raises ValueError naming the first sample and element whose code does not fit in
    `elem_bits` bits of the given signedness.
    """
    elem_bits = check_elem_bits(elem_bits)
    codes = as_int64_codes(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (N, n_elems), got shape {codes.shape}")
    n_samples, n_elems = codes.shape
    low, high = _code_range(elem_bits, signed)
    if codes.size and (codes.min() < low or codes.max() > high):
        sample, elem = np.argwhere((codes < low) | (codes > high))[0]
        kind = "signed" if signed else "unsigned"
        raise ValueError(
            f"code {codes[sample, elem]} (sample {sample}, element {elem}) does not fit in "
            f"{kind} {elem_bits}-bit elements (range {low}..{high})"
        )

    n_words = words_for_bits(n_elems * elem_bits)
    words = np.zeros((n_samples, n_words), dtype=np.uint32)
    layout = _GroupLayout(n_elems, elem_bits)
    padded_elems = layout.n_groups * layout.group_elems
    mask = np.uint64((1 << elem_bits) - 1)
    step = _rows_per_block(padded_elems)
    for start in range(0, n_samples, step):
        block = codes[start:start + step]
        rows = block.shape[0]
        fields = np.zeros((rows, padded_elems), dtype=np.uint64)
        fields[:, :n_elems] = block.astype(np.uint64) & mask
        fields = fields.reshape(rows, layout.n_groups, layout.group_elems)
        # Bit fields are disjoint, so OR-ing them into the words never loses a bit.
        group_words = np.zeros((rows, layout.n_groups, layout.group_words), dtype=np.uint64)
        for position, word, shift, spills in layout.positions:
            shifted = fields[:, :, position] << shift
            group_words[:, :, word] |= shifted & np.uint64(0xFFFFFFFF)
            if spills:
                group_words[:, :, word + 1] |= shifted >> np.uint64(WORD_BITS)
        flat = group_words.reshape(rows, -1)[:, :n_words]
        words[start:start + rows, :flat.shape[1]] = flat
    return words


def unpack_codes(words, n_elems, elem_bits, signed):
    """Unpack port words uint32 (N, n_words) into int64 codes (N, n_elems).

    Bits above n_elems*elem_bits are ignored.
    """
    elem_bits = check_elem_bits(elem_bits)
    words = np.asarray(words)
    if words.ndim != 2:
        raise ValueError(f"words must have shape (N, n_words), got shape {words.shape}")
    needed = words_for_bits(n_elems * elem_bits)
    if words.shape[1] < needed:
        raise ValueError(
            f"{n_elems} elements of {elem_bits} bits need {needed} words, got {words.shape[1]}"
        )
    n_samples = words.shape[0]
    codes = np.empty((n_samples, n_elems), dtype=np.int64)
    layout = _GroupLayout(n_elems, elem_bits)
    padded_words = layout.n_groups * layout.group_words
    mask = np.uint64((1 << elem_bits) - 1)
    sign_bit = np.uint64(1 << (elem_bits - 1))
    step = _rows_per_block(layout.n_groups * layout.group_elems)
    for start in range(0, n_samples, step):
        block = words[start:start + step]
        rows = block.shape[0]
        group_words = np.zeros((rows, max(padded_words, needed)), dtype=np.uint64)
        group_words[:, :needed] = block[:, :needed]
        group_words = group_words[:, :padded_words].reshape(
            rows, layout.n_groups, layout.group_words
        )
        fields = np.empty((rows, layout.n_groups, layout.group_elems), dtype=np.uint64)
        for position, word, shift, spills in layout.positions:
            field = group_words[:, :, word] >> shift
            if spills:
                field |= group_words[:, :, word + 1] << (np.uint64(WORD_BITS) - shift)
            fields[:, :, position] = field & mask
        fields = fields.reshape(rows, -1)[:, :n_elems]
        if signed:
            # Two's complement: (field XOR sign) - sign maps [2^(b-1), 2^b) onto negatives.
            codes[start:start + rows] = (fields ^ sign_bit).astype(np.int64) - np.int64(sign_bit)
        else:
            codes[start:start + rows] = fields.astype(np.int64)
    return codes
