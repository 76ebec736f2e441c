"""Issue 10: QONNX as users bring it goes through InferLBIR with no preparation, exactly.

Every model here is given RAW to InferLBIR (no cleanup by the test) and the LBIR graph's
numpy execution is compared, bit for bit (power-of-two scales), with qonnx `execute_onnx` on
the original raw model (tests/wild_models.py `reference`: only InferShapes, which qonnx needs
before it executes anything).
"""
import numpy as np
import pytest
from onnx import helper
from wild_models import batchless_cnn, forked_input_mlp, lbir_outputs, padded_input_cnn, qkeras_mlp, reference, \
    to_legacy

from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_datatypes import InferDataTypes

from qonnx_c4ml.errors import C4mlError, UnsupportedModelError
from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.transformations.batch_axis import per_sample_shape
from qonnx_c4ml.transformations.constants import HOST_PREFIX_OPS
from qonnx_c4ml.transformations.constants import HOST_PREFIX_OPS as LOWERING_PREFIX_OPS
from qonnx_c4ml.transformations.input_type import PREPROCESSING_OPS, parse_input_datatype
from qonnx_c4ml.verify import random_inputs

FIXTURES = __import__("pathlib").Path(__file__).resolve().parent.parent / "fixtures"
SAMPLES = 64


def assert_exact(raw, lbir, x):
    expected, got = reference(raw, x), lbir_outputs(lbir, x)
    assert expected.shape == got.shape
    assert np.array_equal(expected, got), np.abs(expected - got).max()
    assert len(np.unique(expected)) > 4  # the inputs exercise the model, not one constant output


def grid_inputs(grid, shape, seed=0):
    return parse_input_datatype(grid).random((SAMPLES,) + tuple(shape), np.random.default_rng(seed))


# -- 1. legacy exports -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["brevitas_mlp_legacy", "brevitas_flatten_all_raw"])
def test_raw_brevitas_fixtures_are_exact(name):
    raw = ModelWrapper(str(FIXTURES / "wild" / f"{name}.onnx"))
    lbir = raw.transform(InferLBIR())
    assert any(n.domain == DOMAIN for n in lbir.graph.node)
    assert_exact(raw, lbir, random_inputs(lbir, SAMPLES, seed=3))


@pytest.mark.parametrize("domain", ["onnx.brevitas", "finn.custom_op.general", "finn"])
@pytest.mark.parametrize("fixture", ["tfc_w2a2_style", "jets_w4a4_po2"])
def test_legacy_forms_of_brevitas_fixtures_are_exact(fixture, domain):
    clean = ModelWrapper(str(FIXTURES / f"{fixture}.onnx"))
    legacy = to_legacy(clean, domain)
    assert len(legacy.graph.input) > 1 and not legacy.graph.value_info and legacy.ir_version == 6
    raw = ModelWrapper(legacy)  # what ModelWrapper(path) gives for the file
    lbir = raw.transform(InferLBIR())
    x = random_inputs(clean, SAMPLES, seed=1)
    assert_exact(legacy, lbir, x)


@pytest.mark.parametrize("ir_version", [4, 7])
def test_legacy_ir_versions(ir_version):
    legacy = to_legacy(ModelWrapper(str(FIXTURES / "tfc_w2a2_style.onnx")), ir_version=ir_version)
    lbir = ModelWrapper(legacy).transform(InferLBIR())
    assert lbir.model.ir_version >= 4
    assert_exact(legacy, lbir, random_inputs(lbir, SAMPLES, seed=2))


def test_user_model_is_untouched_and_io_names_kept():
    legacy = to_legacy(ModelWrapper(str(FIXTURES / "tfc_w2a2_style.onnx")))
    for node in legacy.graph.node:
        node.name = ""  # exporters leave names empty
    raw = ModelWrapper(legacy)
    before = raw.model.SerializeToString()
    lbir = raw.transform(InferLBIR())
    InferLBIR().apply(raw)  # also when called directly, without transform's copy
    assert raw.model.SerializeToString() == before
    assert [i.name for i in lbir.graph.input] == [raw.graph.input[0].name]
    assert [o.name for o in lbir.graph.output] == [o.name for o in raw.graph.output]
    assert {n.domain for n in lbir.graph.node} <= {"", DOMAIN, "qonnx.custom_op.general"}


