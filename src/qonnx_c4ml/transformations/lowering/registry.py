"""The table of lowerings: which function takes a consumer of an integer tensor into the circuit.

The walk (driver.py) offers every consumer `node` of an integer tensor `tensor` (its
activation `act`) to the rules in order; the first rule whose op types contain
`node.op_type` and whose condition holds lowers it.  A rule's function returns the
activations of the integer tensors it produced (empty: nothing new for the walk, e.g. the
layer's accumulator left the circuit).  A node no rule takes stays on the host.

    @register("MatMul", "Gemm", order=30)
    def lower_dense(ctx, node, act): ...          # -> [Activation, ...]

`ctx` is the walk's LoweringContext (context.py).  The default condition is
`first_input` (the integer tensor is the node's first input).  Rules are tried by
ascending `order`, then registration order; the built-in families use 10..70 and the
catch-all requantization rule (quantizers.py) 1000, so a new family with its own op types
can take any order below 1000.
"""
from dataclasses import dataclass


def first_input(ctx, node, tensor):
    """The default condition: `tensor` is the node's first (data) input."""
    return node.input[0] == tensor


@dataclass(frozen=True)
class LoweringRule:
    """One registry entry: `lower(ctx, node, act)` takes nodes of `op_types` when `when(ctx, node, tensor)`."""

    op_types: tuple
    when: object  # callable (ctx, node, tensor) -> bool
    lower: object  # callable (ctx, node, act) -> list of Activation
    order: int
    name: str


RULES = []  # every registered rule; `rules()` gives them in the order the walk tries them


def register(*op_types, when=first_input, order=500):
    """Decorator registering `lower(ctx, node, act)` for nodes of `op_types` (see module doc)."""
    if not op_types or not all(isinstance(t, str) for t in op_types):
        raise TypeError("register() takes the op types as strings, e.g. register('MatMul', 'Gemm')")

    def add(lower):
        name = f"{lower.__module__}.{lower.__qualname__}"
        RULES[:] = [r for r in RULES if r.name != name]  # re-registering (a module reload) replaces
        RULES.append(LoweringRule(tuple(op_types), when, lower, int(order), name))
        return lower
    return add


def rules():
    """The registered rules in the order the walk tries them."""
    return sorted(RULES, key=lambda r: r.order)  # stable: registration order among equal orders


def find_rule(ctx, node, tensor):
    """The first rule that takes `node` (a consumer of `tensor`), or None: it stays on the host."""
    for rule in rules():
        if node.op_type in rule.op_types and rule.when(ctx, node, tensor):
            return rule
    return None
