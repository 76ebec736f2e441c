"""qonnx_c4ml.lbir.graph: finding the LBIR layers of a model and cutting them out."""
from pathlib import Path

import numpy as np
import pytest

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.io import read_model
from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.lbir.graph import lbir_chain, lbir_graph, lbir_submodel
from qonnx_c4ml.reference import execute_context
from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.verify import random_inputs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_layers_of_an_mlp_form_one_chain():
    lbir = read_model(FIXTURES / "jets_w2a2_po2.onnx").transform(InferLBIR())
    nodes, inp, out = lbir_graph(lbir)
    assert [n.op_type for n in nodes] == ["QDense"] * 4 and lbir_chain(lbir) == nodes
    assert nodes[0].input[0] == inp and nodes[-1].output[0] == out


def test_submodel_computes_what_the_layers_compute_inside_the_model():
    model = read_model(FIXTURES / "cnn" / "residual_block.onnx")
    lbir = model.transform(InferLBIR())
    nodes, inp, out = lbir_graph(lbir)
    assert "QAdd" in [n.op_type for n in nodes]  # a graph, not a chain
    x = random_inputs(model, 4, seed=0)
    batched, context = execute_context(lbir, x)
    sub = lbir_submodel(batched, nodes, inp, out)
    assert all(n.domain == DOMAIN for n in sub.graph.node)
    _, sub_context = execute_context(sub, context[inp])
    assert np.array_equal(sub_context[out], context[out])


def test_a_model_without_layers_is_refused_with_the_step_to_take():
    with pytest.raises(UnsupportedModelError, match="apply InferLBIR first"):
        lbir_graph(read_model(FIXTURES / "jets_w2a2_po2.onnx"))