# -- 2. no input quantizer ---------------------------------------------------------------------------
@pytest.mark.parametrize("grid", ["FIXED<16,6>", "fixed<8,3>", "ap_fixed<10,2>", "INT8", "UINT4", "BINARY",
                                  "BIPOLAR", "TERNARY"])
def test_input_type_option_is_exact(grid):
    raw = qkeras_mlp()
    lbir = raw.transform(InferLBIR(input_datatype=grid))
    assert_exact(raw, lbir, grid_inputs(grid, (12,)))


@pytest.mark.parametrize("annotation", ["UINT8", "INT4", "BIPOLAR", "FIXED<8,3>"])
def test_input_annotation_is_exact_and_kept(annotation):
    raw = qkeras_mlp(annotation=annotation)
    lbir = raw.transform(InferLBIR())
    assert lbir.get_tensor_datatype("global_in") == DataType[annotation]
    assert_exact(raw, lbir, grid_inputs(annotation, (12,)))
    assert np.all(DataType[annotation].allowed(random_inputs(raw, SAMPLES)))  # verify draws on the grid


def test_annotation_after_host_preprocessing_is_exact():
    """FINN: x in {0, 1} -> Add(-0.5) -> Div(0.5) -> BIPOLAR-annotated -> MatMul."""
    raw = qkeras_mlp(annotation="BIPOLAR", preprocess=True)
    lbir = raw.transform(InferLBIR())
    ops = [n.op_type for n in lbir.graph.node]
    assert ops.index("Add") < ops.index("Div") < ops.index("BipolarQuant") < ops.index("QDense")  # host keeps it
    x = np.random.default_rng(4).integers(0, 2, (SAMPLES, 12)).astype(np.float32)
    assert_exact(raw, lbir, x)


def test_no_input_type_names_the_option():
    with pytest.raises(UnsupportedModelError, match=r"node 'dense0' \(MatMul\).*no input quantizer.*input_datatype"):
        qkeras_mlp().transform(InferLBIR())


def test_annotation_before_float_preprocessing_is_an_error():
    raw = qkeras_mlp(preprocess=True)
    raw.set_tensor_datatype("global_in", DataType["UINT8"])
    with pytest.raises(UnsupportedModelError, match="UINT8 on 'global_in' is followed by float preprocessing"):
        raw.transform(InferLBIR())
    lbir = raw.transform(InferLBIR(input_datatype="BIPOLAR"))  # the option names the layer's input
    assert_exact(raw, lbir, np.random.default_rng(5).integers(0, 2, (SAMPLES, 12)).astype(np.float32))


def jets_input_quant():
    model = ModelWrapper(str(FIXTURES / "jets_w4a4_po2.onnx"))
    quant = model.find_consumers(model.graph.input[0].name)[0]
    scale = float(model.get_initializer(quant.input[1]))
    assert quant.op_type == "Quant" and model.get_initializer(quant.input[3]) == 8
    return model, quant, scale


def test_option_agreeing_with_the_input_quantizer_is_accepted():
    model, _, scale = jets_input_quant()
    same = f"FIXED<8,{8 - int(-np.log2(scale))}>"
    lbir = model.transform(InferLBIR(input_datatype=same))
    assert_exact(model, lbir, random_inputs(model, SAMPLES))


def test_option_conflicting_with_the_input_quantizer():
    model, quant, _ = jets_input_quant()
    with pytest.raises(UnsupportedModelError, match=f"node '{quant.name}' \\(Quant\\).*input type INT8.*drop the"):
        model.transform(InferLBIR(input_datatype="INT8"))


@pytest.mark.parametrize("where", ["input", "output"])
def test_annotation_conflicting_with_the_input_quantizer(where):
    model, quant, _ = jets_input_quant()
    tensor = quant.input[0] if where == "input" else quant.output[0]
    model.set_tensor_datatype(tensor, DataType["INT4"])
    with pytest.raises(UnsupportedModelError, match=f"node '{quant.name}'.*its {where} .* annotated INT4.*remove"):
        model.transform(InferLBIR())


def test_qonnx_inferred_datatypes_are_no_conflict():
    model, quant, _ = jets_input_quant()
    typed = model.transform(InferDataTypes())
    typed.set_tensor_datatype(quant.output[0], DataType["SCALEDINT<8>"])  # qonnx's mark of a scaled Quant
    assert_exact(model, typed.transform(InferLBIR()), random_inputs(model, SAMPLES))


