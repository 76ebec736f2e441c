"""Residual-block models for the streaming tests: the residual_block fixture as LBIR, and a
copy whose Add cannot be streamed (its thresholds differ between pixels of a channel)."""
from pathlib import Path

import numpy as np
from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.io import read_model
from qonnx_c4ml.transformations import InferLBIR

RESIDUAL_BLOCK = Path(__file__).resolve().parent / "fixtures" / "cnn" / "residual_block.onnx"


def residual_lbir():
    """residual_block.onnx (conv 3x3 -> conv 3x3, + the block input, ReLU quant) through InferLBIR."""
    return read_model(RESIDUAL_BLOCK).transform(InferLBIR())


def with_pixel_dependent_add(lbir):
    """`lbir` with its QAdd's threshold row of element 1 (channel 0, pixel 1) moved up by one:
    position-dependent requantization, which a streamed join cannot compute; returns the QAdd node."""
    add = next(node for node in lbir.graph.node if node.op_type == "QAdd")
    op = getCustomOp(add)
    thresholds = op.threshold_codes().copy()
    thresholds[op.channel_of_outputs()[1]] += 1
    op.set_nodeattr("thresholds", thresholds.astype(np.int64))
    return add
