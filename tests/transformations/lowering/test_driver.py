"""lowering/driver.py: the walk's entry checks, and what it returns."""
import pytest
from onnx import TensorProto, helper
from lowering_graphs import Graph, lbir_nodes

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.transformations.lowering import lower_prepared
from qonnx_c4ml.transformations.lowering.driver import check_model
from qonnx_c4ml.transformations.prepare import prepare_for_lowering


def two_layers():
    g = Graph()
    y = g.quant(g.node("MatMul", [g.quant("inp", 0.5, 4), g.weights(g.random_codes((4, 3)))]), 0.5, 4)
    y = g.quant(g.node("MatMul", [y, g.weights(g.random_codes((3, 2)))]), 0.5, 6)
    return g.model([4], y)


def test_lower_prepared_maps_every_integer_tensor():
    model = prepare_for_lowering(two_layers(), None)[0]
    lbir, acts = lower_prepared(model)
    quant_outputs = [n.output[0] for n in model.graph.node if n.op_type == "Quant" and n.input[0] != n.input[1]
                     and not n.input[0].startswith("c")]
    assert set(acts) == set(quant_outputs)  # input, hidden, output quantizers
    assert [n.op_type for n in lbir_nodes(lbir)] == ["QDense", "QDense"]
    assert lbir_nodes(lbir)[1].input[0] == lbir_nodes(lbir)[0].output[0]
    assert any(o.domain == DOMAIN for o in lbir.model.opset_import)


def test_two_outputs_are_refused():
    model = two_layers()
    model.graph.output.append(helper.make_tensor_value_info("inp_extra", TensorProto.FLOAT, [1, 4]))
    with pytest.raises(UnsupportedModelError, match="the model has 1 inputs and 2 outputs"):
        check_model(model)


def test_a_float_model_is_refused():
    g = Graph()
    model = g.model([4], g.node("MatMul", ["inp", g.const([[1.0]] * 4)]))
    with pytest.raises(UnsupportedModelError, match="it is a float model"):
        check_model(model)


def test_a_dynamic_input_shape_is_refused():
    model = two_layers()
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "features"
    with pytest.raises(UnsupportedModelError, match="has no static shape"):
        check_model(model)


def test_a_circuit_with_two_outputs_is_refused():
    g = Graph()
    x = g.quant("inp", 0.5, 4)
    a = g.quant(g.node("MatMul", [x, g.weights(g.random_codes((4, 3)))]), 0.5, 4)
    b = g.quant(g.node("MatMul", [x, g.weights(g.random_codes((4, 3)))]), 0.5, 4)
    out = g.node("Concat", [a, b], axis=1)
    with pytest.raises(UnsupportedModelError, match="the circuit would have 2 outputs"):
        lower_prepared(prepare_for_lowering(g.model([4], out), None)[0])