def test_option_conflicting_with_the_annotation():
    raw = qkeras_mlp(annotation="UINT8")
    with pytest.raises(UnsupportedModelError, match="node 'dense0'.*annotated UINT8.*INT8"):
        raw.transform(InferLBIR(input_datatype="INT8"))
    raw.transform(InferLBIR(input_datatype="UINT8"))  # agreeing: fine


@pytest.mark.parametrize("text, canonical", [("FIXED<16,6>", "FIXED<16,6>"), (" fixed< 16 , 6 > ", "FIXED<16,6>"),
                                             ("ap_fixed<16,6>", "FIXED<16,6>"), ("int8", "INT8"), ("UINT1", "BINARY"),
                                             ("BINARY", "BINARY"), ("bipolar", "BIPOLAR"), ("TERNARY", "TERNARY")])
def test_input_type_strings(text, canonical):
    assert parse_input_datatype(text).name == canonical


@pytest.mark.parametrize("text, reason", [("FLOAT<3>", "not understood"), ("FLOAT32", "not an integer"),
                                          ("INT0", "0 bits"), ("UINT17", "17 bits"), ("FIXED<32,8>", "32 bits"),
                                          ("SCALEDINT<8>", "no scale"), ("garbage", "not understood"),
                                          ("", "not a type"), ("INT1", "use BIPOLAR or BINARY")])
def test_bad_input_type_strings(text, reason):
    with pytest.raises(C4mlError, match=reason) as error:
        InferLBIR(input_datatype=text)
    assert "FIXED<w,i>" in str(error.value) and "\n" not in str(error.value)


def test_annotation_without_a_grid_is_an_error():
    raw = qkeras_mlp(annotation="SCALEDINT<8>")
    with pytest.raises(UnsupportedModelError, match="SCALEDINT<8> states no scale.*input_datatype"):
        raw.transform(InferLBIR())


def test_preprocessing_ops_match_the_lowering():
    assert PREPROCESSING_OPS is HOST_PREFIX_OPS is LOWERING_PREFIX_OPS  # one definition (constants.py)


def test_int1_annotation_is_refused():
    """qonnx's 1-bit signed Quant is bipolar (-1, +1), INT1 is {-1, 0}: no silent wrong grid."""
    with pytest.raises(UnsupportedModelError, match="INT1.*use BIPOLAR or BINARY"):
        qkeras_mlp(annotation="INT1").transform(InferLBIR())


# -- the grid on a tensor read by several nodes, or by a Pad (regression of 0961d9e) -----------------
@pytest.mark.parametrize("annotation, option", [("INT4", None), (None, "INT4"), ("INT4", "INT4")])
def test_input_read_by_two_layers_into_a_residual_add(annotation, option):
    raw = forked_input_mlp(annotation=annotation)
    lbir = raw.transform(InferLBIR(input_datatype=option))
    ops = [n.op_type for n in lbir.graph.node]
    assert ops.count("Quant") == 1 and ops.count("QDense") == 3 and "QAdd" in ops
    assert_exact(raw, lbir, random_inputs(raw, SAMPLES, input_datatype=option))
    assert np.all(DataType["INT4"].allowed(random_inputs(raw, SAMPLES, input_datatype=option)))


def test_input_read_by_a_pad():
    raw = padded_input_cnn()
    lbir = raw.transform(InferLBIR())
    assert [n.op_type for n in lbir.graph.node].count("QConv2D") == 1
    assert_exact(raw, lbir, random_inputs(raw, SAMPLES))


def test_option_that_cannot_be_placed_names_the_node():
    raw = qkeras_mlp()
    dense = next(n for n in raw.graph.node if n.name == "dense0")
    raw.graph.node.insert(0, helper.make_node("Relu", ["global_in"], ["pre_relu_out"], name="pre_relu"))
    dense.input[0] = "pre_relu_out"
    with pytest.raises(UnsupportedModelError, match=r"node 'pre_relu' \(Relu\): the input type INT8.*cannot be placed"):
        raw.transform(InferLBIR(input_datatype="INT8"))


