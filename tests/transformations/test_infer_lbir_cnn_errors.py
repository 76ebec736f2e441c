"""CNN patterns the flow cannot turn into logic give an error naming the node, the op and
what to do (made by editing real Brevitas exports from tests/fixtures/cnn)."""
from pathlib import Path

import pytest

from qonnx.transformation.general import SortGraph

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.io import read_model
from qonnx_c4ml.transformations import InferLBIR

CNN = Path(__file__).resolve().parents[1] / "fixtures" / "cnn"


def nodes(model, op_type):
    return [n for n in model.graph.node if n.op_type == op_type]


def lowering_error(model):
    for info in list(model.graph.value_info):  # edited graphs: let shape inference start afresh
        model.graph.value_info.remove(info)
    with pytest.raises(UnsupportedModelError) as error:
        model.transform(SortGraph()).transform(InferLBIR())
    return str(error.value)


def test_dilated_convolution():
    model = read_model(CNN / "conv_stride_pad.onnx")
    conv = nodes(model, "Conv")[0]
    next(a for a in conv.attribute if a.name == "dilations").ints[:] = [2, 2]
    message = lowering_error(model)
    assert f"node '{conv.name}' (Conv)" in message and "dilations [2, 2]" in message


def test_residual_add_of_an_unquantized_branch():
    model = read_model(CNN / "residual_block.onnx")
    add = nodes(model, "Add")[0]
    producers = {o: n for n in model.graph.node for o in n.output}
    branch_quant = producers[add.input[1]]
    add.input[1] = branch_quant.input[0]
    model.graph.node.remove(branch_quant)
    message = lowering_error(model)
    assert "(Add)" in message and "QuantIdentity" in message


def test_max_pool_between_convolution_and_quantizer():
    model = read_model(CNN / "chisel4ml_cnn.onnx")
    conv, relu, pool, flatten = (nodes(model, t)[0] for t in ("Conv", "Relu", "MaxPool", "Flatten"))
    quant = next(n for n in model.graph.node if n.input and n.input[0] == relu.output[0])
    pool.input[0], relu.input[0], flatten.input[0] = conv.output[0], pool.output[0], quant.output[0]
    message = lowering_error(model)
    assert f"node '{pool.name}' (MaxPool)" in message and "QuantReLU before MaxPool2d" in message
