"""InferLBIR on FINN CNN graphs whose convolutions FINN has lowered (issue 15): FINN's
step_streamline for a CNN (Transpose -> Im2Col -> MatMul -> channels-last MultiThreshold,
MaxPoolNHWC) and the stages after it (RoundAndClipThresholds, 4-D MVAU after an Im2Col, 4-D
Thresholding), and a 4-D Thresholding between Transposes; each bit-exact against qonnx
execute_onnx of that FINN graph (finn-plus 1.6.1's passes run for real, finn_flow.py), in LBIR
numpy and through Verilator RTL. The rewrites are transformations/finn_conv.py.

Models: cnv_small_1w1a / cnv_small_2w2a (Brevitas' CNV narrowed, tests/fixtures/examples), and
small hand-built graphs for what CNV lacks (padding, asymmetric strides, depthwise, the
Transpose LowerConvsToMatMul leaves before an NCHW MultiThreshold).
"""
import numpy as np
import pytest
from finn_flow import finn_outputs, finn_stage, finn_stages
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul
from qonnx.util.basic import qonnx_make_model
from transformations.test_finn_front import CNNS, inputs, model_of, ops

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.reference import execute

# what each stage of the conv-lowering flow must contain (so the test sees what it claims to test)
from qonnx_c4ml.verify import verify

# what each stage of the conv-lowering flow must contain (so the test sees what it claims to test)
LOWERED_OPS = {"streamline": {"Im2Col", "MaxPoolNHWC", "Transpose"}, "xnor_round": {"Im2Col"},
               "mvau": {"Im2Col", "MVAU"}, "thresholding": {"Im2Col", "MVAU", "Thresholding"}}
LOWERED_STAGES = list(LOWERED_OPS)


def four_d(model, op_type):
    return [n for n in model.graph.node if n.op_type == op_type
            and len(model.get_tensor_shape(n.input[0]) or []) == 4]


@pytest.mark.parametrize("name", CNNS)
def test_lowered_convolution_stages_exactly_in_numpy(name, record_property):
    """FINN's step_streamline for a CNN, then RoundAndClipThresholds, MVAU and Thresholding
    inference on it: InferLBIR -> LBIR numpy == qonnx on that FINN graph, bit-exact."""
    original = model_of(name)
    x = inputs(original, 12, seed=3)
    seen = []
    for stage, model in finn_stages(original, lower_convs=True):
        if stage not in LOWERED_OPS:
            continue
        assert LOWERED_OPS[stage] <= ops(model), (stage, ops(model))
        if stage in ("mvau", "thresholding"):
            assert four_d(model, "MVAU")
        if stage == "thresholding":
            assert four_d(model, "Thresholding")
        lowered = model.transform(InferLBIR())
        assert sum(n.op_type == "QConv2D" for n in lowered.graph.node) == 6
        assert sum(n.op_type == "QMaxPool2D" for n in lowered.graph.node) == 2
        np.testing.assert_array_equal(execute(lowered, x), finn_outputs(model, x), err_msg=f"{name} {stage}")
        seen.append(stage)
    assert seen == LOWERED_STAGES
    record_property("c4ml_summary", f"finn front end {name:16} convs lowered by FINN: LBIR numpy bit-exact at "
                                    f"{', '.join(seen)} ({len(x)} inputs)")


def test_thresholding_between_transposes_exactly_in_numpy():
    """InferThresholdingLayer on the CNV graph with Conv (not lowered): each NCHW MultiThreshold
    becomes Transpose -> 4-D Thresholding (NHWC) -> Transpose; lowered bit-exactly. (On
    cnv_small_1w1a FINN's own InferThresholdingLayer raises, so 2w2a only.)"""
    model = finn_stage(model_of("cnv_small_2w2a"), "thresholding")
    thresholds = four_d(model, "Thresholding")
    assert thresholds and all(any(p.op_type == "Transpose" for p in model.graph.node if t.input[0] in p.output)
                              for t in thresholds)
    x = inputs(model, 12, seed=5)
    np.testing.assert_array_equal(execute(model.transform(InferLBIR()), x), finn_outputs(model, x))


