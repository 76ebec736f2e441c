"""Residual blocks in the pixel stream: fork -> two branches -> skip FIFOs -> join (QAdd).

    in pixel --+--> branch a (streaming layers, maybe none) --> FIFO a (when needed) --+
               |                                                                       +--> join --> out pixel
               +--> branch b (streaming layers, maybe none) --> FIFO b (when needed) --+

The fork hands each input pixel to both branches in the same cycle (it waits until both
are ready); the join takes one pixel from each branch when both have one and its output
register is free, and computes every channel c as acc = w_a[c]*a[c] + w_b[c]*b[c] and the
QAdd's requantization (a fully parallel engine on the logic IR, like the window engines).

FIFO depths.  A branch may have to emit pixels before the other can (an identity skip path
emits every pixel at once, a 3x3 convolution only once the row below has arrived).  With
f_x(n) the output pixels branch x can produce from n input pixels (each layer's reader rule:
output (i, j) needs its clipped bottom-right input pixel, `pixels_producible`), a FIFO of
max_n (f_a(n) - f_b(n)) + 1 pixels behind branch a can never fill while branch b still waits
for input, so back-pressure and input gaps never deadlock the block.  Reaching one pixel per
cycle needs more: the other branch's register stages are in flight too, so the depth is the
larger of that bound and the occupancy the cycle model (`BlockSchedule`, the rules of the
Verilog) measures on a continuous stream with unbounded FIFOs, plus one.  An empty branch
always gets a FIFO, which also keeps the fork's ready free of combinational paths through
the join.
"""
from dataclasses import dataclass, field

import numpy as np

from qonnx_c4ml.chisel.arith import dot_products, requantize
from qonnx_c4ml.chisel.generator import port_for_dtype
from qonnx_c4ml.chisel.hw import Module
from qonnx_c4ml.chisel.stream.geometry import mux_luts
from qonnx_c4ml.chisel.logic.cost import adders, cost
from qonnx_c4ml.chisel.logic.passes import logic_levels
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import Port
from qonnx_c4ml.lbir.dtypes import datatype_range
from qonnx_c4ml.names import unique_name, verilog_identifier


@dataclass
class ResidualOps:
    """The LBIR ops of one residual block: the branch feeding QAdd input 0 (`branch_a`), the
    one feeding input 1 (`branch_b`), each a chain of QConv2D/QMaxPool2D ops (maybe empty),
    and the QAdd."""

    branch_a: list
    branch_b: list
    add: object


@dataclass
class ResidualBlock:
    """A residual block in the stream: its ports and shapes (as a StreamLayer has them), its
    branches' StreamLayers, FIFO depths (0: none) and join engine."""

    name: str
    in_shape: list
    out_shape: list
    inp: Port
    out: Port
    branches: list  # [layers of branch a, layers of branch b]
    join: object = None  # the join engine Module
    fifo_depths: list = field(default_factory=lambda: [0, 0])
    adders: int = 0  # the join engine's
    join_luts: int = 0  # the join engine's estimated LUTs (chisel/logic/cost.py)
    engine_levels: int = 0
    latency_cycles: int = 0
    file: str = ""
    op_type: str = "QAdd"

    def control_model(self):
        """This block's cycle model, a stage of schedule.model_schedule."""
        from qonnx_c4ml.chisel.stream.block_schedule import BlockSchedule

        return BlockSchedule(self)

    @property
    def layers(self):
        """The branch layers, branch a first."""
        return self.branches[0] + self.branches[1]

    @property
    def estimated_luts(self):
        """The branches' engines and the join (FIFO words are memory bits, like line buffers)."""
        return sum(getattr(layer, "estimated_luts", 0) for layer in self.layers) + self.join_luts

    @property
    def read_mux_luts(self):
        """The branches' line-buffer reads and the FIFOs' word selects (formulas, geometry.mux_luts)."""
        ports = zip(self.fifo_depths, self.branch_outputs())
        fifos = sum(port.width * mux_luts(depth) for depth, port in ports if depth)
        return sum(layer.read_mux_luts for layer in self.layers) + fifos

    @property
    def fifo_bits(self):
        return sum(depth * port.width for depth, port in zip(self.fifo_depths, self.branch_outputs()))

    def branch_outputs(self):
        """The pixel Port each branch hands the join (its last layer's, or the block input)."""
        return [branch[-1].out if branch else self.inp for branch in self.branches]

    @property
    def line_buffer_bits(self):
        return sum(layer.line_buffer_bits for layer in self.layers) + self.fifo_bits


def join_operators(op):
    """Upper estimate of a streamed join's adders and comparators from the QAdd alone: per
    distinct (weight pair, threshold row), one adder and one comparator per threshold."""
    weights = op.weight_codes()
    rows = np.unique(np.concatenate([weights, op.threshold_codes().reshape(len(weights), -1)], axis=1), axis=0)
    return int(len(rows) * (rows.shape[1] - 1))


