"""`Exact`: a tensor of exact rationals as integers times per-element rational scales.

    value[n, e] = ints[n, e] * scale[e] + offset[e]

`ints` holds the batch (int64 while every value provably fits, Python ints in an object
array otherwise); `scale` and `offset` are object arrays of `Fraction`s over one sample,
broadcastable to the per-sample shape (a quantizer's per-channel scale stays (C, 1, 1)).
All arithmetic here is integer arithmetic with explicit bounds, so nothing rounds.
"""
from fractions import Fraction
from math import gcd

import numpy as np

INT64_SAFE = 2**62  # |values| below this survive one more int64 add without overflow
FLOAT64_EXACT = 2**53  # integers below this are exact in float64, and so are sums of them

_to_fraction = np.frompyfunc(lambda v: Fraction(float(v)), 1, 1)
_to_int = np.frompyfunc(int, 1, 1)


def fractions(values):
    """An object array of the exact values of a float array (float32 -> float64 is exact)."""
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"non-finite constant {values.ravel()[:4]}")
    return np.asarray(_to_fraction(values), dtype=object).reshape(values.shape)


def fraction_gcd(a, b):
    """The largest rational g with a/g and b/g both integers (gcd(0, b) = |b|)."""
    a, b = Fraction(a), Fraction(b)
    return Fraction(gcd(a.numerator * b.denominator, b.numerator * a.denominator), a.denominator * b.denominator)


def elementwise(function, nin):
    """A numpy ufunc over object arrays returning an object array (0-d included)."""
    ufunc = np.frompyfunc(function, nin, 1)
    return lambda *args: np.asarray(ufunc(*args), dtype=object)


_gcd_elementwise = elementwise(fraction_gcd, 2)


def max_abs(ints):
    """max |ints| as a Python int (0 for an empty array)."""
    if ints.size == 0:
        return 0
    if ints.dtype == object:
        return int(max(abs(int(ints.max())), abs(int(ints.min()))))
    return max(abs(int(ints.max())), abs(int(ints.min())))


def compact(ints):
    """int64 when the values fit (fast numpy), object (Python ints) otherwise."""
    if ints.dtype == object:
        return ints.astype(np.int64) if max_abs(ints) < INT64_SAFE else ints
    if ints.dtype != np.int64:
        return ints.astype(np.int64)
    return ints


def as_int_array(values):
    """An object array of Fractions with denominator 1 (or ints) as compact integers."""
    values = np.asarray(values, dtype=object)
    if any(Fraction(v).denominator != 1 for v in values.ravel()):
        raise ValueError("not an integer multiple")
    return compact(np.asarray(_to_int(values), dtype=object).reshape(values.shape)
                   if values.ndim else np.asarray(int(values), dtype=object))


def multiply_add(ints, mult, add=None):
    """ints * mult (+ add), exact; mult/add integer arrays broadcastable against ints."""
    mult = compact(np.asarray(mult))
    add = None if add is None else compact(np.asarray(add))
    bound = max_abs(ints) * max_abs(mult) + (max_abs(add) if add is not None else 0)
    if bound < INT64_SAFE and ints.dtype != object and mult.dtype != object and (add is None or add.dtype != object):
        out = ints * mult
        return out if add is None else out + add
    out = ints.astype(object) * mult.astype(object)
    return compact(out if add is None else out + add.astype(object))


class Exact:
    """`batched`: `ints` has the batch axis first (data); otherwise it is an exact constant
    (a quantized weight or bias), `scale`/`offset` broadcast against all of `ints`."""

    def __init__(self, ints, scale, offset=None, batched=True):
        self.ints = compact(np.asarray(ints))
        self.scale = np.asarray(scale, dtype=object)
        self.offset = np.asarray(Fraction(0) if offset is None else offset, dtype=object)
        self.batched = batched

    @property
    def shape(self):
        """Per-sample shape (the whole shape of a constant)."""
        return self.ints.shape[1:] if self.batched else self.ints.shape

    def fractions(self):
        """The exact values as an object array of Fractions (for small constants)."""
        return self.ints.astype(object) * self.scale + self.offset

    def per_sample(self, array):
        """`array` (scale/offset-like) broadcast to the full per-sample shape, as a copy."""
        return np.broadcast_to(np.asarray(array, dtype=object), self.shape).copy()

    def approx(self):
        """float64 values within a few ulps (for comparisons in LSBs; decisions never use them)."""
        scale = np.asarray([float(v) for v in self.scale.ravel()]).reshape(self.scale.shape)
        offset = np.asarray([float(v) for v in self.offset.ravel()]).reshape(self.offset.shape)
        return self.ints.astype(np.float64) * scale + offset

    def folded(self):
        """(ints, unit) with value = ints * unit, unit > 0 per element (broadcastable): the
        offset is moved into the integers, unit = gcd(|scale|, offset)."""
        scale, offset = np.broadcast_arrays(self.scale, self.offset)
        if not any(o != 0 for o in offset.ravel()) and all(s > 0 for s in scale.ravel()):
            return self.ints, self.scale
        unit = _gcd_elementwise(np.abs(scale), offset)
        unit = np.where(unit == 0, Fraction(1), unit).astype(object)
        return multiply_add(self.ints, as_int_array(scale / unit), as_int_array(offset / unit)), unit

    def uniform(self):
        """(ints, unit) with value = ints * unit, one positive rational unit for the tensor."""
        ints, unit = self.folded()
        values = set(np.asarray(unit).ravel())
        common = Fraction(0)
        for v in values:
            common = fraction_gcd(common, v)
        if len(values) == 1:
            return ints, common
        return multiply_add(ints, as_int_array(unit / common)), common

    def channel_uniform(self, axis, groups=None):
        """(ints, units) with value = ints * units[c] along per-sample `axis`: one positive
        unit per channel (a weight's per-output-channel scale), or per group of `groups`
        consecutive channels (units then has one entry per group)."""
        ints, unit = self.folded()
        rank = len(self.shape)
        axis = axis % rank
        unit = np.asarray(unit, dtype=object)
        unit = unit.reshape((1,) * (rank - unit.ndim) + unit.shape)  # compact: broadcastable
        channels = self.shape[axis]
        groups = groups or channels
        if all(d == 1 for i, d in enumerate(unit.shape) if i != axis):  # constant inside a channel
            rows = np.broadcast_to(unit.reshape(-1), (channels,)).reshape(groups, -1)
        else:
            rows = np.moveaxis(np.broadcast_to(unit, self.shape), axis, 0).reshape(groups, -1)
        common = np.empty(groups, dtype=object)
        for g, row in enumerate(rows):
            common[g] = Fraction(0)
            for v in set(row):
                common[g] = fraction_gcd(common[g], v)
        view = [1] * rank
        view[axis] = -1
        ratio = unit / np.repeat(common, channels // groups).reshape(view)
        if all(r == 1 for r in ratio.ravel()):
            return ints, common
        return multiply_add(ints, as_int_array(ratio)), common

    def map_layout(self, move):
        """The same element move (a numpy function of a batched array) applied to ints,
        scale and offset; a scalar scale/offset stays scalar."""
        def keep(array):
            if array.size == 1 or len(set(array.ravel())) == 1:  # one value: stays a scalar
                return np.asarray(array.ravel()[0], dtype=object)
            return move(self.per_sample(array)[None])[0] if self.batched else move(self.per_sample(array))
        return Exact(move(self.ints), keep(self.scale), keep(self.offset), self.batched)
