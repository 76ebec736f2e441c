"""The builder: `Module` creates netlist nodes from arithmetic on ranged values.

The arithmetic (`chisel/arith.py`, `generator.py`, the streaming engines) calls `add`, `sub`,
`shift_left`, `at_least`, `clamp`, `maximum`, ... and gets `Value`s back whose ranges follow
exactly from their operands'.  Building only records the combinational circuit; constant
folding and range decisions (a comparator whose answer the range already knows costs
nothing) happen here, everything else is a pass over the finished netlist (`lowered`:
optional sharing, then pipelining), and text comes from `logic/verilog.py` alone.
"""
from qonnx_c4ml.chisel.logic.netlist import Comment, Netlist, Value, alias, constant


class Module:
    """A module under construction: combinational logic, and with `stage_levels=N` a register
    stage every N operator levels, placed by the pipelining pass (`passes.pipeline`).

    `share=True` runs common-subexpression sharing (`passes.share_common`) before pipelining.
    It is off by default: yosys merges identical cells itself (opt_merge), so sharing makes
    the Verilog smaller (-2 % to -22 % on the jets fixtures) but moves abc's LUT mapping both
    ways (generic-fast, off -> on: jets_binary 12226 -> 12205, jets_w2a2_po2 10951 -> 10980,
    jets_w4a4_po2 38906 -> 38741, jets_w8a8_po2 84577 -> 84188).  Off, the text is what the
    generator wrote before the IR, byte for byte."""

    def __init__(self, name, stage_levels=None, share=False):
        if stage_levels is not None and stage_levels < 1:
            raise ValueError(f"stage_levels must be >= 1, got {stage_levels}")
        self.name = name
        self.stage_levels = stage_levels
        self.share = share
        self.netlist = Netlist(name)
        self._lowered = None
        self._suffix = {}  # base -> the last suffix `fresh` tried for it (see fresh)

    @property
    def ports(self):
        return self.netlist.ports

    # -- naming and nodes ----------------------------------------------------------------
    def fresh(self, base):
        """names.unique_name(base, taken), without trying again the suffixes an earlier call for
        the same base found taken (names are never released): linear, not quadratic, in the
        number of nodes of one base."""
        taken, i = self.netlist.names, self._suffix.get(base, 1)
        name = base if i == 1 else f"{base}_{i}"
        while name in taken:
            i += 1
            name = f"{base}_{i}"
        self._suffix[base] = i
        taken.add(name)
        return name

    def _node(self, base, lo, hi, op, args, params=(), width=None, signed=None):
        if self._lowered is not None:
            raise RuntimeError(f"{self.name}: the netlist was lowered; no more nodes")
        value = Value(self.fresh(base), lo, hi, op, args, params, width, signed)
        self.netlist.nodes.append(value)
        return value

    def port(self, direction, name, width):
        self.netlist.names.add(name)
        self.netlist.ports.append((direction, width, name))

    def comment(self, text):
        self.netlist.nodes.append(Comment(text))

    def input_element(self, bus, index, bits, signed, bit_offset=None):
        """Element `index` of a packed input bus (element 0 in the LSBs), or the `bits` bits at
        `bit_offset` when the bus concatenates several tensors."""
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        offset = index * bits if bit_offset is None else bit_offset
        return self._node(f"x{index}", lo, hi, "input", (), (bus, offset, index), bits, signed)

    def index_input(self, bus, count, column, base="step"):
        """An unsigned input bus of its own holding 0..count-1 (a step counter), as element
        `column` of the evaluator's input columns."""
        bits = max(1, (count - 1).bit_length())
        self.port("input", bus, bits)
        return self._node(base, 0, count - 1, "input", (), (bus, 0, column), bits, False)

    def output(self, bus, offset, value, bits, signed):
        """Drive `bits` bits of output bus `bus` at `offset` with `value`."""
        self.netlist.nodes.append(Value(f"{bus}[{offset} +: {bits}]", value.lo, value.hi, "out", (value,),
                                        (bus, offset, bits, signed), bits, signed))

    # -- arithmetic ------------------------------------------------------------------------
    def const(self, value):
        return constant(value)

    def add(self, a, b, base="sum"):
        if a.is_constant and b.is_constant:
            return constant(a.lo + b.lo)
        return self._node(base, a.lo + b.lo, a.hi + b.hi, "add", (a, b))

    def sub(self, a, b, base="diff"):
        if a.is_constant and b.is_constant:
            return constant(a.lo - b.lo)
        return self._node(base, a.lo - b.hi, a.hi - b.lo, "sub", (a, b))

    def neg(self, a, base="neg"):
        if a.is_constant:
            return constant(-a.lo)
        return self._node(base, -a.hi, -a.lo, "neg", (a,))

    def mul(self, a, b, base="mul"):
        """a * b of two values (a constant operand is a shift-add's job, not this node's)."""
        if a.is_constant and b.is_constant:
            return constant(a.lo * b.lo)
        corners = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
        return self._node(base, min(corners), max(corners), "mul", (a, b))

    def shift_left(self, a, k, base="shl"):
        """a * 2**k as wiring."""
        if a.is_constant:
            return constant(a.lo << k)
        if k == 0:
            return a
        return self._node(base, a.lo << k, a.hi << k, "shl", (a,), (k,))

    def shift_right(self, a, k, base="shr"):
        """floor(a / 2**k): an arithmetic shift, i.e. dropping the k low bits."""
        lo, hi = a.lo >> k, a.hi >> k
        if k == 0:
            return a
        if lo == hi:
            return constant(lo)
        if a.width <= k:  # only the sign survives: -1 or 0
            return self._node(base, lo, hi, "shr", (a,), (k,), 1, True)
        return self._node(base, lo, hi, "shr", (a,), (k,), a.width - k, a.signed)

    def at_least(self, a, threshold, base="ge"):
        """1 when a >= threshold: the sign bit of (a - threshold), inverted."""
        if a.lo >= threshold:
            return constant(1)
        if a.hi < threshold:
            return constant(0)
        diff = self.sub(a, constant(threshold), base=base + "_d")
        return self._node(base, 0, 1, "ge", (diff,))

    def low_bits_equal(self, a, bits, pattern, base="eq"):
        """1 when the `bits` low bits of a equal `pattern` (two's complement)."""
        if a.is_constant:
            return constant(int((a.lo % (1 << bits)) == pattern))
        if bits > a.width:
            raise ValueError(f"{a.name} has {a.width} bits, {bits} requested")
        return self._node(base, 0, 1, "eq", (a,), (bits, pattern))

    def mux(self, select, if_one, if_zero, base="mux", lo=None, hi=None):
        """if_one when the 1-bit `select` is 1, else if_zero; [lo, hi] if the caller knows a
        tighter range than the union (a clamp's select excludes the far side)."""
        lo = min(if_one.lo, if_zero.lo) if lo is None else lo
        hi = max(if_one.hi, if_zero.hi) if hi is None else hi
        return self._node(base, lo, hi, "mux", (select, if_one, if_zero))

    def select(self, index, values, base="sel"):
        """values[index] for the unsigned `index` (0..len(values)-1): one R:1 multiplexer; no
        node when every value is the same (one Value, or equal constants).  Its range is the
        union of the values' ranges."""
        values = list(values)
        if not values:
            raise ValueError("select needs at least one value")
        if index.is_constant:
            return values[min(index.lo, len(values) - 1)]
        numbers, options = {}, []  # distinct options (constants by value, nodes by identity)
        table = []
        for v in values:
            key = v.lo if v.lo == v.hi else ("node", id(v))
            if key not in numbers:
                numbers[key] = len(options)
                options.append(v)
            table.append(numbers[key])
        return self.select_table(index, options, table, base)

    def select_table(self, index, options, table, base="sel"):
        """options[table[index]] for distinct `options` (what `select` builds after merging
        equal values; callers that know the distinct options pass them directly)."""
        if len(options) == 1:
            return options[0]
        if index.is_constant:
            return options[table[min(index.lo, len(table) - 1)]]
        if index.lo < 0:
            raise ValueError(f"select index {index.name} may be negative")
        lo, hi = min(v.lo for v in options), max(v.hi for v in options)
        return self._node(base, lo, hi, "select", (index, *options), (tuple(table),))

    def flip(self, sign, a, base="flip"):
        """a when the 1-bit `sign` is 0, else its ones' complement ~a = -a - 1 (an XOR per bit);
        a two's-complement negation is flip(s, a) + s, whose "+ s" terms a sum can add once."""
        if sign.is_constant:
            return a if sign.lo == 0 else self.sub(constant(-1), a, base=base)
        return self._node(base, min(a.lo, -a.hi - 1), max(a.hi, -a.lo - 1), "flip", (sign, a))

    def at_least_value(self, a, threshold, base="ge"):
        """1 when a >= threshold for a non-constant `threshold` (e.g. a select of constants);
        constant when the ranges decide."""
        if threshold.is_constant:
            return self.at_least(a, threshold.lo, base=base)
        if a.lo >= threshold.hi:
            return constant(1)
        if a.hi < threshold.lo:
            return constant(0)
        diff = self.sub(a, threshold, base=base + "_d")
        return self._node(base, 0, 1, "ge", (diff,))

    def clamp(self, a, lo, hi, base="clamp"):
        """min(max(a, lo), hi) with comparators only where the range needs them."""
        value = a
        if value.hi > hi:
            over = self.at_least(value, hi + 1, base=base + "_over")
            value = self.mux(over, constant(hi), value, base=base + "_hi", lo=min(value.lo, hi), hi=hi)
        if value.lo < lo:
            under = self.at_least(value, lo, base=base + "_under")
            value = self.mux(under, value, constant(lo), base=base + "_lo", lo=lo, hi=max(value.hi, lo))
        return value

    def maximum(self, a, b, base="max"):
        """max(a, b): the sign of a - b selects."""
        if a.lo >= b.hi:
            return a
        if b.lo >= a.hi:
            return b
        diff = self.sub(a, b, base=base + "_d")
        return self._node(base, max(a.lo, b.lo), max(a.hi, b.hi), "max", (diff, a, b))

    def narrow(self, value, lo, hi):
        """The same wire, known to stay within [lo, hi] (interval arithmetic over-estimates
        expressions that use one input twice, like x*7 = (x << 3) - x)."""
        if not (value.lo <= lo <= hi <= value.hi):
            raise ValueError(f"[{lo}, {hi}] is not inside {value.name}'s range [{value.lo}, {value.hi}]")
        return alias(value, lo, hi)

    # -- after building ----------------------------------------------------------------------
    def lowered(self):
        """The netlist after the passes (common subexpressions shared if `share`, then
        pipelined if `stage_levels`); built once, after which the module takes no more nodes."""
        if self._lowered is None:
            from qonnx_c4ml.chisel.logic.passes import lower
            self._lowered = lower(self.netlist, self.stage_levels, self.share)
        return self._lowered

    def cost(self):
        """Adders, estimated LUTs, flip-flops, levels and latency of the lowered netlist."""
        from qonnx_c4ml.chisel.logic.cost import cost
        return cost(self.lowered())

    @property
    def latency(self):
        return self.lowered().latency

    def verilog(self, header="", enable=None):
        from qonnx_c4ml.chisel.logic.verilog import module_verilog
        return module_verilog(self.lowered(), header, enable)
