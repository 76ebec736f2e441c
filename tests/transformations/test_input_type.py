"""transformations/input_type.py: input type strings as grids, the grid of a quantizer, and the
input quantizer inserted into a model that has none."""
import numpy as np
import pytest
from lowering_graphs import Graph

from qonnx_c4ml.errors import C4mlError, UnsupportedModelError
from qonnx_c4ml.transformations.constants import ConstantEvaluator
from qonnx_c4ml.transformations.input_type import (InputGrid, apply_input_grid, input_grid_at_graph_input,
                                                   parse_input_datatype, quantizer_grid)


def test_type_strings_become_grids():
    fixed = parse_input_datatype("ap_fixed<8, 3>")  # hls4ml's spelling, spaces and case ignored
    assert (fixed.bits, fixed.signed, fixed.scale) == (8, True, 2.0 ** -5)
    assert fixed.code_range == (-128, 127) and fixed.values()[[0, -1]].tolist() == [-4.0, 127 / 32]
    assert parse_input_datatype("uint3").values().tolist() == list(range(8))
    bipolar = parse_input_datatype("BIPOLAR")
    assert bipolar.bipolar and bipolar.values().tolist() == [-1.0, 1.0] and bipolar.code_range == (0, 1)
    assert parse_input_datatype("TERNARY").values().tolist() == [-1.0, 0.0, 1.0]
    assert parse_input_datatype(fixed) is fixed


@pytest.mark.parametrize("text, match", [("INT1", "bipolar"), ("INT32", "1 to 16"), ("FLOAT32", "not an integer"),
                                         ("float8", "not understood"), ("", "not a type name")])
def test_unusable_types_name_the_accepted_forms(text, match):
    with pytest.raises(C4mlError, match=match):
        parse_input_datatype(text)


def test_grid_values_random_and_description():
    grid = InputGrid("4-bit Quant", 0.5, 4, False, zero=3)
    assert grid.values().tolist() == [(q - 3) * 0.5 for q in range(16)]
    assert grid.describe() == "4-bit Quant (codes 0..15 x 0.5, zero-point 3)"
    draws = grid.random((50,), np.random.default_rng(0))
    assert draws[0] == grid.values()[0] and draws[1] == grid.values()[-1] and set(draws) <= set(grid.values())
    assert grid.same_values(InputGrid("other", 0.5, 4, False, zero=3)) and not grid.same_values(parse_input_datatype("UINT4"))


def model_without_input_quantizer():
    g = Graph()
    y = g.node("MatMul", ["inp", g.weights(g.random_codes((4, 3)))])
    return g.model([4], g.quant(y, 0.25, 4))


def test_the_input_quantizer_is_inserted_before_the_first_layer():
    model = model_without_input_quantizer()
    assert input_grid_at_graph_input(model, "INT4").values().tolist() == list(range(-8, 8))
    tensors = apply_input_grid(model, "INT4")
    assert tensors == ["inp"]
    first = model.find_consumer("inp")
    assert (first.op_type, first.name) == ("Quant", "c4ml_input_grid")
    assert model.find_consumer(first.output[0]).op_type == "MatMul"
    grid = quantizer_grid(first, ConstantEvaluator(model))
    assert (grid.bits, grid.signed, grid.scale, grid.zero) == (4, True, 1.0, 0)


def test_no_place_for_the_input_type_is_an_error():
    g = Graph()
    y = g.node("Relu", ["inp"])
    y = g.node("MatMul", [y, g.weights(g.random_codes((4, 3)))])
    model = g.model([4], g.quant(y, 0.25, 4))
    with pytest.raises(UnsupportedModelError, match="cannot be placed"):
        apply_input_grid(model, "INT4")