def join_parameters(op, shape):
    """(weights [C, 2], thresholds [C, T]) of a QAdd over [C, H, W] tensors that acts per
    channel and pixel alike: element e = c*H*W + p of both operands, one weight pair and one
    threshold row per channel.  Refuses anything else, naming the node."""
    channels, h, w = (int(v) for v in shape)
    pixels = h * w
    n = channels * pixels
    node = op.onnx_node
    index_a, index_b = (np.asarray(op.get_nodeattr(k), dtype=np.int64) for k in ("index_a", "index_b"))
    identity = np.arange(n)
    if len(index_a) != n or not (np.array_equal(index_a, identity) and np.array_equal(index_b, identity)):
        raise UnsupportedModelError("the streaming style joins residual branches element by element; this Add "
                                    "gathers its operands in another order", node=node,
                                    hint="use style='parallel' for this network")
    channel_of = op.channel_of_outputs()
    weights, thresholds = op.weight_codes(), op.threshold_codes()
    rows = channel_of.reshape(channels, pixels)
    per_channel_weights = weights[rows[:, 0]]
    if not (weights[rows] == per_channel_weights[:, None, :]).all():
        raise UnsupportedModelError("the Add's operand weights differ between pixels of a channel; a streamed "
                                    "join needs one pair per channel", node=node, hint="use style='parallel'")
    if op.get_nodeattr("requant") == "thresholds":
        per_channel_thresholds = thresholds[rows[:, 0]]
        if not (thresholds[rows] == per_channel_thresholds[:, None, :]).all():
            raise UnsupportedModelError("the Add's thresholds differ between pixels of a channel; a streamed join "
                                        "needs one threshold row per channel", node=node, hint="use style='parallel'")
    else:
        per_channel_thresholds = np.zeros((channels, 0), dtype=np.int64)
    return per_channel_weights, per_channel_thresholds


def join_module(name, op, shape, port_a, port_b, stage_levels=None):
    """The join engine: a_data (one pixel of branch a), b_data (of branch b) -> out_data (one
    output pixel): per channel w_a*a + w_b*b, requantized (combinational)."""
    weights, thresholds = join_parameters(op, shape)
    channels = int(shape[0])
    out = port_for_dtype(channels, op.get_nodeattr("out_dtype"))
    module = Module(name)
    module.port("input", "a_data", port_a.width)
    module.port("input", "b_data", port_b.width)
    module.port("output", "out_data", out.width)
    inputs = ([module.input_element("a_data", c, port_a.bits, port_a.signed) for c in range(channels)]
              + [module.input_element("b_data", channels + c, port_b.bits, port_b.signed, c * port_b.bits)
                 for c in range(channels)])  # element channels + c: b's channel c (the numpy evaluator's column)
    module.comment(f"{channels} channels: acc = w_a * a + w_b * b, then the Add's requantization")
    connections = [[(k, int(w)) for k, w in ((c, weights[c, 0]), (channels + c, weights[c, 1])) if w]
                   for c in range(channels)]
    accs = dot_products(module, inputs, connections, base="acc")
    out_lo, out_hi = datatype_range(op.get_nodeattr("out_dtype"))
    for c, acc in enumerate(accs):
        code = acc
        if op.get_nodeattr("requant") == "thresholds":
            code = requantize(module, acc, [int(t) for t in thresholds[c]], int(op.get_nodeattr("out_base")),
                              f"out{c}", op.get_nodeattr("threshold_weights"))
        if code.lo < out_lo or code.hi > out_hi:
            raise AssertionError(f"{name}: channel {c} range [{code.lo}, {code.hi}] exceeds "
                                 f"{op.get_nodeattr('out_dtype')}")
        module.output("out_data", c * out.bits, code, out.bits, out.signed)
    return module, out


def block_geometry(residual, branches, taken):
    """The ResidualBlock of `residual` (ResidualOps) with its branches' StreamLayers already
    built (`branches`); checks that both branches meet in shape."""
    add = residual.add
    name = unique_name(verilog_identifier(add.onnx_node.name or "add"), taken)
    starts = [branch[0] for branch in branches if branch]  # at least one (stream_front.residual_at)
    in_shape, inp = starts[0].in_shape, starts[0].inp
    ends = [branch[-1].out_shape if branch else in_shape for branch in branches]
    if ends[0] != ends[1]:
        raise UnsupportedModelError(f"the residual branches meet with shapes {ends[0]} and {ends[1]}",
                                    node=add.onnx_node, hint="use style='parallel'")
    for start in starts:
        if start.in_shape != in_shape or start.inp != inp:
            raise UnsupportedModelError("the two residual branches read the block input differently",
                                        node=add.onnx_node, hint="use style='parallel'")
    block = ResidualBlock(name, list(in_shape), list(ends[0]), inp, None, branches)
    port_a, port_b = block.branch_outputs()
    block.join, block.out = join_module(f"{name}_join", add, ends[0], port_a, port_b)
    lowered = block.join.lowered()
    block.adders, block.join_luts = adders(lowered), cost(lowered).luts
    block.engine_levels = logic_levels(block.join.netlist)
    return block