def conv_model(pads=(1, 0, 2, 1), strides=(2, 1), seed=0):
    """MultiThreshold input (codes 0..3) -> Conv 3->4 (3x3, `pads`, `strides`) -> MultiThreshold ->
    depthwise Conv 4->4 (3x3, pads 1) -> MultiThreshold; integer weights, as FINN's streamlined
    graphs have them."""
    rng = np.random.default_rng(seed)
    w1 = rng.integers(-2, 2, size=(4, 3, 3, 3)).astype(np.float32)
    w2 = rng.integers(-2, 2, size=(4, 1, 3, 3)).astype(np.float32)
    t0 = np.array([[-0.5, 0.0, 0.5]], np.float32)
    t1 = np.sort(rng.integers(-12, 12, size=(4, 3)), axis=1).astype(np.float32) + 0.5
    t2 = np.sort(rng.integers(-6, 6, size=(4, 3)), axis=1).astype(np.float32) + 0.5
    mt = dict(domain="qonnx.custom_op.general", out_dtype="UINT2")
    nodes = [helper.make_node("MultiThreshold", ["x", "t0"], ["a0"], name="mt0", **mt),
             helper.make_node("Conv", ["a0", "w1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=list(pads),
                              strides=list(strides), group=1, dilations=[1, 1]),
             helper.make_node("MultiThreshold", ["c1", "t1"], ["a1"], name="mt1", **mt),
             helper.make_node("Conv", ["a1", "w2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                              strides=[1, 1], dilations=[1, 1], group=4),
             helper.make_node("MultiThreshold", ["c2", "t2"], ["y"], name="mt2", **mt)]
    graph = helper.make_graph(
        nodes, "padded_convs", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 7, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(v, k) for k, v in
                     {"w1": w1, "w2": w2, "t0": t0, "t1": t1, "t2": t2}.items()])
    model = ModelWrapper(qonnx_make_model(graph, producer_name="tests/finn"))
    return model.transform(InferShapes()).transform(InferDataTypes())


def test_padded_strided_and_depthwise_im2col():
    """LowerConvsToMatMul alone (no AbsorbTransposeIntoMultiThreshold: an NCHW MultiThreshold
    after the Transpose back) on asymmetric pads, strides (2, 1) and a depthwise conv (Im2Col
    depthwise=1, block-diagonal MatMul -> group 4): bit-exact, and the depthwise conv stays one."""
    model = conv_model().transform(LowerConvsToMatMul()).transform(InferDataTypes())
    im2cols = [n for n in model.graph.node if n.op_type == "Im2Col"]
    attrs = [{a.name: helper.get_attribute_value(a) for a in n.attribute} for n in im2cols]
    assert [a["pad_amount"] for a in attrs] == [[1, 0, 2, 1], [1, 1, 1, 1]] and attrs[1]["depthwise"] == 1
    x = np.random.default_rng(7).uniform(-1, 1, size=(64, 3, 7, 6)).astype(np.float32)
    reference = finn_outputs(model, x)
    assert len(np.unique(reference)) > 2
    lowered = model.transform(InferLBIR())
    convs = [n for n in lowered.graph.node if n.op_type == "QConv2D"]
    assert [next(a.i for a in n.attribute if a.name == "group") for n in convs] == [1, 4]
    np.testing.assert_array_equal(execute(lowered, x), reference)


def test_im2col_padding_with_another_value_is_refused():
    model = conv_model().transform(LowerConvsToMatMul()).transform(InferDataTypes())
    im2col = next(n for n in model.graph.node if n.op_type == "Im2Col")
    im2col.attribute.append(helper.make_attribute("pad_value", 1))
    with pytest.raises(UnsupportedModelError, match=r"Im2Col.*pad_value 1.*zero padding"):
        model.transform(InferLBIR())


def test_convolution_input_generator_is_refused_naming_the_stage():
    from finn.transformation.fpgadataflow.convert_to_hw.conv_inp_gen import InferConvInpGen
    model = finn_stage(model_of("cnv_small_2w2a"), "mvau", lower_convs=True).transform(InferConvInpGen())
    assert "ConvolutionInputGenerator" in ops(model)
    with pytest.raises(UnsupportedModelError, match=r"ConvolutionInputGenerator.*before FINN's convert-to-hw"):
        model.transform(InferLBIR())


@pytest.mark.slow
@pytest.mark.parametrize("name,stage", [("cnv_small_2w2a", "thresholding"), ("cnv_small_1w1a", "xnor_round")])
def test_lowered_convolution_stage_through_rtl(name, stage, tmp_path, record_property):
    """cnv_small_2w2a after FINN's CNN step_streamline, RoundAndClipThresholds, MVAU and
    Thresholding inference (Im2Col, 4-D MVAU, 4-D Thresholding, MaxPoolNHWC), and cnv_small_1w1a
    after step_streamline + RoundAndClipThresholds (Im2Col -> XnorPopcountMatMul): verify's numpy
    and Verilator RTL stages (style auto: the conv chain streams) bit-exact against that FINN
    graph, and verify says the FINN graph is its reference."""
    model = finn_stage(model_of(name), stage, lower_convs=True)
    assert {"Im2Col", "MaxPoolNHWC"} <= ops(model)
    if stage == "thresholding":
        assert four_d(model, "MVAU") and four_d(model, "Thresholding")
    else:
        assert "XnorPopcountMatMul" in ops(model)
    x = inputs(model, 8, seed=21)
    report = verify(model, inputs=x, build_dir=tmp_path / "build")
    assert report.reference.startswith("qonnx execute_onnx of the given FINN graph")
    for part in ("lbir", "rtl"):
        c = next(c for c in report.comparisons if c.stage == part)
        assert c.exact_fraction == 1.0, report.table()
    # verify runs qonnx on the graph as InferLBIR prepares it (batched); on the same inputs LBIR
    # numpy is also equal to the FINN graph run as FINN runs it (one sample at a time), so RTL is too
    np.testing.assert_array_equal(execute(model.transform(InferLBIR()), x), finn_outputs(model, x))
    record_property("c4ml_summary", f"finn front end {name}, convs lowered by FINN, at {stage}: LBIR and RTL "
                                    "bit-exact vs the FINN graph (8 inputs)")
