"""qonnx_c4ml.reference: running a model in qonnx at any batch size, never changing the caller's."""
from pathlib import Path

import numpy as np

from qonnx.core.onnx_exec import execute_onnx

from qonnx_c4ml.io import read_model
from qonnx_c4ml.reference import execute, execute_context, load_model, with_batch
from qonnx_c4ml.verify import random_inputs

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "jets_w4a4_po2.onnx"


def test_load_model_copies_a_modelwrapper():
    model = read_model(FIXTURE)
    copy = load_model(model)
    copy.graph.node.pop()
    assert len(copy.graph.node) == len(model.graph.node) - 1


def test_execute_at_any_batch_equals_qonnx_sample_by_sample():
    model = read_model(FIXTURE)
    x = random_inputs(model, 7, seed=2)
    name = model.graph.input[0].name
    single = with_batch(model, 1)
    expected = np.concatenate([execute_onnx(single, {name: x[i:i + 1]})[model.graph.output[0].name]
                               for i in range(7)])
    assert np.array_equal(execute(model, x), expected)
    batched, context = execute_context(model, x)
    assert batched.get_tensor_shape(name)[0] == 7 and model.get_tensor_shape(name)[0] != 7
    assert len(context) > len(model.graph.node)  # every tensor, not only the output
