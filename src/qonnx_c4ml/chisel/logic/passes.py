"""Passes over a netlist: each takes a `Netlist` and returns a new one (the input is left
as it was), so they compose: `lower` = `share_common` (optional) then `pipeline`.

- `share_common`: common-subexpression sharing.  Two nodes with the same operation, the
  same parameters, the same operands (after sharing) and the same result range are one
  node; the first one built keeps its name.
- `pipeline(N)`: a register stage every N operator levels.  A logic operator's level is one
  more than its deepest non-constant operand's (wiring -- shifts, the sign of a difference
  -- adds none), its stage is (level - 1) // N, and an operand computed in an earlier stage
  is read through a chain of registers `<name>_q1`, `_q2`, ... (built once per value and
  stage, shared by every reader).  Outputs are registered one stage past the deepest, so
  the netlist's latency is that many cycles.

A later pass (retiming, folding) has the same shape: walk `nodes` in order, map each old node
to its replacement through `remapper`, append to `netlist.derived()`.
"""
from qonnx_c4ml.chisel.logic.netlist import LOGIC_OPS, Value, remapper
from qonnx_c4ml.names import unique_name


def levels(netlist):
    """{id(node): logic level} for every node: inputs 0, logic operators one more than their
    deepest non-constant operand, wiring and registers the level of their operand."""
    level = {}

    def of(value):
        return level[id(value.base())] if not value.is_constant else 0

    for node in netlist.nodes:
        if node.op in ("comment", "const"):
            continue
        if node.op == "input":
            level[id(node)] = 0
        elif node.op in LOGIC_OPS:
            level[id(node)] = max((of(a) for a in node.args if not a.is_constant), default=0) + 1
        else:
            level[id(node)] = of(node.args[0])
    return level


def logic_levels(netlist):
    """Operator levels on the longest path to an output."""
    level = levels(netlist)
    return max((level[id(out.args[0].base())] for out in netlist.outputs() if not out.args[0].is_constant),
               default=0)


def _share_key(node, args):
    def operand_key(value):
        if value.is_constant:
            return ("const", value.lo)
        if value.op == "alias":
            return ("alias", id(value.base()), value.lo, value.hi)
        return id(value)

    return (node.op, node.params, tuple(operand_key(a) for a in args), node.lo, node.hi, node.width, node.signed)


def share_common(netlist):
    """Identical operations on identical operands become one node."""
    result = netlist.derived()
    mapping, seen = {}, {}
    remap = remapper(mapping)
    for node in netlist.nodes:
        if node.op == "comment":
            result.nodes.append(node)
            continue
        args = [remap(a) for a in node.args]
        key = _share_key(node, args) if node.op not in ("input", "out") else None
        if key is not None and key in seen:
            mapping[id(node)] = seen[key]
            continue
        new = node.with_args(args)
        mapping[id(node)] = new
        if key is not None:
            seen[key] = new
        result.nodes.append(new)
    return result


class _Stages:
    """Register chains of one pipelining pass: `at(value, stage)` is `value` as read in
    `stage`, appending the registers it needs to `nodes` the first time."""

    def __init__(self, result, stage_levels, level):
        self.result, self.stage_levels, self.level = result, stage_levels, level
        self.chains = {}

    def of(self, level):
        return 0 if level < 1 else (level - 1) // self.stage_levels

    def stage_of_value(self, value):
        return self.of(self.level[id(value.base())])

    def at(self, value, stage):
        if value.is_constant or self.stage_of_value(value) >= stage:
            return value
        node = value.base()
        source = node
        for depth in range(self.stage_of_value(value), stage):
            key = (id(node), depth + 1)
            if key not in self.chains:
                name = self._fresh(f"{node.name}_q{depth + 1}")
                register = Value(name, node.lo, node.hi, "reg", (source,), (depth + 1,), node.width, node.signed)
                self.result.nodes.append(register)
                self.chains[key] = register
            source = self.chains[key]
        if value.op == "alias":  # a narrowed alias keeps its own range
            return Value(source.name, value.lo, value.hi, "alias", (source,), (), source.width, source.signed)
        return source

    def _fresh(self, base):
        return unique_name(base, self.result.names)


def pipeline(netlist, stage_levels):
    """Registers every `stage_levels` operator levels (see the module docstring)."""
    if stage_levels is not None and stage_levels < 1:
        raise ValueError(f"stage_levels must be >= 1, got {stage_levels}")
    if not stage_levels:
        result = copy(netlist)
        result.latency = 0
        return result
    level = levels(netlist)
    result = netlist.derived()
    stages = _Stages(result, stage_levels, level)
    mapping = {}
    remap = remapper(mapping)
    outputs = []
    for node in netlist.nodes:
        if node.op == "comment":
            result.nodes.append(node)
            continue
        if node.op == "out":
            outputs.append(node)
            continue
        args = [remap(a) for a in node.args]
        if node.op in LOGIC_OPS:
            stage = stages.of(level[id(node)])
            args = [stages.at(a, stage) for a in args]
        new = node.with_args(args)
        mapping[id(node)] = new
        level[id(new)] = level[id(node)]
        result.nodes.append(new)
    codes = [remap(out.args[0]) for out in outputs]
    last = max((stages.stage_of_value(c) for c in codes if not c.is_constant), default=0) + 1
    registered = [stages.at(c, last) for c in codes]
    for out, code in zip(outputs, registered):
        result.nodes.append(out.with_args([code]))
    result.latency = last
    return result


def copy(netlist):
    """A copy of `netlist` (new nodes, same structure): what `pipeline` returns without stages."""
    result = netlist.derived()
    mapping = {}
    remap = remapper(mapping)
    for node in netlist.nodes:
        if node.op == "comment":
            result.nodes.append(node)
            continue
        new = node.with_args([remap(a) for a in node.args])
        mapping[id(node)] = new
        result.nodes.append(new)
    return result


def lower(netlist, stage_levels=None, share=False):
    """The passes every generated module goes through: sharing (if `share`), then pipelining."""
    return pipeline(share_common(netlist) if share else netlist, stage_levels)
