"""Activation: an integer tensor of the circuit, as the float tensor it stands for.

Every lowering takes activations in and gives activations out; the walk maps each original
(float) tensor the circuit computes to one (`LoweringContext.acts`, and what
`InferLBIR.lower` returns for verify's layer-by-layer check).
"""
from dataclasses import dataclass

import numpy as np

from qonnx_c4ml.lbir.dtypes import datatype_for_range
from qonnx_c4ml.lbir.requant import as_fraction


@dataclass
class Activation:
    """An integer tensor of the circuit, as the float tensor it stands for.

    value[element] = scale[element] * code + offset[element] for each element of one sample;
    `index[element]` says where that element's code lives in the flattened `codes` tensor,
    so layout ops only permute `index`, `scale` and `offset`.
    """

    codes: str  # tensor name in the new graph holding the integer codes
    index: np.ndarray  # int, per-sample shape
    scale: np.ndarray  # object array of Fraction, per-sample shape
    offset: np.ndarray  # object array of Fraction, per-sample shape
    scale_f32: np.ndarray  # the graph's float32 scale (for the host's dequantization)
    offset_f32: np.ndarray
    lo: int  # code range
    hi: int
    codes_shape: tuple = ()  # per-sample shape of the `codes` tensor
    source: str = None  # the original float tensor this stands for (None: the codes themselves)
    pads: tuple = (0, 0, 0, 0)  # zero padding (top, left, bottom, right) a Pad node asked for

    @staticmethod
    def view(array, channels_last):
        """A per-sample image array as (C, H, W): transposed back from (H, W, C) for channels-last ops."""
        return np.transpose(array, (2, 0, 1)) if channels_last else array

    @property
    def dtype(self):
        return datatype_for_range(self.lo, self.hi)

    @property
    def tensor(self):
        """Name of the original float tensor this stands for (its codes' source)."""
        return self.source or self.codes


def fractions(values, shape):
    """`values` broadcast to `shape` as an object array of exact Fractions."""
    values = np.broadcast_to(np.asarray(values, dtype=np.float64), shape)
    out = np.empty(shape, dtype=object)
    for i, v in np.ndenumerate(values):
        out[i] = as_fraction(v)
    return out


def make_activation(codes, per_sample_shape, scale, offset, lo, hi, source=None):
    """The activation of a fresh codes tensor in order: value = scale * code + offset (float32 scale/offset)."""
    shape = tuple(int(d) for d in per_sample_shape)
    scale_f32 = np.broadcast_to(np.asarray(scale, dtype=np.float32), shape).copy()
    offset_f32 = np.broadcast_to(np.asarray(offset, dtype=np.float32), shape).copy()
    return Activation(codes, np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape),
                      fractions(scale_f32, shape), fractions(offset_f32, shape),
                      scale_f32, offset_f32, int(lo), int(hi), shape, source)
