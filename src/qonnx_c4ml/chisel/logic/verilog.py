"""The Verilog writer: the only place that turns a netlist into text.

One line per node in netlist order: `wire [signed] [w-1:0] name = expr;` for logic and
wiring, `reg [signed] [w-1:0] name;` for registers (loaded in one `always @(posedge clock)`
block, gated by `enable` when given: a stalled stream freezes the stages), and
`assign out_data[o +: b] = expr;` for outputs.  Constants and aliases print nothing.

Two's-complement arithmetic is done at the result's width: every operand is signed and at
most that wide, so Verilog's context-determined width rule sign-extends it (an unsigned
value gets a 0 sign bit; a wider wire is truncated first, exact because the result fits).
One unsigned operand would make the whole expression unsigned, hence $signed everywhere.
Implicit extension keeps Verilator's generated code small: measured 1.7x faster simulation
than explicit {{n{sign}}, x} concatenations on the jets network.  The generated modules
waive Verilator's WIDTH lint for that reason.

Adders and subtractors are the exception: their operands are unsigned and sign-extended
explicitly to the result width (`extended`), `{{2{a[3]}}, a} + {2'b0, b}`.  Written with
implicit signed extension, yosys' alumacc merges every adder whose result feeds only one
other adder into a multi-operand $macc (maccmap then builds a carry-save tree of it); an
operand with its sign bits repeated is no longer that adder's output, so each stays a 2-input
$alu, as da4ml's shift_adder modules do.  Measured on the random 16-64-32-32-5 w2a2 net
(yosys generic-fast): layer 0's dense part 1,832 -> 1,683 LUTs, depth 6 -> 5; the whole net
2,234 -> 2,035 LUTs, depth 16 -> 15.  Verilator cost: 1.47M -> 1.38M samples/s on that net.
"""
from qonnx_c4ml.lbir.dtypes import bits_for_range


def literal(value, width):
    """`value` as a `width`-bit two's-complement bit pattern literal."""
    return f"{width}'h{value % (1 << width):x}"


def operand(value, width):
    """`value` as a signed operand of a `width`-bit expression (see the module docstring)."""
    if value.is_constant:
        return f"$signed({literal(value.lo, width)})"
    if value.width > width:
        return f"$signed({value.name}[{width - 1}:0])"
    if value.signed or value.width == width:
        return f"$signed({value.name})"
    return f"$signed({{1'b0, {value.name}}})"


def extended(value, width):
    """`value` as an unsigned `width`-bit operand, sign-extended explicitly (see the module
    docstring: adders are written this way so yosys keeps them apart)."""
    if value.is_constant:
        return literal(value.lo, width)
    if value.width >= width:
        return value.name if value.width == width else f"{value.name}[{width - 1}:0]"
    fill = f"{{{width - value.width}{{{_msb(value)}}}}}" if value.signed else f"{width - value.width}'b0"
    return f"{{{fill}, {value.name}}}"


def _msb(value):
    return f"{value.name}[{value.width - 1}]"


def expression(node):
    """The right-hand side of `node`'s wire."""
    op, args, width = node.op, node.args, bits_for_range(node.lo, node.hi)[0]
    if op == "input":
        bus, offset, _ = node.params
        return f"{bus}[{offset} +: {node.width}]"
    if op in ("add", "sub"):
        return f"{extended(args[0], width)} {'+' if op == 'add' else '-'} {extended(args[1], width)}"
    if op == "neg":
        return f"-{operand(args[0], width)}"
    if op == "mul":
        return f"{operand(args[0], width)} * {operand(args[1], width)}"
    if op == "shl":
        (k,) = node.params
        return f"{{{operand(args[0], width - k)}, {k}'b0}}"
    if op == "shr":
        (k,) = node.params
        a = args[0]
        return _msb(a) if a.width <= k else f"{a.name}[{a.width - 1}:{k}]"
    if op == "ge":
        return f"~{_msb(args[0])}"
    if op == "eq":
        bits, pattern = node.params
        return f"{args[0].name}[{bits - 1}:0] == {literal(pattern, bits)}"
    if op == "mux":
        select, if_one, if_zero = args
        return f"{select.name} ? {operand(if_one, width)} : {operand(if_zero, width)}"
    if op == "max":
        diff, a, b = args
        return f"{_msb(diff)} ? {operand(b, width)} : {operand(a, width)}"
    if op == "flip":
        sign, a = args
        return f"{operand(a, width)} ^ $signed({{{width}{{{sign.name}}}}})"
    raise ValueError(f"no Verilog for operation {op!r} ({node.name})")


