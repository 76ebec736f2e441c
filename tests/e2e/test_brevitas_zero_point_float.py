"""Real Brevitas 0.13.4 exports with zero-points and FP8 (scripts/make_brevitas_zero_point_float_fixtures.py).

shifted_uint8_mlp: ShiftedUint8ActPerTensorFixedPoint activations with Int8 weights;
fp8_e4m3_mlp: FP8 E4M3 (OCP, max 448) activations and weights, power-of-two scales;
zero_point_fp8_cnn: zero-point codes through padded convolutions and a max pool, then FP8
convolution and dense layers (parallel and streaming).  All bit-exact against qonnx: LBIR
numpy on 1000 inputs, then the RTL.
"""
from pathlib import Path

import numpy as np
import pytest

from qonnx.core.modelwrapper import ModelWrapper

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim
from qonnx_c4ml.reference import execute, with_batch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "zero_point_float"
NAMES = ["shifted_uint8_mlp.onnx", "fp8_e4m3_mlp.onnx", "zero_point_fp8_cnn.onnx"]


def inputs(model, samples, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 3, [samples] + model.get_tensor_shape(model.graph.input[0].name)[1:])
    x[rng.random(x.shape) < 0.1] *= 30  # saturation of both quantizer kinds
    return x.astype(np.float32)


@pytest.mark.parametrize("name", NAMES)
def test_lbir_is_bit_exact(name):
    model = ModelWrapper(str(FIXTURES / name))
    assert {"Quant", "FloatQuant"} & {n.op_type for n in model.graph.node}
    lowered = model.transform(InferLBIR())
    assert sum(n.domain == DOMAIN for n in lowered.graph.node) == (4 if "cnn" in name else 2)
    x = inputs(model, 1000, 0)
    np.testing.assert_array_equal(execute(lowered, x), execute(model, x))


@pytest.mark.slow
@pytest.mark.parametrize("name,style", [(n, "parallel") for n in NAMES] + [("zero_point_fp8_cnn.onnx", "streaming")])
def test_rtl_is_bit_exact(name, style, tmp_path):
    model = ModelWrapper(str(FIXTURES / name))
    circuit = model.transform(InferLBIR()).transform(GenerateChiselCircuit(output_dir=str(tmp_path / "v"), style=style))
    circuit = circuit.transform(RTLSim())
    x = inputs(model, 300 if style == "streaming" else 1000, 1)
    np.testing.assert_array_equal(execute(with_batch(circuit, x.shape[0]), x), execute(model, x))
