"""Batch-less tensors: chisel4ml's Brevitas models flatten with `torch.flatten(x)`.

Pattern in:  x [1, C, H, W] -> Reshape(x, [-1]) -> [C*H*W] -> MatMul -> [n] -> ... -> output [n]
             (qonnx executes it; the batch axis is gone, so it only runs with batch 1)
Pattern out: the same layers over the C*H*W codes of one sample; the host reshapes the circuit's
             [batch, n] result back to the shape the model declares ([-1] + the rest, so a batch
             of N gives the N samples' outputs one after another, as the flatten would).

A tensor is batch-less when its graph rank equals the rank of one sample (the lowering's
per-sample arrays); only rank-1 batch-less tensors are accepted (a flatten of one sample).
"""
from onnx import TensorProto, helper

from qonnx_c4ml.errors import UnsupportedModelError


def is_batchless(graph_shape, per_sample_ndim):
    """True if a tensor of graph shape `graph_shape` holds one sample without a batch axis."""
    return graph_shape is not None and len(graph_shape) == per_sample_ndim


def model_is_batchless(model):
    """True if the model's output has lost the batch axis (a rank-1 output of a batch-1 input of
    rank >= 2): qonnx can run it one sample at a time only."""
    in_shape = model.get_tensor_shape(model.graph.input[0].name)
    out_shape = model.get_tensor_shape(model.graph.output[0].name)
    return bool(in_shape and out_shape) and len(out_shape) == 1 and len(in_shape) >= 2 and in_shape[0] == 1


def per_sample_shape(node, in_shape, out_shape, per_sample_ndim):
    """Per-sample shape after the layout op `node` turns a tensor of graph shape `in_shape`
    (one sample has `per_sample_ndim` axes) into `out_shape`; raises if it mixes samples."""
    batch = 1 if is_batchless(in_shape, per_sample_ndim) else (in_shape[0] if in_shape else None)
    if out_shape is not None and len(out_shape) >= 2 and out_shape[0] == batch:
        return tuple(int(d) for d in out_shape[1:])
    if out_shape is not None and len(out_shape) == 1 and batch == 1:
        return (int(out_shape[0]),)  # torch.flatten(x) of a batch of one: [1, C, H, W] -> [C*H*W]
    raise UnsupportedModelError(
        f"reshape to {tuple(out_shape) if out_shape is not None else None} changes the batch axis "
        f"(batch {batch})", node,
        "keep the batch axis first (x.view(x.shape[0], -1)); with batch 1 a flatten of everything to "
        "one axis ([-1]) is accepted too")


def transpose_axes(node, in_shape, per_sample_ndim):
    """The per-sample axes permutation of a Transpose (which must keep the batch axis first)."""
    perm = helper.get_attribute_value(node.attribute[0]) if node.attribute else None
    if perm is not None and is_batchless(in_shape, per_sample_ndim):
        return list(perm)
    if perm is None or perm[0] != 0:
        raise UnsupportedModelError("transposes that move the batch axis are not supported", node)
    return [p - 1 for p in perm[1:]]


def batched_name(model, target, fresh_name):
    """The tensor the host's dequantization writes: `target` itself, or for a batch-less `target`
    a new [batch, n] tensor that `declared_shape_nodes` reshapes into it."""
    return fresh_name(target + "_batched") if is_batchless(model.get_tensor_shape(target), 1) else target


def declared_shape_nodes(source, target):
    """Host nodes reshaping `source` ([batch, n]) to the batch-less `target` ([-1]: the samples in a
    row); none when they are the same tensor."""
    if source == target:
        return []
    shape = f"{source}_shape"
    return [helper.make_node("Constant", [], [shape], name=shape,
                             value=helper.make_tensor(shape, TensorProto.INT64, [1], [-1])),
            helper.make_node("Reshape", [source, shape], [target], name=f"{source}_reshape")]
