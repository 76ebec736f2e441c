"""Exact rules for the non-quantizer ops: linear layers, pools, affine glue, layout.

Each rule takes (node, inputs, engine) — inputs are `Exact` tensors or qonnx's float32
host arrays — and returns the list of outputs. Linear ops move both operands to integers
over one positive rational unit (`Exact.uniform` / `channel_uniform`) and multiply integers;
affine glue (Add/Sub/Mul/Div by constants, BatchNormalization) only changes the per-element
rational scale and offset; Relu and MaxPool act on integers over a positive unit.
"""
from fractions import Fraction

import numpy as np

from qonnx_c4ml.exact import kernels
from qonnx_c4ml.exact.quantizers import ExactUnsupported, per_sample_constant
from qonnx_c4ml.exact.tensor import INT64_SAFE, Exact, _gcd_elementwise, as_int_array, fractions, max_abs, multiply_add

CHANNELS_LAST = "qonnx.custom_op.channels_last"


def _data(x, node):
    if not isinstance(x, Exact) or not x.batched:
        raise ExactUnsupported(f"{node.op_type} expects a data tensor as its first input")
    return x


def _constant(engine, value, node):
    """A constant operand as an unbatched Exact (quantized weights keep their codes)."""
    if isinstance(value, Exact):
        if value.batched:
            raise ExactUnsupported(f"{node.op_type} of two data tensors has no exact rule here")
        return value
    values = np.asarray(engine.host(value, node), dtype=np.float64)
    return Exact(np.zeros(values.shape, np.int64), Fraction(1), fractions(values), batched=False)


def _to_nchw(x, node):
    return x.map_layout(lambda a: np.moveaxis(a, -1, 1)) if node.domain == CHANNELS_LAST else x


def _from_nchw(x, node):
    return x.map_layout(lambda a: np.moveaxis(a, 1, -1)) if node.domain == CHANNELS_LAST else x


def _channel_view(vector, rank):
    """A per-output-channel vector shaped to broadcast over a (C, H, W) sample."""
    return np.asarray(vector, dtype=object).reshape((-1,) + (1,) * (rank - 1))


def matmul(node, inputs, engine):
    x = _data(inputs[0], node)
    ints, unit = x.uniform()
    w_ints, w_units = _constant(engine, inputs[1], node).channel_uniform(axis=-1)
    return [Exact(kernels.batched_matmul(ints, w_ints), unit * w_units)]


def gemm(node, inputs, engine):
    attrs = engine.attributes(node)
    if attrs.get("transA", 0):
        raise ExactUnsupported("Gemm with transA=1")
    x = _data(inputs[0], node)
    ints, unit = x.uniform()
    w = _constant(engine, inputs[1], node)
    if attrs.get("transB", 0):
        w = w.map_layout(lambda a: a.T)
    w_ints, w_units = w.channel_uniform(axis=-1)
    alpha = Fraction(float(np.float32(attrs.get("alpha", 1.0))))
    beta = Fraction(float(np.float32(attrs.get("beta", 1.0))))
    offset = Fraction(0)
    if len(inputs) > 2 and inputs[2] is not None:
        offset = beta * per_sample_constant(_constant(engine, inputs[2], node).fractions(), x).reshape(-1)
    return [Exact(kernels.batched_matmul(ints, w_ints), alpha * unit * w_units, offset)]


