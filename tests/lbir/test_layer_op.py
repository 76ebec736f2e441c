"""lbir/layer_op.py: what the LBIR layer ops share."""
import numpy as np
import pytest
from onnx import helper

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.lbir.layer_op import REQUANT_ATTRIBUTES, VERILOG_ATTRIBUTES, LayerOp


def dense_node():
    return helper.make_node("QDense", ["x"], ["y"], name="d", domain=DOMAIN,
                            weights=helper.make_tensor("w", 7, [2, 3], [1, 0, -1, 2, 1, 0]),
                            in_shape=[3], in_dtype="INT4", out_dtype="INT8", requant="none")


def test_every_layer_op_has_the_shared_attributes():
    for op_type in ("QDense", "QConv2D", "QAdd"):
        op = getCustomOp(helper.make_node(op_type, ["x"], ["y"], domain=DOMAIN))
        assert isinstance(op, LayerOp)
        assert set(REQUANT_ATTRIBUTES) | set(VERILOG_ATTRIBUTES) <= set(op.get_nodeattr_types())


def test_input_codes_refuses_floats_and_dense_runs_on_codes():
    op = getCustomOp(dense_node())
    assert op.weight_codes().tolist() == [[1, 0, -1], [2, 1, 0]]
    with pytest.raises(ValueError, match="d: input is not integer-valued"):
        op.input_codes({"x": np.array([[0.5, 1.0, 2.0]], np.float32)})
    context = {"x": np.array([[1, 2, 3], [-1, 0, 4]], np.float32)}
    op.execute_node(context, None)
    assert context["y"].tolist() == [[-2, 4], [-5, -2]]
