"""Comparing a stage's outputs with a reference, in output LSBs.

A Comparison counts bit-identical outputs, outputs on the same integer code (within half an
output LSB) and the largest difference; the output LSB is the host's dequantization scale of
the LBIR model (`output_lsb`, `output_lsbs`).
"""
from dataclasses import dataclass

import numpy as np

from qonnx_c4ml.transformations.constants import ConstantEvaluator


@dataclass
class Comparison:
    """One stage against the reference.

    exact_fraction: output elements bit-identical.  same_code_fraction: elements within half
    an output LSB, i.e. the same integer code; for a float output (a last layer without
    quantizer, LSB = its accumulator's scale) the reference's float32 summation order makes
    bit identity impossible while the integer accumulator is still exact.
    """

    stage: str
    exact_fraction: float
    max_abs_diff: float
    max_diff_lsb: float
    seconds: float
    skipped: str = ""
    same_code_fraction: float = 0.0
    # against the exact reference (None when it is not available)
    exact_same_code_fraction: float = None
    exact_max_diff_lsb: float = None


def _in_lsbs(diff, lsb):
    """diff in output LSBs (lsb: a float or a per-element array, see output_lsbs); None if unknown."""
    return diff / lsb if np.all(np.asarray(lsb) > 0) else None


def compare(stage, reference, result, lsb, seconds):
    if reference.shape != result.shape:
        raise AssertionError(f"{stage}: output shape {result.shape} != reference {reference.shape}")
    diff = np.abs(reference.astype(np.float64) - result.astype(np.float64))
    lsbs = _in_lsbs(diff, lsb)
    same_code = float(np.mean(lsbs < 0.5)) if lsbs is not None else float(np.mean(diff == 0))
    return Comparison(stage, float(np.mean(diff == 0)), float(diff.max(initial=0.0)),
                      float(lsbs.max(initial=0.0)) if lsbs is not None else float("nan"), seconds,
                      same_code_fraction=same_code)


def compare_exact(comparison, exact_values, result, lsb):
    """Fill `comparison`'s fields against the exact reference (float64 nearest values: the
    circuit's outputs are whole LSBs apart, so half an LSB separates codes robustly)."""
    diff = np.abs(exact_values - result.astype(np.float64))
    lsbs = _in_lsbs(diff, lsb)
    comparison.exact_same_code_fraction = float(np.mean(lsbs < 0.5)) if lsbs is not None else float(np.mean(diff == 0))
    comparison.exact_max_diff_lsb = float(lsbs.max(initial=0.0)) if lsbs is not None else float("nan")
    return comparison


def output_lsb(lbir_model):
    """The float value of one output LSB (the host's dequantization scale), 0 if unknown."""
    for node in lbir_model.graph.node:
        if node.name.endswith("_dequant_mul"):
            scale = ConstantEvaluator(lbir_model).value(node.input[1])
            if scale is not None:
                return float(np.min(np.abs(scale)))
    return 0.0


def output_lsbs(lbir_model):
    """One output LSB per output element (an array broadcasting against the batched output)
    when the graph output is the host's dequantization by per-channel scales, else
    `output_lsb`: a code is half of its own channel's LSB wide (minifloat codes reach 2**19,
    so float32's rounding of code * scale exceeds half of the smallest channel's LSB)."""
    out = lbir_model.graph.output[0].name
    for node in lbir_model.graph.node:
        if node.name.endswith("_dequant_mul") and node.output[0] == out:
            scale = ConstantEvaluator(lbir_model).value(node.input[1])
            shape = lbir_model.get_tensor_shape(out)
            if scale is not None and shape and np.all(np.abs(scale) > 0) and np.size(scale) > 1:
                scale = np.abs(np.asarray(scale, np.float64))
                if np.broadcast_shapes(scale.shape, tuple(shape)) == tuple(shape):
                    return scale
    return output_lsb(lbir_model)


def exact_failure(error):
    """The one-line description of an exact-engine failure (not a missing rule)."""
    text = (str(error).splitlines() or [""])[0][:120]
    return f"exact reference failed ({type(error).__name__}: {text})"
