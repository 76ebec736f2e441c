"""Issue 10 through the RTL: one model per new pattern, RAW into InferLBIR -> GenerateChiselCircuit
-> RTLSim (Verilator) -> execute_onnx, bit-exact against qonnx on the original raw model.

- legacy: a raw Brevitas export in onnx.brevitas form (initializers as inputs, IR 6, no
  shapes, Shape/Gather flatten; tests/fixtures/wild/brevitas_mlp_legacy.onnx)
- no input quantizer, the input type given: a QKeras-style MatMul(global_in, Quant(W)) with
  `input_datatype="FIXED<16,6>"`
- no input quantizer, the input type annotated after host preprocessing (FINN's BIPOLAR)
- batch-less: chisel4ml's torch.flatten (tests/fixtures/wild/brevitas_flatten_all_raw.onnx)
"""
from pathlib import Path

import numpy as np
import pytest
from wild_models import lbir_outputs, qkeras_mlp, reference

from qonnx.core.modelwrapper import ModelWrapper

from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim
from qonnx_c4ml.transformations.input_type import parse_input_datatype
from qonnx_c4ml.verify import random_inputs

WILD = Path(__file__).resolve().parents[1] / "fixtures" / "wild"
SAMPLES = 200


def case(name):
    rng = np.random.default_rng(11)
    if name == "legacy_brevitas_mlp":
        raw = ModelWrapper(str(WILD / "brevitas_mlp_legacy.onnx"))
        return raw, None, random_inputs(raw, SAMPLES, seed=5)
    if name == "qkeras_fixed_16_6":
        return qkeras_mlp(seed=3), "FIXED<16,6>", parse_input_datatype("FIXED<16,6>").random((SAMPLES, 12), rng)
    if name == "finn_bipolar_after_preprocessing":
        raw = qkeras_mlp(annotation="BIPOLAR", preprocess=True, seed=4)
        return raw, None, rng.integers(0, 2, (SAMPLES, 12)).astype(np.float32)
    raw = ModelWrapper(str(WILD / "brevitas_flatten_all_raw.onnx"))
    return raw, None, random_inputs(raw, SAMPLES, seed=6)


@pytest.mark.parametrize("name", ["legacy_brevitas_mlp", "qkeras_fixed_16_6", "finn_bipolar_after_preprocessing",
                                  "batchless_flatten_all"])
def test_raw_model_through_rtl_is_bit_exact(name, tmp_path, record_property):
    raw, input_datatype, x = case(name)
    lbir = raw.transform(InferLBIR(input_datatype=input_datatype))
    rtl = lbir.transform(GenerateChiselCircuit(tmp_path / "verilog", pipeline="layer"))
    rtl = rtl.transform(RTLSim(cache_dir=tmp_path / "cache"))
    assert any(n.op_type == "RTLCircuit" for n in rtl.graph.node)
    expected, got = reference(raw, x), lbir_outputs(rtl, x)
    record_property("c4ml_summary", f"wild {name:34} RTL vs qonnx on the raw model, {SAMPLES} inputs: "
                                    f"{int(np.sum(expected != got))} of {expected.size} elements differ")
    assert expected.shape == got.shape
    assert np.array_equal(expected, got)
    assert len(np.unique(expected)) > 8
