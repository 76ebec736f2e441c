"""The logic IR: a netlist of typed operations over values with exact integer ranges.

A `Value` is one node: an operation (`op`), its operands (`args`, other Values), its static
parameters (`params`, a tuple) and the exact integer range [lo, hi] of its result.  Width and
signedness follow from the range (`bits_for_range`) unless the operation fixes them (an input
slice, a right shift keeps its operand's top bits).  Names are the wire names the Verilog
writer prints (`acc_3`, `x5_mul3`, ...), chosen by the builder.

Operations (args; params):

    const   ()                    ; ()                   the integer lo == hi, never a node
    input   ()                    ; (bus, offset, index)  `bits` bits of input bus `bus` at `offset`
    add     (a, b)                ; ()                   a + b
    sub     (a, b)                ; ()                   a - b
    neg     (a,)                  ; ()                   -a
    mul     (a, b)                ; ()                   a * b (variable x variable: a folded unit's
                                                          input times its weight read from the ROM)
    shl     (a,)                  ; (k,)                 a * 2**k (wiring)
    shr     (a,)                  ; (k,)                 floor(a / 2**k) (wiring: the top bits)
    ge      (d,)                  ; ()                   1 if d >= 0: the inverted sign bit (wiring);
                                                          a >= T is ge(sub(a, T))
    eq      (a,)                  ; (bits, pattern)      1 if the `bits` low bits of a == pattern
    mux     (sel, t, f)           ; ()                   t if sel else f (clamps are muxes)
    max     (d, a, b)             ; ()                   b if d < 0 else a, with d = a - b
    flip    (s, a)                ; ()                   a if s == 0 else ~a = -a - 1 (an XOR per bit: a
                                                          folded term's sign chosen per step)
    select  (i, o0, ..., o_{n-1}) ; (table,)             o_{table[i]} for the unsigned index i in
                                                          0..R-1, R = len(table), over n distinct
                                                          options (a constant R:1 multiplexer: a
                                                          folded layer's weights and thresholds
                                                          chosen per step)
    reg     (a,)                  ; (stage,)             a one clock later (inserted by pipelining)
    alias   (a,)                  ; ()                   a's bits, known to stay in a tighter range
    out     (a,)                  ; (bus, offset, bits, signed)  a onto `bits` bits of output bus

`const` and `alias` values are not nodes of the netlist (they print nothing); every other
value appears once in `Netlist.nodes`, in creation order, which is the order of the text.
"""
from functools import lru_cache

from qonnx_c4ml.lbir.dtypes import bits_for_range

# logic operators: one level of logic each (what pipelining counts); the rest is wiring
LOGIC_OPS = frozenset({"add", "sub", "neg", "mul", "eq", "mux", "max", "select", "flip"})
WIRING_OPS = frozenset({"shl", "shr", "ge"})
ADDER_OPS = frozenset({"add", "sub"})


class Value:
    """One node (or a constant/alias): exact range [lo, hi], declared width and signedness."""

    __slots__ = ("name", "lo", "hi", "width", "signed", "op", "args", "params")

    def __init__(self, name, lo, hi, op="const", args=(), params=(), width=None, signed=None):
        self.name, self.lo, self.hi = name, int(lo), int(hi)
        natural_width, natural_signed = bits_for_range(self.lo, self.hi)
        self.width = natural_width if width is None else width
        self.signed = natural_signed if signed is None else signed
        self.op, self.args, self.params = op, tuple(args), tuple(params)

    @property
    def is_constant(self):
        return self.lo == self.hi

    def base(self):
        """The node whose bits this value is (through aliases)."""
        value = self
        while value.op == "alias":
            value = value.args[0]
        return value

    def with_args(self, args):
        """A copy of this node reading `args` (what passes build their new netlists from)."""
        return Value(self.name, self.lo, self.hi, self.op, args, self.params, self.width, self.signed)

    def __repr__(self):
        return f"Value({self.name!r}, {self.op}, [{self.lo}, {self.hi}], {self.width}{'s' if self.signed else 'u'})"


@lru_cache(maxsize=1 << 16)
def constant(value):
    """The constant `value` (one shared Value per integer: constants are never mutated, and a
    folded layer's selects hold millions of them)."""
    return Value(f"const_{value}", value, value)


def alias(value, lo, hi):
    """`value`'s bits, known to stay within [lo, hi] (same name, width and signedness)."""
    if value.is_constant:
        return value
    return Value(value.name, lo, hi, "alias", (value,), (), value.width, value.signed)


class Comment:
    """A `// text` line, kept in place through every pass."""

    __slots__ = ("text",)
    op = "comment"
    args = ()

    def __init__(self, text):
        self.text = text


class Netlist:
    """A module's logic: ports [(direction, width, name)], nodes in creation order (Values and
    Comments), the set of names taken, and its pipeline depth in cycles (`latency`)."""

    def __init__(self, name, ports=(), names=(), latency=0):
        self.name = name
        self.ports = list(ports)
        self.nodes = []
        self.names = set(names)
        self.latency = latency

    def derived(self):
        """An empty netlist with the same name, ports and names (a pass fills its nodes)."""
        return Netlist(self.name, self.ports, self.names, self.latency)

    def values(self):
        return [node for node in self.nodes if node.op != "comment"]

    def outputs(self):
        return [node for node in self.nodes if node.op == "out"]

    def registers(self):
        return [node for node in self.nodes if node.op == "reg"]

    def inputs(self):
        return [node for node in self.nodes if node.op == "input"]


def remapper(mapping):
    """A function taking an operand of an old node to its counterpart in a new netlist:
    constants stay, nodes map through `mapping` (old node -> new node), aliases are rebuilt
    over the mapped node (cached, so a pass keeps one alias per alias)."""
    aliases = {}

    def remap(value):
        if value.op == "const":
            return value
        if value.op == "alias":
            key = id(value)
            if key not in aliases:
                aliases[key] = alias(remap(value.args[0]), value.lo, value.hi)
            return aliases[key]
        return mapping[id(value)]

    return remap
