"""qonnx FloatQuant nodes in a graph: parameters, minifloat weights, host input, requantization.

The numbers live in lbir/floatquant.py (the exact quantizer, its value set and code table);
this module reads FloatQuant nodes and gives InferLBIR what it needs for each role:

- weights: `float_weight` -> integer codes `v / unit` (minifloat weights are dyadic
  rationals times the scale), computed with qonnx's own float_quant so they are the
  reference's values, then divided by their common power of two;
- the model input: `host_float_input` emits `Div(scale) -> FloatQuant(scale 1) -> Mul(1/unit)`,
  the same float32 steps as qonnx, giving the integer codes the circuit reads;
- after a layer: `float_levels` -> per-channel levels and the column weights of LBIR's
  weighted thresholds (code = base + sum_k w_k [acc >= T_k]).

Refused with a message: saturation=0 (overflow becomes inf/NaN, no integer code carries it),
non-integer exponent/mantissa widths or bias, a non-positive max_val, and codes that do not
fit the float32 tensors qonnx graphs hold (|code| >= 2**24, e.g. E5M2 over its full range).
"""
from fractions import Fraction

import numpy as np
from onnx import helper

from qonnx.custom_op.general.floatquant import float_quant

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir.floatquant import Minifloat, two_adic_valuation
from qonnx_c4ml.lbir.requant import ROUNDING_MODES, as_fraction, scale_levels

FLOAT_CODE_LIMIT = 1 << 24  # float32 tensors hold integers exactly up to here
INPUTS = "(X, scale, exponent_bitwidth, mantissa_bitwidth, exponent_bias, max_val)"


def _scalar_int(node, evaluator, position, what):
    value = evaluator.value(node.input[position])
    if value is None or np.asarray(value).size != 1:
        raise UnsupportedModelError(f"the {what} must be a scalar constant", node)
    value = float(np.asarray(value).ravel()[0])
    if value != int(value):
        raise UnsupportedModelError(f"the {what} {value} is not an integer", node)
    return int(value)


def minifloat_parameters(node, evaluator):
    """(scale as float32 array, Minifloat) of a FloatQuant node, checked."""
    if len(node.input) != 6 or not all(node.input):
        raise UnsupportedModelError(f"FloatQuant needs the 6 inputs {INPUTS}, found {len(node.input)}", node,
                                    "export with qonnx >= 0.4 / Brevitas' FP8 quantizers")
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if not attrs.get("saturation", 1):
        raise UnsupportedModelError(
            "non-saturating FloatQuant (saturation=0) turns overflow into inf/NaN, which no integer "
            "code can carry", node, "use a saturating minifloat quantizer (saturating=True)")
    scale = evaluator.value(node.input[1])
    if scale is None:
        raise UnsupportedModelError("the scale must be a constant", node)
    scale = np.asarray(scale, dtype=np.float32)
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise UnsupportedModelError(f"scale must be finite and > 0, found {scale.ravel()[:4]}", node)
    exponent, mantissa = _scalar_int(node, evaluator, 2, "exponent width"), _scalar_int(node, evaluator, 3, "mantissa width")
    bias = _scalar_int(node, evaluator, 4, "exponent bias")
    max_val = evaluator.value(node.input[5])
    if max_val is None or np.asarray(max_val).size != 1 or not 0 < float(np.asarray(max_val).ravel()[0]) < np.inf:
        raise UnsupportedModelError("max_val must be a finite positive scalar constant", node)
    if not (1 <= exponent <= 8 and 0 <= mantissa <= 10):
        raise UnsupportedModelError(f"E{exponent}M{mantissa} is not a small minifloat", node,
                                    "use exponent widths 1..8 and mantissa widths 0..10")
    mode = attrs.get("rounding_mode", b"ROUND")
    mode = (mode.decode() if isinstance(mode, bytes) else mode).upper()
    if mode not in ROUNDING_MODES:
        raise UnsupportedModelError(f"unknown rounding mode {mode!r}", node)
    try:
        fmt = Minifloat.from_parameters(exponent, mantissa, bias, as_fraction(np.float32(np.asarray(max_val).ravel()[0])),
                                        mode)
        fmt.code_table()
    except ValueError as error:
        raise UnsupportedModelError(str(error), node) from None
    return scale, fmt


def reference_values(node, evaluator, x, fmt):
    """qonnx's float_quant of `x` (already divided by the scale) at scale 1: the exact v."""
    args = [np.float32(evaluator.value(i)) for i in node.input[2:6]]
    return float_quant(np.asarray(x, np.float32), np.float32(1.0), *args[:3], True, args[3],
                       rounding_mode=fmt.rounding_mode)


def float_weight(node, evaluator):
    """(codes, scale) of minifloat weights: codes = v / unit, scale = s * unit * 2**g (None if
    the weights are not constant)."""
    raw = evaluator.value(node.input[0])
    if raw is None:
        return None
    scale, fmt = minifloat_parameters(node, evaluator)
    values = reference_values(node, evaluator, np.asarray(raw, np.float32) / scale, fmt)
    unit = fmt.code_table()[0]
    codes = np.array([int(Fraction(float(v)) / unit) for v in values.ravel()], dtype=np.int64)
    nonzero = [int(c) for c in codes if c]
    shift = min((two_adic_valuation(Fraction(c)) for c in nonzero), default=0)
    codes >>= shift
    check_code_range(node, int(codes.min(initial=0)), int(codes.max(initial=0)))  # keeps accumulators in int64
    factor = np.float32(float(unit * 2 ** shift))
    return codes.reshape(values.shape), scale * factor


def host_float_input(lowering, node, codes):
    """Host nodes giving the input codes v / unit; returns (scale of one code, lo, hi)."""
    scale, fmt = minifloat_parameters(node, lowering.consts)
    if scale.size != 1:
        raise UnsupportedModelError("per-channel input quantizer scales are not supported", node,
                                    "use a per-tensor scale for the input quantizer")
    unit, base, weights, _ = fmt.code_table()
    check_code_range(node, base, base + sum(weights))
    divided = codes + "_scaled"
    lowering.host(helper.make_node("Div", [node.input[0], node.input[1]], [divided], name=codes + "_div"))
    lowering.host(lowering.constant(codes + "_one", np.float32(1.0)))
    lowering.host(lowering.constant(codes + "_per_unit", np.float32(float(1 / unit))))
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    lowering.host(helper.make_node("FloatQuant", [divided, codes + "_one"] + list(node.input[2:6]),
                                   [codes + "_values"], name=codes + "_floatquant",
                                   domain="qonnx.custom_op.general", **attrs))
    lowering.host(helper.make_node("Mul", [codes + "_values", codes + "_per_unit"], [codes], name=codes + "_units"))
    return scale * np.float32(float(unit)), base, base + sum(weights)


def float_levels(node, evaluator, scales):
    """Per-channel levels on y (scales: one Fraction per channel), the column weights, the base
    code and the factor `unit` (value of a code = unit * scale)."""
    _, fmt = minifloat_parameters(node, evaluator)
    unit, base, weights, levels = fmt.code_table()
    return [scale_levels(levels, s) for s in scales], list(weights), base, np.float32(float(unit))


def check_code_range(node, lo, hi):
    if max(abs(lo), abs(hi)) >= FLOAT_CODE_LIMIT:
        raise UnsupportedModelError(
            f"the minifloat codes would span [{lo}, {hi}] (multiples of the subnormal step), beyond "
            "the 2**24 that float32 tensors hold exactly", node,
            "use a narrower format (e.g. E4M3), a smaller max_val, or a layer range that stays smaller")
