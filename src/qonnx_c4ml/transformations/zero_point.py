"""Zero-points of qonnx Quant (asymmetric quantizers) as shifted integer codes.

qonnx: `q = clip(round(x / s + z), lo, hi)`, value `(q - z) * s`.  For an integer z the
circuit carries `code = q - z` instead of q: its value is `code * s` (no offset), it lies
in [lo - z, hi - z], and code 0 is the value 0, so zero padding, max pooling and the next
layer's dot product need nothing new (sum_j w_j (q_j - z) is just sum_j w_j code_j).
The host computes exactly qonnx's float32 steps: the input quantizer becomes
`Div(s) -> Quant(scale 1, zero-point z)`, whose output is already q - z.

As an activation quantizer after a layer, `round(y / s + z) >= k` is `y >= (L_k - z) * s`
for qonnx's level L_k of code k (lbir/requant.py); per-channel zero-points give each
threshold row its own base lo - z_c, which `align_rows` pads to LBIR's single `out_base`.
Non-integer zero-points are refused (Brevitas exports integer ones).
"""
import numpy as np

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir.requant import Level


def zero_point(node, evaluator):
    """The zero-point of a Quant node as an int64 array (any shape broadcasting to its input)."""
    value = evaluator.value(node.input[2])
    if value is None:
        raise UnsupportedModelError("the zero-point must be a constant", node,
                                    "export with static quantizer parameters")
    value = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(value)) or np.any(value != np.round(value)):
        raise UnsupportedModelError(
            f"non-integer zero-point {value.ravel()[:4]} is not supported", node,
            "use an integer zero-point (Brevitas' asymmetric quantizers export integers)")
    return value.astype(np.int64)


def refuse_bipolar_zero_point(node, zero):
    """qonnx's 1-bit signed Quant is bipolar; with a zero-point its values are (+-1 - z) * s."""
    if np.any(zero != 0):
        raise UnsupportedModelError("a 1-bit signed (bipolar) Quant with a non-zero zero-point "
                                    "is not supported", node, "use zero-point 0 for binary quantizers")


def shifted_levels(levels, zero, scale):
    """Levels of code k on u = y/s + z, as levels on y: (L_k - z) * s."""
    return [Level((level.value - int(zero)) * scale, level.strict) for level in levels]


def align_rows(rows, lo, zeros, acc_min, acc_max):
    """Per-channel threshold rows whose codes start at lo - z_c, as rows sharing one base.

    Row c gets (z_max - z_c) always-reached thresholds in front and (z_c - z_min) never
    reached ones behind, so base + count stays q - z_c.  Returns (rows, base)."""
    zeros = [int(z) for z in zeros]
    z_max, z_min = max(zeros), min(zeros)
    aligned = [[int(acc_min[m])] * (z_max - z) + list(row) + [int(acc_max[m]) + 1] * (z - z_min)
               for m, (row, z) in enumerate(zip(rows, zeros))]
    return aligned, lo - z_max