def conv(node, inputs, engine):
    attrs = engine.attributes(node)
    if any(d != 1 for d in attrs.get("dilations", [1, 1])) or attrs.get("auto_pad", "NOTSET") != "NOTSET":
        raise ExactUnsupported("Conv with dilation or auto_pad")
    x = _to_nchw(_data(inputs[0], node), node)
    w = _constant(engine, inputs[1], node)
    if node.domain == CHANNELS_LAST:  # weights (O, KH, KW, C/group)
        w = w.map_layout(lambda a: np.transpose(a, (0, 3, 1, 2)))
    group = int(attrs.get("group", 1))
    ints, units = x.channel_uniform(axis=0, groups=group)  # one unit per group (depthwise: per channel)
    w_ints, w_units = w.channel_uniform(axis=0)
    acc = kernels.conv2d(ints, w_ints, attrs.get("strides", [1, 1]), attrs.get("pads", [0, 0, 0, 0]), group)
    unit = np.repeat(units, w_ints.shape[0] // group)
    offset = Fraction(0)
    if len(inputs) > 2 and inputs[2] is not None:
        offset = _channel_view(_constant(engine, inputs[2], node).fractions().reshape(-1), 3)
    return [_from_nchw(Exact(acc, _channel_view(unit * w_units, 3), offset), node)]


def average_pool(node, inputs, engine):
    attrs = engine.attributes(node)
    x = _data(inputs[0], node)
    ints, units = x.channel_uniform(axis=0)  # a pool never mixes channels
    unit = _channel_view(units, 3)
    if node.op_type == "GlobalAveragePool":
        window = int(np.prod(x.shape[1:]))
        if max_abs(ints) * window >= INT64_SAFE:
            ints = ints.astype(object)
        total = ints.sum(axis=tuple(range(2, ints.ndim)), keepdims=True)
        return [Exact(total, unit / window)]
    if attrs.get("ceil_mode", 0) or any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise ExactUnsupported("AveragePool with ceil_mode or dilation")
    kernel, strides = attrs["kernel_shape"], attrs.get("strides", [1, 1])
    pads = attrs.get("pads", [0, 0, 0, 0])
    channels = x.shape[0]
    total = kernels.conv2d(ints, np.ones((channels, 1) + tuple(kernel), np.int64), strides, pads, channels)
    if any(pads) and not attrs.get("count_include_pad", 0):
        counts = kernels.window_counts(x.shape[1:], kernel, strides, pads)
        divisor = np.asarray([Fraction(int(c)) for c in counts.ravel()], dtype=object).reshape(counts.shape)
    else:
        divisor = Fraction(int(np.prod(kernel)))
    return [Exact(total, unit / divisor)]


def max_pool(node, inputs, engine):
    attrs = engine.attributes(node)
    if len(node.output) > 1 and node.output[1]:
        raise ExactUnsupported("MaxPool with Indices")
    if attrs.get("ceil_mode", 0) or any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise ExactUnsupported("MaxPool with ceil_mode or dilation")
    x = _to_nchw(_data(inputs[0], node), node)
    ints, units = x.channel_uniform(axis=0)  # units > 0: the max of the values is the max of the integers
    out = kernels.max_pool2d(ints, attrs["kernel_shape"], attrs.get("strides", [1, 1]),
                             attrs.get("pads", [0, 0, 0, 0]))
    return [_from_nchw(Exact(out, _channel_view(units, 3)), node)]


def relu(node, inputs, engine):
    ints, unit = _data(inputs[0], node).folded()
    return [Exact(np.maximum(ints, 0), unit)]


def _add_data(a, b, sign):
    if a.shape != b.shape:
        raise ExactUnsupported(f"Add of shapes {a.shape} and {b.shape} (broadcasting)")
    ia, ua = a.folded()
    ib, ub = b.folded()
    g = np.asarray(_gcd_elementwise(ua, ub), dtype=object)
    ints = multiply_add(ia, as_int_array(ua / g))
    other = multiply_add(ib, as_int_array(sign * ub / g))
    return Exact(multiply_add(ints, np.asarray(1), other), g)


def elementwise(node, inputs, engine):
    """Add/Sub/Mul/Div with at most one data operand; two data operands only for Add/Sub."""
    a, b = inputs
    data_a, data_b = (isinstance(v, Exact) and v.batched for v in (a, b))
    if not (data_a or data_b):
        return None  # arithmetic on constants: qonnx's float32 value stands, as InferLBIR folds it
    if data_a and data_b:
        if node.op_type not in ("Add", "Sub"):
            raise ExactUnsupported(f"{node.op_type} of two data tensors")
        return [_add_data(a, b, 1 if node.op_type == "Add" else -1)]
    x, c, data_first = (a, b, True) if data_a else (b, a, False)
    c = per_sample_constant(_constant(engine, c, node).fractions(), x)
    if np.broadcast_shapes(np.shape(c), x.shape) != x.shape:
        raise ExactUnsupported(f"constant of shape {np.shape(c)} broadcasts the data {x.shape}")
    op = node.op_type
    if op == "Add":
        return [Exact(x.ints, x.scale, x.offset + c)]
    if op == "Sub":
        return [Exact(x.ints, x.scale, x.offset - c) if data_first else Exact(x.ints, -x.scale, c - x.offset)]
    if op == "Mul":
        return [Exact(x.ints, x.scale * c, x.offset * c)]
    if op == "Div" and data_first and all(v != 0 for v in np.ravel(c)):
        return [Exact(x.ints, x.scale / c, x.offset / c)]
    raise ExactUnsupported(f"{op} with the data tensor as divisor")


def batch_norm(node, inputs, engine):
    """y = x * a + b per channel, a = gamma / sqrt(var + eps) and b = beta - mean * a in float64:
    BatchNorm's square root has no exact rational form; InferLBIR folds the same float64 a, b."""
    x = _data(inputs[0], node)
    gamma, beta, mean, var = (np.asarray(engine.host(v, node), np.float64) for v in inputs[1:5])
    eps = np.float64(np.float32(engine.attributes(node).get("epsilon", 1e-5)))
    a = gamma / np.sqrt(var + eps)
    b = beta - mean * a
    a, b = fractions(a), fractions(b)
    if node.domain != CHANNELS_LAST:
        a, b = _channel_view(a, len(x.shape)), _channel_view(b, len(x.shape))
    return [Exact(x.ints, x.scale * a, x.offset * a + b)]


def layout(node, inputs, engine):
    x = inputs[0]
    if not isinstance(x, Exact):
        raise ExactUnsupported(f"{node.op_type} of a float32 tensor")
    attrs, op = engine.attributes(node), node.op_type
    if op == "Identity":
        return [x]
    if op == "Transpose":
        perm = attrs.get("perm", list(range(x.ints.ndim))[::-1])
        if x.batched and perm[0] != 0:
            raise ExactUnsupported("Transpose moving the batch axis")
        return [x.map_layout(lambda a: np.transpose(a, perm))]
    if op == "Flatten":
        axis = attrs.get("axis", 1)
        if x.batched and axis == 0:
            raise ExactUnsupported("Flatten with axis 0 mixes the batch axis")
        return [x.map_layout(lambda a: a.reshape((int(np.prod(a.shape[:axis])), -1)))]
    if op == "Reshape":
        target = [int(t) for t in np.asarray(engine.host(inputs[1], node)).ravel()]
        full = [x.ints.shape[i] if t == 0 else t for i, t in enumerate(target)]
        if x.batched:
            rest = full[1:]
            return [x.map_layout(lambda a: a.reshape((a.shape[0],) + tuple(rest)))]
        return [x.map_layout(lambda a: a.reshape(full))]
    axes = attrs.get("axes")
    if axes is None and len(inputs) > 1 and inputs[1] is not None:
        axes = [int(v) for v in np.asarray(engine.host(inputs[1], node)).ravel()]
    if op == "Squeeze":
        if axes is None and x.batched:
            raise ExactUnsupported("Squeeze without axes")
        return [x.map_layout(lambda a: np.squeeze(a, axis=tuple(axes) if axes is not None else None))]
    if op == "Unsqueeze":
        return [x.map_layout(lambda a: np.expand_dims(a, tuple(axes)))]
    raise ExactUnsupported(f"layout op {op}")


def pad(node, inputs, engine):
    x = _data(inputs[0], node)
    attrs = engine.attributes(node)
    value = np.asarray(engine.host(inputs[2], node)).ravel() if len(inputs) > 2 and inputs[2] is not None else [0]
    if attrs.get("mode", "constant") != "constant" or float(value[0]) != 0:
        raise ExactUnsupported("only constant zero padding")
    pads = [int(p) for p in np.asarray(engine.host(inputs[1], node)).ravel()]
    rank = x.ints.ndim
    if pads[0] or pads[rank]:
        raise ExactUnsupported("padding of the batch axis")
    widths = [(pads[i], pads[i + rank]) for i in range(1, rank)]
    ints, unit = x.folded()
    unit = x.per_sample(unit)
    return [Exact(np.pad(ints, [(0, 0)] + widths), np.pad(unit, widths, constant_values=Fraction(1)))]


OPS = {
    "MatMul": matmul, "Gemm": gemm, "Conv": conv,
    "AveragePool": average_pool, "GlobalAveragePool": average_pool, "MaxPool": max_pool,
    "Relu": relu, "Add": elementwise, "Sub": elementwise, "Mul": elementwise, "Div": elementwise,
    "BatchNormalization": batch_norm, "Pad": pad,
    **{op: layout for op in ("Identity", "Transpose", "Flatten", "Reshape", "Squeeze", "Unsqueeze")},
}
