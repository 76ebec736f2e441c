"""InferLBIR on FINN graphs at every front-end stage (finn-plus 1.6.1's passes run for real,
tests/finn_flow.py), exact against *that* graph (qonnx execute_onnx of the FINN graph, FINN's
custom ops registered) in numpy and through Verilator RTL; the other order (FINN's passes on our
LBIR graph); and the messages for the FINN stages InferLBIR does not take.

Models: Brevitas' BNN-PYNQ examples (tests/fixtures/examples, scripts/make_brevitas_example_fixtures.py)
- fc_small_1w1a / fc_small_2w2a: the FC class (TFC topology) on 8x8 inputs, 1-bit and 2-bit;
- tfc_w1a1_style / tfc_w2a2_style (tests/fixtures): 784-64-64-64-10 MLPs, numpy only;
- cnv_small_2w2a / cnv_small_1w1a: the CNV class narrowed (FINN's reference CNN, convolutions
  without bias: qonnx 1.0's ExtractBiasFromConv cannot take our CNN fixtures' quantized biases).
"""
import json
from pathlib import Path

import numpy as np
import pytest
from finn_flow import STAGES, finn_outputs, finn_stage, finn_stages, streamline, tidy_up

from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul

from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

from e2e.combined import CombinedCircuits, host_split, host_tail
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.io import read_model
from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.comparison import compare, output_lsb
from qonnx_c4ml.reference import execute
from qonnx_c4ml.verify import random_inputs, verify

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "examples"
MANIFEST = json.loads((EXAMPLES / "manifest.json").read_text())
MLPS = ["fc_small_1w1a", "fc_small_2w2a"]
CNNS = ["cnv_small_1w1a", "cnv_small_2w2a"]
# the FINN ops each stage must have produced (so the test sees what it claims to test)
EXPECTED_OPS = {("fc_small_1w1a", "xnor_round"): "XnorPopcountMatMul", ("cnv_small_1w1a", "xnor_round"):
                "XnorPopcountMatMul", ("tfc_w1a1_style", "xnor_round"): "XnorPopcountMatMul", "mvau": "MVAU", "thresholding": "Thresholding", "qonnx_to_finn": "MultiThreshold"}


TFC = ["tfc_w1a1_style", "tfc_w2a2_style"]  # tests/fixtures: 784-64-64-64-10 (scripts/make_brevitas_fixtures.py)


def model_of(name):
    if name in TFC:
        return read_model(EXAMPLES.parent / f"{name}.onnx")
    return read_model(EXAMPLES / MANIFEST[name]["file"])


def inputs(model, n, seed):
    shape = model.get_tensor_shape(model.graph.input[0].name)[1:]
    return np.random.default_rng(seed).uniform(-1, 1, size=[n] + list(shape)).astype(np.float32)


def ops(model):
    return {n.op_type for n in model.graph.node}


@pytest.mark.parametrize("name", MLPS + TFC + CNNS)
def test_every_front_end_stage_lowers_exactly_in_numpy(name, record_property):
    """Each stage of FINN's front end -> InferLBIR -> LBIR numpy == qonnx on that FINN graph (bit-exact)."""
    # CNN Thresholding is 4-D, between Transposes (lowered too); FINN's own InferThresholdingLayer
    # raises on cnv_small_1w1a's graph with Conv
    until = "mvau" if name == "cnv_small_1w1a" else "thresholding"
    original = model_of(name)
    x = inputs(original, 12, seed=1)
    seen = []
    for stage, model in finn_stages(original, until=until):
        expected = EXPECTED_OPS.get((name, stage), EXPECTED_OPS.get(stage))
        if expected:
            assert expected in ops(model), (stage, ops(model))
        reference = finn_outputs(model, x)
        lowered = model.transform(InferLBIR())
        assert any(n.domain == "qonnx_c4ml.lbir" for n in lowered.graph.node)
        np.testing.assert_array_equal(execute(lowered, x), reference, err_msg=f"{name} {stage}")
        seen.append(stage)
    assert seen == STAGES[:STAGES.index(until) + 1]
    record_property("c4ml_summary", f"finn front end {name:16} LBIR numpy bit-exact vs the FINN graph at "
                                    f"{', '.join(seen)} ({len(x)} inputs)")


