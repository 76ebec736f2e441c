"""Integer value ranges and the qonnx DataTypes that hold them."""
from qonnx.core.datatype import DataType


def bits_for_range(lo, hi):
    """(bit width, signed) of the narrowest two's-complement/unsigned field holding [lo, hi]."""
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    if lo >= 0:
        return max(1, int(hi).bit_length()), False
    width = 1
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width, True


def datatype_for_range(lo, hi):
    """Name of the narrowest qonnx integer DataType holding every integer in [lo, hi]."""
    width, signed = bits_for_range(lo, hi)
    if not signed and width == 1:
        return "BINARY"
    return f"{'INT' if signed else 'UINT'}{width}"


def datatype_range(name):
    """(min, max) integers of a qonnx integer DataType name."""
    dtype = DataType[name]
    if not dtype.is_integer():
        raise ValueError(f"{name} is not an integer datatype")
    return int(dtype.min()), int(dtype.max())
