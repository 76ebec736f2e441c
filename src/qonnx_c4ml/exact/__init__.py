"""The exact reference: a QONNX graph evaluated in exact rational arithmetic.

Why: qonnx's `execute_onnx` computes in float32. Where an accumulator lands exactly on a
rounding tie (binary weights of scale 0.1 and an activation scale 0.125 do it for one
accumulator in 40), float32's summation order decides the code at random, and in a deep
network those flips compound (MobileNet-v1: 137 LSB off after 27 layers). A reference that
never rounds is what a correct circuit must match exactly; float32 qonnx is then measured
against it ("reference noise") instead of being the judge.

What "exact" means (the contract, docs/ARCHITECTURE.md §2.4):
- Every float32 constant (scales, zero-points, biases, thresholds, Mul/Add/Div constants)
  stands for its exact value (a float32 is a dyadic rational; float32 -> Fraction is exact).
- Data-dependent steps after the input quantizer are exact real arithmetic: sums, products,
  divisions by constants, averages; each quantizer's rounding (all 7 qonnx modes, ties
  included), clipping, sign (bipolar) and threshold comparison is decided on the exact value.
- Three things are taken from qonnx's float32 execution on purpose, because the circuit is
  defined by them: (1) everything before and including the input quantizer's x/scale (the
  host computes the circuit's input codes with exactly those float32 steps; for a FloatQuant
  input quantizer its whole float32 float_quant, which the host runs), (2) the codes
  of constant quantizers (weights, biases: the circuit's constants), (3) BatchNormalization's
  a = gamma / sqrt(var + eps) and b = beta - mean * a as float64 (a square root has no exact
  rational form; InferLBIR folds the same float64 numbers). Apart from these, no value is
  ever rounded.

How it stays exact and fast (`tensor.Exact`): a tensor is value = ints * scale + offset with
integer `ints` over the batch and per-element rational `scale`/`offset` for one sample.
Affine glue changes only the rationals (one per channel, not per sample). A linear op first
rewrites each operand as integers over one positive rational unit (gcd of the scales and
offsets), then multiplies integers: in float64 BLAS when a bound proves every partial sum
is an integer below 2**53 (then float64 is exact and the order of summation irrelevant), in
int64 below 2**62, in Python integers beyond (`kernels`). A quantizer turns x/s + zp into
num/den with integers and rounds by floor division and remainder (`quantizers`). Plain
float64 would not do: products of two float32 are exact in float64, sums of many products of
arbitrary float32 scales are not.

`exact_reference(model, context)` returns the exact output; `ExactUnsupported` is raised
for an op without an exact rule (the caller falls back to the float32 rule). Adding an op is
one rule function (node, inputs, engine) -> outputs in `ops.OPS` or `quantizers.QUANTIZERS`.
"""
from qonnx_c4ml.exact.engine import ExactEngine
from qonnx_c4ml.exact.quantizers import ExactUnsupported
from qonnx_c4ml.exact.tensor import Exact


def exact_reference(model, context):
    """The exact value (`Exact`) of `model`'s output for the batch whose qonnx float32
    execution context (execute_onnx(..., return_full_exec_context=True)) is `context`."""
    return ExactEngine(model, dict(context)).run()


__all__ = ["Exact", "ExactUnsupported", "exact_reference"]