@pytest.mark.slow
def test_mlp_stages_through_rtl(tmp_path, record_property):
    """1-bit and 2-bit MLPs at every FINN stage (incl. XnorPopcountMatMul, MVAU, Thresholding):
    Verilator RTL (one build for all) -> host tail == qonnx on that FINN graph, bit-exact."""
    cases, lowered, xs = [], [], []
    for i, name in enumerate(MLPS):
        for stage, model in finn_stages(model_of(name)):
            if stage == "cleanup":
                continue
            cases.append((name, stage, model))
            lowered.append(model.transform(InferLBIR()))
            xs.append(inputs(model, 64, seed=10 + i))
    combined = CombinedCircuits(lowered, tmp_path / "verilog")
    splits = [host_split(m, x) for m, x in zip(lowered, xs)]
    rtl_codes = combined.run_codes([codes for _, _, codes, _, _ in splits])
    for (name, stage, model), lbir, x, split, codes in zip(cases, lowered, xs, splits, rtl_codes):
        low_model, context, _, circuit_output, tail = split
        report = compare("rtl", finn_outputs(model, x), host_tail(low_model, context, tail, circuit_output, codes),
                         output_lsb(lbir), 0)
        assert report.exact_fraction == 1.0, (name, stage, report)
    record_property("c4ml_summary", f"finn front end MLPs: RTL bit-exact vs the FINN graph at "
                                    f"{len(cases)} (model, stage) pairs, 64 inputs each")


@pytest.mark.slow
def test_cnn_after_convert_qonnx_to_finn_through_rtl(tmp_path, record_property):
    """The CNV CNN right after ConvertQONNXtoFINN (MultiThreshold -> Add/Mul -> MaxPool -> Conv:
    the affine glue folds into the codes' scale/offset): verify's numpy and RTL stages bit-exact
    against that FINN graph, and verify says so."""
    model = finn_stage(model_of("cnv_small_2w2a"), "qonnx_to_finn")
    x = inputs(model, 8, seed=4)
    report = verify(model, inputs=x, build_dir=tmp_path / "build")
    assert "FINN graph" in report.reference and "own reference" in report.reference
    assert "reference: qonnx execute_onnx of the given FINN graph" in report.table()
    for stage in ("lbir", "rtl"):
        c = next(c for c in report.comparisons if c.stage == stage)
        assert c.exact_fraction == 1.0, report.table()
    np.testing.assert_array_equal(execute(model, x), finn_outputs(model, x))  # verify's reference is that graph
    record_property("c4ml_summary", "finn front end cnv_small_2w2a after ConvertQONNXtoFINN: LBIR and RTL "
                                    "bit-exact vs the FINN graph (8 inputs)")


def test_verify_names_its_reference_for_plain_qonnx():
    report = verify(model_of("fc_small_2w2a"), samples=4, rtl=False)
    assert report.reference == "qonnx execute_onnx of the model as given"


@pytest.mark.parametrize("name", MLPS)
def test_finn_passes_run_on_our_lbir_graph(name):
    """The other order: InferLBIR first, then FINN's passes, without a cleanup in between. The
    host constants are initializers (no Constant nodes), so ConvertQONNXtoFINN turns the host's
    input quantizer into a MultiThreshold; tidy-up stays bit-exact; Streamline (which rewrites
    the float host tail, e.g. BatchNorm's Sub/Div/Mul/Add into one Mul+Add) agrees to float32
    rounding (1e-6 of the output range), and the circuit nodes pass through untouched."""
    lowered = model_of(name).transform(InferLBIR())
    assert "Constant" not in ops(lowered)
    x = inputs(lowered, 32, seed=2)
    ours = execute(lowered, x)
    finn = lowered.transform(ConvertQONNXtoFINN())
    assert "MultiThreshold" in ops(finn) and not ops(finn) & {"Quant", "BipolarQuant"}
    np.testing.assert_array_equal(execute(finn, x), ours)
    tidy = tidy_up(finn)
    np.testing.assert_array_equal(execute(tidy, x), ours)
    streamlined = streamline(tidy)
    lbir_nodes = [n for n in streamlined.graph.node if n.domain == "qonnx_c4ml.lbir"]
    assert len(lbir_nodes) == sum(n.domain == "qonnx_c4ml.lbir" for n in lowered.graph.node)
    np.testing.assert_allclose(execute(streamlined, x), ours, rtol=0, atol=1e-6 * np.abs(ours).max())
    # and InferLBIR takes the FINN-converted graph of its own output back (already lowered)
    assert tidy.transform(InferLBIR()).graph.node


def test_specialized_finn_layers_are_refused_naming_the_stage():
    model = finn_stage(model_of("fc_small_2w2a"), "mvau")
    node = next(n for n in model.graph.node if n.op_type == "MVAU")
    node.op_type, node.domain = "MVAU_hls", "finn.custom_op.fpgadataflow.hls"
    with pytest.raises(UnsupportedModelError, match=r"MVAU_hls.*before step_specialize_layers"):
        model.transform(InferLBIR())


