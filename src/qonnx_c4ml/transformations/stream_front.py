"""Which LBIR nodes the streaming (and folded) style streams: the front of the graph, from the
circuit input, made of QConv2D/QMaxPool2D chains and residual blocks (a tensor read by two
branches, each a chain of conv/pool nodes or none, that meet in one QAdd; the QAdd must join
element by element with one weight pair and threshold row per channel:
chisel/stream/residual.join_parameters).  Everything after it is the tail."""
from dataclasses import dataclass

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.chisel.stream.residual import ResidualOps, join_parameters
from qonnx_c4ml.errors import UnsupportedModelError

STREAM_OPS = ("QConv2D", "QMaxPool2D")


@dataclass
class ResidualNodes:
    """The nodes of one residual block: the chain feeding QAdd input 0, the one feeding input 1."""

    branch_a: list
    branch_b: list
    add: object

    @property
    def nodes(self):
        return self.branch_a + self.branch_b + [self.add]


def front_nodes(front):
    """The LBIR nodes of a streaming front (its items: nodes and ResidualNodes), in order."""
    return [node for item in front for node in (item.nodes if isinstance(item, ResidualNodes) else [item])]


def front_output(front):
    """The tensor the front's last item writes."""
    last = front[-1]
    return (last.add if isinstance(last, ResidualNodes) else last).output[0]


def front_ops(front):
    """The front as generate_streaming takes it: CustomOps, and ResidualOps for the blocks."""
    return [ResidualOps([getCustomOp(n) for n in item.branch_a], [getCustomOp(n) for n in item.branch_b],
                        getCustomOp(item.add)) if isinstance(item, ResidualNodes) else getCustomOp(item)
            for item in front]


def _readers(nodes):
    readers = {}
    for node in nodes:
        for name in dict.fromkeys(node.input):
            readers.setdefault(name, []).append(node)
    return readers


def _branch(first, tensor, readers):
    """Follow a chain of conv/pool nodes from `tensor` (read by `first`) to a QAdd:
    (chain, the QAdd, the tensor the QAdd reads), or None when it is not such a chain."""
    chain, current, node = [], tensor, first
    while node.op_type != "QAdd":
        if node.op_type not in STREAM_OPS or list(node.input) != [current]:
            return None
        chain.append(node)
        current = node.output[0]
        following = readers.get(current, [])
        if len(following) != 1:
            return None
        node = following[0]
    return chain, node, current


def residual_at(tensor, readers):
    """The residual block starting at `tensor` (ResidualNodes), or None."""
    first = readers.get(tensor, [])
    if len(first) != 2:
        return None
    walks = [_branch(node, tensor, readers) for node in first]
    if None in walks or walks[0][1] is not walks[1][1]:
        return None
    add = walks[0][1]
    ends = {end: chain for chain, _, end in walks}
    if len(ends) != 2 or set(ends) != set(add.input):
        return None
    return ResidualNodes(ends[add.input[0]], ends[add.input[1]], add)


def join_refusal(block):
    """Why the block's QAdd cannot join streams (an UnsupportedModelError), or None."""
    last = (block.branch_a or block.branch_b)[-1]
    try:
        join_parameters(getCustomOp(block.add), getCustomOp(last).out_shape())
    except UnsupportedModelError as error:
        return error
    return None


def walk_front(nodes, circuit_input):
    """(front items, the refusal that stopped it at a residual block or None)."""
    readers = _readers(nodes)
    front, tensor = [], circuit_input
    while True:
        following = readers.get(tensor, [])
        if len(following) == 1 and following[0].op_type in STREAM_OPS and list(following[0].input) == [tensor]:
            front.append(following[0])
            tensor = following[0].output[0]
            continue
        block = residual_at(tensor, readers)
        if block is None:
            return front, None
        refusal = join_refusal(block)
        if refusal is not None:
            return front, refusal
        front.append(block)
        tensor = block.add.output[0]


def skip_reader(front, rest, circuit_input):
    """The first node after `front` that reads a tensor inside it (a skip path the front
    could not take), or None."""
    inside = {node.output[0] for node in front_nodes(front)} - {front_output(front)} | {circuit_input}
    return next((n for n in rest if any(i in inside for i in n.input)), None)


def streaming_front(nodes, circuit_input):
    """(front items, the rest of the nodes): the front the streaming style takes (see module
    doc), empty when a later node reads a tensor inside it."""
    front, _ = walk_front(nodes, circuit_input)
    taken = {id(node) for node in front_nodes(front)}
    rest = [node for node in nodes if id(node) not in taken]
    if front and skip_reader(front, rest, circuit_input) is not None:
        return [], nodes
    return front, rest


def streaming_refusal(nodes, circuit_input):
    """Why style='streaming' cannot take these layers (its front is empty), as an error."""
    front, refusal = walk_front(nodes, circuit_input)
    if refusal is not None:
        return refusal
    taken = {id(node) for node in front_nodes(front)}
    reader = skip_reader(front, [n for n in nodes if id(n) not in taken], circuit_input) if front else None
    if reader is not None:
        return UnsupportedModelError(
            f"style='streaming' stops at {reader.op_type} '{reader.name}': it reads a tensor inside the streamed "
            "layers that is not a residual block the streaming style can buffer (two chains of "
            "convolution/pool layers meeting in one Add)",
            hint="use style='parallel' (or 'auto') for this network")
    return UnsupportedModelError(
        "style='streaming' needs the circuit to start with convolution/pool layers",
        hint="use style='parallel' for fully connected networks")
