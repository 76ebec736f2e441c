"""The exact graph walk: qonnx's float32 values where nothing depends on exact data,
exact rules (`ops.OPS`, `quantizers.QUANTIZERS`) everywhere else."""
from onnx import helper

import numpy as np

from qonnx_c4ml.exact.ops import OPS
from qonnx_c4ml.exact.quantizers import QUANTIZERS, ExactUnsupported
from qonnx_c4ml.exact.tensor import Exact, fractions

RULES = {**OPS, **QUANTIZERS}


class ExactEngine:
    """Evaluates `model` exactly, given qonnx's float32 execution context of the same batch
    (`context`, from execute_onnx(..., return_full_exec_context=True)).

    `seeds` {tensor: Exact} fixes tensors: later nodes read the seed, while the node that
    produces a seeded tensor is still evaluated into `computed[tensor]` — so every layer is
    computed exactly from given inputs (the layerwise check seeds the float32 reference's
    own activations)."""

    def __init__(self, model, context, seeds=None):
        self.model = model
        self.context = context
        self.seeds = dict(seeds or {})
        self.exact = dict(self.seeds)
        self.computed = {}

    # -- helpers for the rules ------------------------------------------------------------
    @staticmethod
    def attributes(node):
        out = {}
        for attr in node.attribute:
            value = helper.get_attribute_value(attr)
            out[attr.name] = value.decode() if isinstance(value, bytes) else value
        return out

    @staticmethod
    def host(value, node):
        """A float32/int host array (a constant or qonnx's own value); never exact data."""
        if isinstance(value, Exact):
            raise ExactUnsupported(f"{node.op_type} needs a constant here, got an exact tensor")
        if value is None:
            raise ExactUnsupported(f"{node.op_type}: a required input is missing")
        return np.asarray(value)

    def fractions(self, value, node):
        """A constant operand's exact values (Fraction array)."""
        if isinstance(value, Exact):
            if value.batched:
                raise ExactUnsupported(f"{node.op_type} needs a constant here, got data")
            return value.fractions()
        return fractions(self.host(value, node))

    def value(self, name):
        if not name:
            return None
        if name in self.exact:
            return self.exact[name]
        return self.context[name]

    # -- the walk -------------------------------------------------------------------------
    def dynamic_input(self, node):
        """True if the node's first input depends on the graph input (data, not a constant)."""
        return node.input[0] in self.dynamic

    def run(self):
        """The exact value of the graph output (an `Exact`), or raises ExactUnsupported."""
        # data: the graph inputs, except initializers old exporters also list as inputs
        self.dynamic = {i.name for i in self.model.graph.input} - {i.name for i in self.model.graph.initializer}
        nodes = list(self.model.graph.node)
        last_use = {name: position for position, node in enumerate(nodes) for name in node.input}
        keep = {o.name for o in self.model.graph.output} | set(self.seeds)
        for position, node in enumerate(nodes):
            for name in [n for n in self.exact if last_use.get(n, -1) < position and n not in keep]:
                del self.exact[name]  # no later node reads it: free the batch's integers
            inputs = [self.value(i) for i in node.input]
            if any(i in self.dynamic for i in node.input):
                self.dynamic.update(node.output)
            exact_input = any(isinstance(v, Exact) for v in inputs)
            if node.op_type == "Shape" or not (exact_input or node.op_type in QUANTIZERS):
                continue  # host side, constants, shapes: qonnx's float32 value stands
            rule = RULES.get(node.op_type)
            if rule is None:
                raise ExactUnsupported(f"no exact rule for {node.op_type} ('{node.name}')")
            try:
                outputs = rule(node, inputs, self)
            except ExactUnsupported as error:
                raise ExactUnsupported(f"{node.op_type} '{node.name}': {error}") from None
            for name, out in zip(node.output, outputs or []):
                if name in self.seeds:
                    self.computed[name] = out
                else:
                    self.exact[name] = out
        result = self.exact.get(self.model.graph.output[0].name)
        if result is None or not result.batched:
            raise ExactUnsupported("the graph output does not depend on exact data")
        return result
