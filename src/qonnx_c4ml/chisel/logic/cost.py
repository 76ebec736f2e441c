"""What a netlist costs, counted on its nodes (never on its text).

- `adders`: add and sub nodes (a comparator a >= T and a max's a - b are subtractions too).
- `luts`: an estimate for 6-input LUT FPGAs (7-series-like: one LUT6 per bit of a carry
  chain, two 2:1 mux bits per LUT6 sharing the select):
      add, sub, neg   result width   (one LUT per bit, the carry in the chain)
      mux, max, flip  ceil(width / 2)
      eq              ceil(bits / 6) LUTs to compare, plus a LUT per 6 partial results
      mul             a p x q-bit product (operand widths): ceil(p * q * (8 + min(p, q)) / 8),
                      fitted to yosys generic-fast on isolated signed/unsigned products (2x2: 4,
                      4x2: 6, 3x4: 17, 4x4: 22, 8x4: 54, 8x8: 128 LUTs; the formula: 5, 10,
                      17, 24, 48, 128)
      select          over its s = ceil(log2 R) select bits, n distinct options, d of them
                      not constants: per result bit one LUT6 while s + d <= 6 (half of one
                      while s + d <= 5: two bits share a dual-output LUT); all constants: per
                      bit a function of s bits, 2**(s-6) LUT6s above 6 bits; else the
                      ceil(log2 n) option-number bits decoded from s bits (as for constants)
                      plus a 4:1 mux tree of ceil((n - 1) / 3) LUTs per result bit
      shl, shr, ge, const, alias, input, out, reg   0 (wiring, or a flip-flop)
  It is what the netlist asks for before logic synthesis on a part with carry chains.
  Measured against yosys `generic-fast` (no carry cells: abc maps the ripple carries into
  LUTs too) with pipeline none, estimate -> yosys LUTs: jets_binary 12892 -> 12226,
  jets_w2a2_po2 11354 -> 10951, jets_w4a4_po2 29505 -> 38906, jets_w8a8_po2 64472 -> 84577
  (abc shrinks narrow logic, wide adders cost it more than a LUT per bit).
- `flip_flops`: the register bits.
- `levels`: operator levels on the longest path (`passes.logic_levels`).
"""
from dataclasses import dataclass

from qonnx_c4ml.chisel.logic.netlist import ADDER_OPS
from qonnx_c4ml.chisel.logic.passes import logic_levels
from qonnx_c4ml.lbir.dtypes import bits_for_range


def _ceil_div(a, b):
    return -(-a // b)


def mul_luts(p, q):
    """Estimated LUT6s of a p x q-bit multiplier (see the module docstring); ints or numpy arrays."""
    smaller = (p + q - abs(p - q)) // 2
    return _ceil_div(p * q * (8 + smaller), 8)


def node_luts(node):
    """Estimated LUT6s of one node (see the module docstring)."""
    width = bits_for_range(node.lo, node.hi)[0]
    if node.op in ("add", "sub", "neg"):
        return width
    if node.op in ("mux", "max", "flip"):
        return _ceil_div(width, 2)
    if node.op == "select":
        options, steps = node.args[1:], len(node.params[0])
        select_bits = max(1, (steps - 1).bit_length())
        variable = len({id(v.base()) for v in options if not v.is_constant})
        inputs = select_bits + variable
        if inputs <= 5:
            return _ceil_div(width, 2)
        if inputs <= 6:
            return width
        per_function = 1 << max(0, select_bits - 6)  # LUT6s of one function of the select bits
        if variable == 0:
            return width * per_function
        distinct = len({("c", v.lo) if v.is_constant else id(v.base()) for v in options})
        return (max(1, (distinct - 1).bit_length()) * per_function + width * _ceil_div(distinct - 1, 3))
    if node.op == "mul":
        return mul_luts(node.args[0].width, node.args[1].width)
    if node.op == "eq":
        partial = _ceil_div(node.params[0], 6)
        return partial + (_ceil_div(partial, 6) if partial > 1 else 0)
    return 0


def adders(netlist):
    return sum(1 for node in netlist.nodes if node.op in ADDER_OPS)


def luts(netlist):
    return sum(node_luts(node) for node in netlist.nodes if node.op != "comment")


def flip_flops(netlist):
    return sum(node.width for node in netlist.registers())


@dataclass
class Cost:
    adders: int
    luts: int
    flip_flops: int
    levels: int
    latency: int


def cost(netlist):
    """Every number at once."""
    return Cost(adders(netlist), luts(netlist), flip_flops(netlist), logic_levels(netlist), netlist.latency)
