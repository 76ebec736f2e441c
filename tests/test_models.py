"""models.py: random_mlp writes the graph a quantized MLP export has, deterministically, with
power-of-two scales (so float32 qonnx is exact) and the requested pruning."""
import numpy as np
import pytest

from qonnx.core.modelwrapper import ModelWrapper

from qonnx_builder import LayerSpec, MLPSpec, build_mlp
from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.models import random_mlp
from qonnx_c4ml.reference import execute
from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.transformations.constants import ConstantEvaluator
from qonnx_c4ml.verify import random_inputs


def test_graph_shape_and_determinism():
    model = random_mlp([6, 5, 4, 3], bits=3, seed=2)
    assert isinstance(model, ModelWrapper)
    assert model.get_tensor_shape("inp") == [1, 6]
    assert model.get_tensor_shape(model.graph.output[0].name) == [1, 3]
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("MatMul") == 3 and ops.count("Relu") == 2 and ops.count("Add") == 3
    assert ops.count("Quant") == 1 + 3 + 2  # input, weights, hidden activations; float last layer
    assert random_mlp([6, 5, 4, 3], bits=3, seed=2).model == model.model
    assert random_mlp([6, 5, 4, 3], bits=3, seed=3).model != model.model


def test_power_of_two_scales_and_pruning():
    model = random_mlp([32, 16, 4], bits=4, prune=0.5, seed=1)
    consts = ConstantEvaluator(model)
    for node in model.graph.node:
        if node.op_type == "Quant":
            scale = float(np.asarray(consts.value(node.input[1])))
            assert scale > 0 and np.log2(scale) == round(np.log2(scale))
    weights = [consts.quantized(n.input[1]).codes for n in model.graph.node if n.op_type == "MatMul"]
    zeros = np.mean(np.concatenate([w.ravel() for w in weights]) == 0)
    assert 0.4 < zeros < 0.7  # half pruned, plus codes that are zero anyway


def test_lowering_is_bit_exact():
    model = random_mlp([8, 6, 3], bits=4, seed=5)
    x = random_inputs(model, 100, seed=1)
    assert np.array_equal(execute(model.transform(InferLBIR()), x), execute(model, x))


def test_same_graph_as_the_test_builder():
    """The module doc's promise: tests/qonnx_builder.py writes the same graph for the same settings."""
    spec = MLPSpec(6, [LayerSpec(4, w_bits=4, a_bits=4, zero_fraction=0.0),
                       LayerSpec(3, w_bits=4, quantizer="none", relu=False, zero_fraction=0.0)], in_bits=4, seed=0)
    assert random_mlp([6, 4, 3], bits=4, prune=0.0, seed=0).model.graph == build_mlp(spec).model.graph


@pytest.mark.parametrize("topology, bits, prune, match", [
    ([6], 4, 0.0, "two positive integer widths"), ([6, 0], 4, 0.0, "two positive"), ([6, True], 4, 0.0, "two"),
    ([6, 3], 0, 0.0, "from 1 to 16"), ([6, 3], 17, 0.0, "from 1 to 16"), ([6, 3], 4, 1.0, r"\[0, 1\)"),
])
def test_bad_arguments(topology, bits, prune, match):
    with pytest.raises(C4mlError, match=match):
        random_mlp(topology, bits, prune)
