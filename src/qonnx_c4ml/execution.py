"""qonnx's `execute_onnx` node loop without its per-element Python overhead, for `Circuit(x)`.

`execute_onnx` sanitizes every integer-annotated tensor before and after each node
(qonnx.util.basic.sanitize_quant_values), and takes the largest rounding error with Python's
builtin `max` over the flattened array: one Python step per element, twice per tensor. On
the jets circuit that was 40 % of `Circuit(x)` (200k samples: 2.7 of 6.6 s, the RTL 3.3 s).
`run_model` runs the same nodes with qonnx's own `execute_node`, in the same order, and
applies the same sanitization rule (round a tensor whose values its datatype does not allow,
with qonnx's warning; raise when that moves a value by more than qonnx's error threshold;
honour SANITIZE_QUANT_TENSORS=0) with numpy reductions, once per tensor: a tensor is written by
exactly one node and not changed afterwards, so sanitizing it again as the next node's input
finds it as it was left.
A standard Add/Sub/Mul/Div of two float32 tensors runs as the numpy ufunc instead of qonnx's
execute_node, which builds an onnxruntime session for the one node on every call (~0.5-1 ms per
node per call, most of a small batch's time: the jets circuit's host Div and Mul); IEEE float32
arithmetic with ONNX's (numpy's) broadcasting gives the bits onnxruntime's kernels give,
checked in tests/test_execution.py on values of every magnitude, signed zeros, infinities.
"""
import warnings

import numpy as np

from qonnx.core.onnx_exec import execute_node
from qonnx.util.basic import get_execution_error_thresh, get_preferred_qonnx_opset, get_sanitize_quant_tensors


def _sanitize(model, names, context, done):
    for name in names:
        if name in done or name not in context:
            continue
        done.add(name)
        dtype = model.get_tensor_datatype(name)
        if not dtype.is_integer():
            continue
        values = context[name]
        allowed = dtype.allowed(values)
        if np.all(allowed):
            continue  # nothing is rounded, the error is zero
        warnings.warn(f"The values of tensor {name} can't be represented with the set datatype "
                      f"annotation ({dtype.name}), they will be rounded to match the datatype annotation.")
        rounded = np.round(values)
        if np.max(np.abs(values - rounded), initial=0.0) > get_execution_error_thresh():
            raise Exception(f"Rounding error is too high to match set QONNX datatype ({dtype}) "
                            f"for input {name}")
        context[name] = rounded


# standard elementwise ops whose float32 result numpy gives bit for bit (see module doc)
_ELEMENTWISE = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}


def _elementwise(node, context):
    """Run `node` in numpy and return True, or return False (qonnx's execute_node runs it)."""
    ufunc = _ELEMENTWISE.get(node.op_type) if node.domain in ("", "ai.onnx") else None
    if ufunc is None or len(node.input) != 2 or len(node.output) != 1 or node.attribute:
        return False
    a, b = (context.get(name) for name in node.input)
    if not all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in (a, b)):
        return False
    with np.errstate(all="ignore"):  # inf/nan as onnxruntime gives them, without numpy's warnings
        out = ufunc(a, b)
    expected = context.get(node.output[0])
    if expected is not None and np.shape(expected) != out.shape:  # execute_node's warning, word for word
        warnings.warn(f"""Output shapes disagree after node {node} execution:
                    found {out.shape} vs expected {np.shape(expected)}""")
    context[node.output[0]] = out
    return True


def run_node(node, context, graph, opsets):
    """One node, as run_model runs it: numpy for float32 Add/Sub/Mul/Div, else qonnx's
    execute_node (`opsets`: model.get_opset_imports())."""
    if not _elementwise(node, context):
        execute_node(node, context, graph, opsets.get(node.domain, get_preferred_qonnx_opset()))


def run_model(model, inputs):
    """Outputs {name: array} of `model` for `inputs` {name: array}, as execute_onnx gives them.

    `model` must have all shapes specified for the batch in `inputs` and its nodes in
    topological order (what execute_onnx checks on every call; Circuit checks it once).
    """
    context = model.make_empty_exec_context()
    for name, value in inputs.items():
        if context[name].shape != value.shape:
            raise ValueError(f"input {name}: shape {value.shape}, the model expects {context[name].shape}")
        context[name] = value
    opsets = model.get_opset_imports()
    sanitize = get_sanitize_quant_tensors() != 0
    done = set()
    for node in model.graph.node:
        if sanitize:
            _sanitize(model, node.input, context, done)
        run_node(node, context, model.graph, opsets)
        if sanitize:
            _sanitize(model, node.output, context, done)
    return {output.name: context[output.name] for output in model.graph.output}
