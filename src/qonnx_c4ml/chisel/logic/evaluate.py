"""The netlist evaluated in numpy on a batch: a third oracle next to LBIR and the RTL.

Every node is computed exactly and then reduced to its declared bits (two's complement
when signed), as the hardware holds it: a netlist whose ranges are right gives the exact
integers, one whose ranges are wrong shows it as a wrapped value -- and `check_ranges`
reports any value outside its node's [lo, hi].  Registers pass their input through (the
steady state of a pipeline: the same function, `latency` cycles later).  Arrays are int64
when every width fits in 62 bits, Python-int object arrays otherwise (exact at any width).
"""
import numpy as np

INT64_BITS = 62


def _wrap(values, width, signed):
    mask = (1 << width) - 1
    values = values & mask
    if signed:
        half = 1 << (width - 1)
        values = ((values + half) & mask) - half
    return values


def _compute(node, args, dtype):
    op = node.op
    if op == "add":
        return args[0] + args[1]
    if op == "sub":
        return args[0] - args[1]
    if op == "neg":
        return -args[0]
    if op == "mul":
        return args[0] * args[1]
    if op == "shl":
        return args[0] << node.params[0]
    if op == "shr":
        return args[0] >> node.params[0]
    if op == "ge":
        return np.where(args[0] >= 0, 1, 0).astype(dtype)
    if op == "eq":
        bits, pattern = node.params
        return np.where((args[0] & ((1 << bits) - 1)) == pattern, 1, 0).astype(dtype)
    if op == "mux":
        return np.where(args[0] != 0, args[1], args[2])
    if op == "max":
        return np.where(args[0] < 0, args[2], args[1])
    if op == "flip":
        return np.where(args[0] != 0, -args[1] - 1, args[1])
    if op == "select":
        table = np.asarray(node.params[0], dtype=np.int64)
        index = table[np.clip(args[0].astype(np.int64), 0, len(table) - 1)]
        return np.stack(args[1:])[index, np.arange(len(index))]
    if op in ("reg", "alias", "out"):
        return args[0]
    raise ValueError(f"cannot evaluate operation {op!r} ({node.name})")


def _dtype(netlist):
    wide = any(node.width > INT64_BITS for node in netlist.values())
    return object if wide else np.int64


def evaluate(netlist, elements, check_ranges=False):
    """Output codes (N, outputs) of `netlist` for input element codes `elements` (N, inputs):
    column k is input element k (the flat index `Module.input_element` was given; for a layer
    the concatenated inputs' element index).  With `check_ranges`, raise if any node's value
    leaves its range."""
    dtype = _dtype(netlist)
    elements = np.asarray(elements)
    elements = elements.astype(object) if dtype is object else elements.astype(np.int64)
    n = elements.shape[0]
    values = {}

    def value_of(v):
        if v.op == "const":
            return np.full(n, v.lo, dtype=dtype)
        return values[id(v.base())]

    outputs = []
    for node in netlist.nodes:
        if node.op in ("comment",):
            continue
        if node.op == "input":
            result = elements[:, node.params[2]]
        else:
            result = _compute(node, [value_of(a) for a in node.args], dtype)
        result = _wrap(result, node.width, node.signed)
        if check_ranges and node.op != "out" and len(result) and (result.min() < node.lo or result.max() > node.hi):
            raise AssertionError(f"{netlist.name}: {node.name} left [{node.lo}, {node.hi}]: "
                                 f"[{result.min()}, {result.max()}]")
        values[id(node)] = result
        if node.op == "out":
            outputs.append((node.params[1], result))
    outputs.sort(key=lambda item: item[0])
    if not outputs:
        return np.zeros((n, 0), dtype=dtype)
    return np.stack([values for _, values in outputs], axis=1)
