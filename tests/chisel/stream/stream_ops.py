"""Small QConv2D/QMaxPool2D CustomOps for the chisel/stream/ unit tests."""
import numpy as np
from onnx import TensorProto, helper

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.lbir import DOMAIN


def int_tensor(name, values):
    values = np.asarray(values, dtype=np.int64)
    return helper.make_tensor(name, TensorProto.INT64, values.shape, values.flatten().tolist())


def pool_op(in_shape, kernel=(2, 2), strides=(2, 2), pads=(0, 0, 0, 0), dtype="INT4", name="pool"):
    return getCustomOp(helper.make_node(
        "QMaxPool2D", ["x"], ["y"], name=name, domain=DOMAIN, in_shape=list(in_shape), kernel=list(kernel),
        strides=list(strides), pads=list(pads), in_dtype=dtype, out_dtype=dtype))


def conv_op(weights, in_shape, thresholds, strides=(1, 1), pads=(0, 0, 0, 0), in_dtype="UINT2", out_dtype="UINT2",
            out_base=0, name="conv"):
    return getCustomOp(helper.make_node(
        "QConv2D", ["x"], ["y"], name=name, domain=DOMAIN, weights=int_tensor("weights", weights),
        in_shape=list(in_shape), strides=list(strides), pads=list(pads), group=1, in_dtype=in_dtype,
        out_dtype=out_dtype, requant="thresholds", thresholds=int_tensor("thresholds", thresholds),
        out_base=out_base))


def global_pool_op(in_shape, weights, thresholds, in_dtype="UINT2", out_dtype="UINT2", requant="thresholds",
                   pads=(0, 0, 0, 0), name="gap"):
    """A depthwise QConv2D over the whole image with weight weights[c] everywhere in channel c
    (a 2-D `weights` (C, KH*KW) array gives every tap its own weight)."""
    c, h, w = in_shape
    weights = np.asarray(weights, dtype=np.int64)
    kernel = weights.reshape(c, 1, h, w) if weights.ndim == 2 else np.broadcast_to(
        weights.reshape(c, 1, 1, 1), (c, 1, h, w))
    attrs = dict(thresholds=int_tensor("thresholds", thresholds), out_base=0) if requant == "thresholds" else {}
    return getCustomOp(helper.make_node(
        "QConv2D", ["x"], ["y"], name=name, domain=DOMAIN, weights=int_tensor("weights", kernel),
        in_shape=list(in_shape), strides=[1, 1], pads=list(pads), group=c, in_dtype=in_dtype,
        out_dtype=out_dtype, requant=requant, **attrs))