# -- random inputs through host preprocessing ----------------------------------------------------------
@pytest.mark.parametrize("annotation, option", [("BIPOLAR", None), (None, "BIPOLAR"), (None, "INT4")])
def test_random_inputs_are_drawn_through_host_preprocessing(annotation, option):
    raw = qkeras_mlp(annotation=annotation, preprocess=True)
    x = random_inputs(raw, SAMPLES, input_datatype=option)
    grid = parse_input_datatype(option or annotation).values()
    assert np.all(np.isin((x - np.float32(0.5)) / np.float32(0.5), grid))  # the host's Add(-0.5), Div(0.5)
    assert_exact(raw, raw.transform(InferLBIR(input_datatype=option)), x)


def test_preprocessing_that_cannot_be_inverted_asks_for_inputs():
    raw = qkeras_mlp(annotation="BIPOLAR", preprocess=True)
    div = next(n for n in raw.graph.node if n.name == "pre_div")
    div.input[0], div.input[1] = div.input[1], div.input[0]  # 0.5 / x
    with pytest.raises(UnsupportedModelError, match=r"node 'pre_div' \(Div\).*cannot be drawn.*pass inputs"):
        random_inputs(raw, SAMPLES)


# -- zero-points of the input quantizer ----------------------------------------------------------------
def _with_zero_point_input_quant(zero=128):
    """qkeras_mlp with Quant(global_in, scale 1, zero-point 128, 8 bit unsigned) before dense0:
    codes q - 128 in -128..127, i.e. the INT8 grid."""
    from onnx import TensorProto

    raw = qkeras_mlp()
    for name, value in (("zq_scale", 1.0), ("zq_zero", float(zero)), ("zq_bits", 8.0)):
        raw.graph.initializer.append(helper.make_tensor(name, TensorProto.FLOAT, [], [value]))
    raw.graph.node.insert(0, helper.make_node("Quant", ["global_in", "zq_scale", "zq_zero", "zq_bits"], ["zq_out"],
                                              name="zq", domain="qonnx.custom_op.general", signed=0, narrow=0,
                                              rounding_mode="ROUND"))
    next(n for n in raw.graph.node if n.name == "dense0").input[0] = "zq_out"
    return raw


def test_input_quantizer_grid_includes_its_zero_point():
    raw = _with_zero_point_input_quant()
    lbir = raw.transform(InferLBIR(input_datatype="INT8"))  # the quantizer's grid: accepted
    assert_exact(raw, lbir, grid_inputs("INT8", (12,)))
    with pytest.raises(UnsupportedModelError, match=r"node 'zq' \(Quant\).*zero-point 128.*input type UINT8"):
        raw.transform(InferLBIR(input_datatype="UINT8"))
    x = random_inputs(raw, 4000)
    assert x.min() < -128 and x.max() > 127 and x.min() > -130 and x.max() < 129  # codes, clipping, ties


# -- 3. batch-less reshapes --------------------------------------------------------------------------
@pytest.mark.parametrize("final_quant", [True, False])
def test_flatten_of_everything_is_exact(final_quant):
    raw = batchless_cnn(final_quant=final_quant)
    lbir = raw.transform(InferLBIR())
    assert lbir.get_tensor_shape(lbir.graph.output[0].name) == [5]  # the model's declared shape
    assert_exact(raw, lbir, random_inputs(raw, SAMPLES, seed=6))


def test_reshape_mixing_samples_is_still_rejected():
    node = helper.make_node("Reshape", ["x", "shape"], ["y"], name="mix")
    assert per_sample_shape(node, [1, 8], [1, 2, 4], 1) == (2, 4)
    assert per_sample_shape(node, [1, 2, 4], [8], 2) == (8,)  # torch.flatten(x) with batch 1
    for in_shape, out_shape in (([1, 8], [2, 4]), ([4, 8], [32]), ([8], [2, 4])):
        with pytest.raises(UnsupportedModelError, match=r"node 'mix' \(Reshape\): reshape to .* changes the batch"):
            per_sample_shape(node, in_shape, out_shape, 1)


def test_legacy_form_without_input_quantizer():
    """Both at once: a QKeras-style model in legacy form, its input type given."""
    legacy = to_legacy(qkeras_mlp(seed=2), "finn.custom_op.general")
    lbir = ModelWrapper(legacy).transform(InferLBIR(input_datatype="FIXED<12,4>"))
    assert_exact(legacy, lbir, grid_inputs("FIXED<12,4>", (12,)))