def test_lower_convs_to_matmul_alone_lowers_exactly():
    """qonnx's LowerConvsToMatMul on the streamlined CNV (Transpose -> Im2Col -> MatMul -> Transpose
    -> NCHW MultiThreshold, MaxPool still NCHW): lowered bit-exactly (transformations/finn_conv.py;
    FINN's whole CNN step_streamline: transformations/test_finn_conv.py)."""
    model = finn_stage(model_of("cnv_small_2w2a"), "streamline").transform(LowerConvsToMatMul())
    assert "Im2Col" in ops(model)
    x = inputs(model, 8, seed=6)
    np.testing.assert_array_equal(execute(model.transform(InferLBIR()), x), finn_outputs(model, x))


def test_finn_graph_is_its_own_reference():
    """ConvertQONNXtoFINN's thresholds round exact ties up, qonnx's Quant rounds half to even: on a
    power-of-two model (jets 16-64-32-32-5, 4 bit) on grid inputs the FINN graph differs from the
    export on many outputs. InferLBIR matches the graph it is given, either one, and verify of the
    FINN graph says that graph is its reference (and passes against it)."""
    original = read_model(Path(__file__).resolve().parents[1] / "fixtures" / "jets_w4a4_po2.onnx")
    x = random_inputs(original, 200, 0)
    finn = finn_stage(original, "qonnx_to_finn")
    from_export, from_finn = execute(original, x), finn_outputs(finn, x)
    assert np.mean(from_export != from_finn) > 0.1  # measured 0.596: ties are common at po2 scales
    np.testing.assert_array_equal(execute(finn.transform(InferLBIR()), x), from_finn)
    np.testing.assert_array_equal(execute(original.transform(InferLBIR()), x), from_export)
    report = verify(finn, inputs=x, rtl=False)
    assert report.reference.startswith("qonnx execute_onnx of the given FINN graph")
    assert report.passed and next(c for c in report.comparisons if c.stage == "lbir").exact_fraction == 1.0, \
        report.table()


def bipolar_mvau_model(seed=0, mw=8, mh=4):
    """BipolarQuant input -> FINN MVAU with BIPOLAR inputs and weights, binaryXnorMode=0 (FINN
    computes xnor-popcount of (x+1)/2 and (w+1)/2), thresholds to UINT2."""
    rng = np.random.default_rng(seed)
    w = rng.choice([-1.0, 1.0], size=(mw, mh)).astype(np.float32)
    thresholds = np.sort(rng.integers(0, mw + 1, size=(mh, 3)), axis=1).astype(np.float32)
    nodes = [helper.make_node("BipolarQuant", ["x", "s"], ["xq"], domain="qonnx.custom_op.general", name="inq"),
             helper.make_node("MVAU", ["xq", "w", "t"], ["y"], domain="finn.custom_op.fpgadataflow", name="mvau",
                              backend="fpgadataflow", MW=mw, MH=mh, SIMD=1, PE=1, inputDataType="BIPOLAR",
                              weightDataType="BIPOLAR", outputDataType="UINT2", ActVal=0, binaryXnorMode=0,
                              noActivation=0)]
    graph = helper.make_graph(
        nodes, "bipolar_mvau", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, mw])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, mh])],
        initializer=[numpy_helper.from_array(np.float32(1.0), "s"), numpy_helper.from_array(w, "w"),
                     numpy_helper.from_array(thresholds, "t")])
    return ModelWrapper(qonnx_make_model(graph, producer_name="tests/finn")).transform(InferShapes())


def test_bipolar_mvau_and_the_legacy_op_name():
    """MVAU on +-1 inputs and weights ((x @ W + K) / 2 counts the agreements) lowers bit-exactly, and
    the pre-finn-plus name MatrixVectorActivation lowers the same (finn-plus no longer executes it:
    compared with the MVAU graph's outputs)."""
    model = bipolar_mvau_model()
    x = np.random.default_rng(1).uniform(-1, 1, size=(64, 8)).astype(np.float32)
    reference = finn_outputs(model, x)
    assert len(np.unique(reference)) > 1
    np.testing.assert_array_equal(execute(model.transform(InferLBIR()), x), reference)
    legacy = ModelWrapper(model.model.__deepcopy__())
    next(n for n in legacy.graph.node if n.op_type == "MVAU").op_type = "MatrixVectorActivation"
    np.testing.assert_array_equal(execute(legacy.transform(InferLBIR()), x), reference)
