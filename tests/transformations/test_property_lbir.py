"""Property test: random small QONNX MLPs, InferLBIR's numpy graph == qonnx, bit for bit.

Power-of-two scales only (the float32 reference is exact there); every rounding mode,
signedness, narrow range, per-channel scales, Gemm/MatMul, bias or not, and the three
quantizer kinds are drawn.  (RTL against qonnx on random graphs: tests/e2e.)
"""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qonnx_builder import LayerSpec, MLPSpec, build_mlp

from qonnx_c4ml.lbir.requant import ROUNDING_MODES
from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.reference import execute
from qonnx_c4ml.verify import random_inputs

MODES = [m for m in ROUNDING_MODES if m != "HALF_EVEN"]  # HALF_EVEN is ROUND's alias


@st.composite
def layer_specs(draw, last):
    quantizer = "none" if last and draw(st.booleans()) else draw(
        st.sampled_from(["quant", "quant", "quant", "bipolar", "multithreshold"]))
    return LayerSpec(
        n_out=draw(st.integers(1, 12)),
        w_bits=draw(st.integers(2, 8)),
        a_bits=draw(st.integers(1, 6)) if quantizer == "quant" else draw(st.integers(1, 3)),
        quantizer=quantizer,
        relu=draw(st.booleans()),
        bias=draw(st.booleans()),
        gemm=draw(st.booleans()),
        per_channel=draw(st.booleans()),
        signed=draw(st.booleans()),
        narrow=draw(st.booleans()),
        rounding=draw(st.sampled_from(MODES)),
        zero_fraction=draw(st.sampled_from([0.0, 0.3, 0.8])),
        bipolar_weights=draw(st.integers(0, 5)) == 0,
    )


@st.composite
def mlp_specs(draw):
    depth = draw(st.integers(1, 3))
    layers = [draw(layer_specs(last=i == depth - 1)) for i in range(depth)]
    return MLPSpec(n_in=draw(st.integers(1, 12)), layers=layers, in_bits=draw(st.integers(2, 8)),
                   in_signed=draw(st.booleans()), in_rounding=draw(st.sampled_from(MODES)),
                   seed=draw(st.integers(0, 2**16)))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mlp_specs())
def test_random_mlps_lower_exactly(spec):
    model = build_mlp(spec)
    lbir = model.transform(InferLBIR())
    x = random_inputs(model, 256, seed=spec.seed)
    reference, result = execute(model, x), execute(lbir, x)
    assert np.array_equal(reference, result), (spec, np.argwhere(reference != result)[:5])