# A select over more steps than this, or whose steps repeat an option, is written as a
# constant table of option numbers (one entry per index; of the values themselves when all
# are constants) and a ternary tree over its distinct options: a folded layer with R = 256
# steps has millions of select leaves but a handful of distinct values per select.
TABLE_SELECT = 4
# ... and one over more distinct non-constant options than this as an array of its options read
# at the option number: a memory-form input slot selects among S inputs (S = 1024 for a
# MobileNet depthwise layer), whose ternary tree Verilator turned into a 48 MB C++ file.
ARRAY_SELECT = 16


class _Wire:
    """A name to index by (select_expression reads only `.name`)."""

    def __init__(self, name):
        self.name = name


def select_lines(node):
    """The lines of a select node (see TABLE_SELECT)."""
    width = bits_for_range(node.lo, node.hi)[0]
    kind = "signed " if node.signed else ""
    index, options, (table,) = node.args[0], node.args[1:], node.params
    head = f"  wire {kind}[{node.width - 1}:0] {node.name} = "
    if len(table) <= TABLE_SELECT and list(table) == list(range(len(options))):
        return [head + select_expression(index, options, width) + ";"]
    if all(v.is_constant for v in options):
        bits = node.width
        cell = f"{node.name}_t[{index.name} * {bits} +: {bits}]"
        return [_table_line(node.name, [options[t].lo for t in table], bits),
                head + ("$signed(" + cell + ")" if node.signed else cell) + ";"]
    bits = max(1, (len(options) - 1).bit_length())
    if len(options) > ARRAY_SELECT:
        return _array_lines(node, head, index, options, table, bits, width)
    return [_table_line(node.name, table, bits),
            f"  wire [{bits - 1}:0] {node.name}_i = {node.name}_t[{index.name} * {bits} +: {bits}];",
            head + select_expression(_Wire(f"{node.name}_i"), options, width) + ";"]


def _array_lines(node, head, index, options, table, bits, width):
    """A select as `<name>_o[i]` over an array of its options (see ARRAY_SELECT); i is the index
    itself when the table numbers the options in order, else read from the option-number table."""
    lines = [f"  wire [{width - 1}:0] {node.name}_o [0:{len(options) - 1}];"]
    lines += [f"  assign {node.name}_o[{i}] = {operand(v, width)};" for i, v in enumerate(options)]
    if list(table) == list(range(len(options))):
        number = index.name
    else:
        number = f"{node.name}_i"
        lines += [_table_line(node.name, table, bits),
                  f"  wire [{bits - 1}:0] {number} = {node.name}_t[{index.name} * {bits} +: {bits}];"]
    cell = f"{node.name}_o[{number}]"
    return lines + [head + (f"$signed({cell})" if node.signed else cell) + ";"]


def _table_line(name, entries, bits):
    packed = 0
    for r, e in enumerate(entries):
        packed |= (e % (1 << bits)) << (r * bits)
    return f"  localparam [{len(entries) * bits - 1}:0] {name}_t = {literal(packed, len(entries) * bits)};"


def select_expression(index, values, width):
    """values[index] as a balanced tree of ternaries on the index bits, most significant bit
    first (an index past the last value reads an unspecified one of them)."""
    def tree(first, bit):
        if bit < 0:
            return operand(values[first], width)
        upper = first + (1 << bit)
        if upper >= len(values):
            return tree(first, bit - 1)
        return f"({index.name}[{bit}] ? {tree(upper, bit - 1)} : {tree(first, bit - 1)})"

    return tree(0, (len(values) - 1).bit_length() - 1)


def node_line(node):
    if node.op == "comment":
        return f"  // {node.text}"
    kind = "signed " if node.signed else ""
    if node.op == "reg":
        return f"  reg {kind}[{node.width - 1}:0] {node.name};"
    if node.op == "select":
        return "\n".join(select_lines(node))
    if node.op == "out":
        bus, offset, bits, _ = node.params
        return f"  assign {bus}[{offset} +: {bits}] = {operand(node.args[0], bits)};"
    return f"  wire {kind}[{node.width - 1}:0] {node.name} = {expression(node)};"


def module_verilog(netlist, header="", enable=None):
    """The module's text; registers load on every clock edge, or only while the 1-bit port
    `enable` is high."""
    ports = ",\n".join(f"  {d} wire [{w - 1}:0] {n}" for d, w, n in netlist.ports)
    body = [node_line(node) for node in netlist.nodes]
    registers = netlist.registers()
    if registers and enable:
        body += ["  always @(posedge clock) begin", f"    if ({enable}) begin"]
        body += [f"      {reg.name} <= {reg.args[0].name};" for reg in registers]
        body += ["    end", "  end"]
    elif registers:
        body.append("  always @(posedge clock) begin")
        body += [f"    {reg.name} <= {reg.args[0].name};" for reg in registers]
        body.append("  end")
    body = "\n".join(body)
    return f"{header}module {netlist.name} (\n{ports}\n);\n{body}\nendmodule\n"
