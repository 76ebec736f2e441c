"""Layer: a linear layer on its way to an LBIR node, and the LBIR node it becomes.

A lowering (dense.py, conv.py, pool.py, add.py, quantizers.py's identity layer) builds a
`Layer`: integer weights over the input codes and an exact y = alpha*acc + beta per output
channel.  quantizers.py decides the requantization; `layer_node` writes the node:

    Layer(kind="dense") -> QDense      Layer(kind="conv") -> QConv2D      Layer(kind="add") -> QAdd
"""
from dataclasses import dataclass, field

import numpy as np
from onnx import TensorProto, helper

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.lbir.dense import accumulator_range
from qonnx_c4ml.lbir.dtypes import datatype_range
from qonnx_c4ml.transformations.lowering.activation import Activation


@dataclass
class Layer:
    """A linear layer on the way to its LBIR node: acc per output element, y = alpha*acc + beta
    per output channel (alpha, beta exact Fractions)."""

    name: str
    linear: object  # the MatMul/Gemm/Conv/pool/Add node, None for an identity (requant-only) layer
    act: Activation  # its input (the first one of an Add)
    weights: np.ndarray  # dense: (n_out, n_codes) over the input codes; conv: (O, C/group, KH, KW); add: (n, 2)
    alpha: list
    beta: list
    absorbed: list  # names of original nodes it replaces
    host_terms: list  # float32 per-channel terms the host adds to a float (unquantized) output
    kind: str = "dense"  # dense | conv | add
    out_shape: tuple = ()  # per-sample shape of the output tensor in the graph
    channel_axis: object = 0  # the axis of out_shape channels run along; None: per element
    out_index: np.ndarray = None  # graph position -> position in the flat output codes
    attrs: dict = field(default_factory=dict)  # conv geometry: in_shape, strides, pads, group
    act_b: Activation = None  # an Add's second operand

    @property
    def matrix(self):
        return self.weights.reshape(self.weights.shape[0], -1)

    def accumulator_bounds(self, weights):
        """Exact per-channel (min, max) of acc over the input datatypes' ranges."""
        matrix = weights.reshape(weights.shape[0], -1)
        if self.kind == "add":
            lo_a, hi_a = accumulator_range(matrix[:, :1], *datatype_range(self.act.dtype))
            lo_b, hi_b = accumulator_range(matrix[:, 1:], *datatype_range(self.act_b.dtype))
            return lo_a + lo_b, hi_a + hi_b
        # a convolution's padded taps read 0, inside every code range here, so bounds hold
        return accumulator_range(matrix, *datatype_range(self.act.dtype))


def int64_tensor(name, values):
    return helper.make_tensor(name, TensorProto.INT64, values.shape, values.ravel().tolist())


def layer_node(layer, weights, out_codes, out_dtype, requant, thresholds, out_base, threshold_weights=None):
    """The LBIR node (QDense, QConv2D or QAdd) computing `layer` with `weights` into `out_codes`;
    `requant` is "thresholds" (with `thresholds`) or "none" (the accumulator)."""
    common = dict(name=layer.name, domain=DOMAIN, weights=int64_tensor("weights", weights), in_dtype=layer.act.dtype,
                  out_dtype=out_dtype, requant=requant, out_base=int(out_base))
    if threshold_weights is not None:  # minifloat codes: code = out_base + sum_k w_k [acc >= T_k]
        common["threshold_weights"] = [int(w) for w in threshold_weights]
    if layer.kind == "conv":
        node = helper.make_node("QConv2D", [layer.act.codes], [out_codes], **common, **layer.attrs)
    elif layer.kind == "add":
        node = helper.make_node(
            "QAdd", [layer.act.codes, layer.act_b.codes], [out_codes], **common,
            index_a=[int(i) for i in layer.act.index.ravel()], index_b=[int(i) for i in layer.act_b.index.ravel()],
            channel_of=list(range(len(layer.alpha))), in_dtype_b=layer.act_b.dtype)
    else:
        node = helper.make_node("QDense", [layer.act.codes], [out_codes], **common,
                                in_shape=[int(d) for d in layer.act.codes_shape])
    if requant == "thresholds":
        node.attribute.append(helper.make_attribute("thresholds", int64_tensor("thresholds", thresholds)))
    return node
