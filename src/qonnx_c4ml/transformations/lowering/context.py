"""LoweringContext: the state of one InferLBIR walk and the graph helpers every lowering uses.

It holds the prepared model, its constants and consumers, the nodes emitted so far (LBIR
and host), the names taken, the original nodes absorbed into the circuit, and the map of
integer tensors to their activations.  The op lists shared by several lowerings live here too.
"""
import numpy as np
from onnx import TensorProto, helper

from qonnx_c4ml.lbir.requant import as_fraction
from qonnx_c4ml.names import unique_name, verilog_identifier
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations.constants import QUANTIZER_OPS, ConstantEvaluator

LINEAR_OPS = ("MatMul", "Gemm")
AVERAGE_POOL_OPS = ("AveragePool", "GlobalAveragePool")
CIRCUIT_OPS = LINEAR_OPS + ("Conv", "MaxPool") + AVERAGE_POOL_OPS  # must not be left to the host
LAYER_QUANTIZERS = QUANTIZER_OPS + ("Trunc",)  # what may end a layer (not the input)
PAD_CONSUMERS = ("Conv", "Transpose")  # what may read a pending Pad (a Transpose may sit before a Conv)
# qonnx's ConvertToChannelsLast puts Conv/MaxPool/BatchNormalization in this domain (NHWC)
CHANNELS_LAST_DOMAIN = "qonnx.custom_op.channels_last"
UNSUPPORTED_HINTS = {
    "MaxPool": "a MaxPool between a layer and its quantizer does not fold; quantize first "
    "(QuantReLU before MaxPool2d), as Brevitas models usually do",
    "Add": "a residual Add needs both operands quantized (add a QuantIdentity on each branch)",
}


def node_attributes(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class LoweringContext:
    """One walk over a prepared model (prepare.py): what is emitted, absorbed and known so far."""

    def __init__(self, model):
        self.model = model
        self.consts = ConstantEvaluator(model)
        self.consumers = {}
        for node in model.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.new_nodes = []  # LBIR + host boundary nodes, in order
        self.removed = set()  # names of original nodes absorbed into the circuit
        self.layer_names = set()
        self.lbir_outputs = {}  # codes tensor -> datatype name
        self.acts = {}  # original tensor -> Activation of the integer tensor standing for it
        self.accumulator_outputs = 0  # layers whose accumulator leaves the circuit unquantized

    # -- graph ---------------------------------------------------------------------------
    def only_consumer(self, tensor):
        """The single node reading `tensor`'s values (a Shape node reads only its shape)."""
        users = [n for n in self.consumers.get(tensor, []) if n.op_type != "Shape"]
        if len(users) != 1:
            return None
        return users[0]

    def const_operand(self, node, tensor):
        """(constant value, position) of the non-`tensor` operand of a binary op, or (None, -1)."""
        if len(node.input) != 2:
            return None, -1
        pos = 1 if node.input[0] == tensor else 0
        return self.consts.value(node.input[pos]), pos

    def needed_by_host(self, tensor):
        """True if an original node left on the host (or the graph output) reads `tensor`."""
        if tensor in {o.name for o in self.model.graph.output}:
            return True
        return any(n.name not in self.removed and n.op_type != "Shape" for n in self.consumers.get(tensor, []))

    def reaches_layer(self, node):
        """True if a MatMul/Gemm/Conv is downstream of `node` (it would be left on the host)."""
        seen, stack = set(), [node]
        while stack:
            current = stack.pop()
            if current.op_type in CIRCUIT_OPS and current is not node:
                return True
            for out in current.output:
                for user in self.consumers.get(out, []):
                    if user.name not in seen:
                        seen.add(user.name)
                        stack.append(user)
        return False

    # -- emitting ------------------------------------------------------------------------
    def fresh_name(self, base):
        return unique_name(verilog_identifier(base), self.layer_names)

    def host(self, node):
        """Append a host (float) node to the new graph."""
        self.new_nodes.append(node)

    def emit(self, node, out_codes, out_dtype):
        """Append an LBIR node whose output `out_codes` holds codes of `out_dtype`."""
        self.new_nodes.append(node)
        self.lbir_outputs[out_codes] = out_dtype

    @staticmethod
    def constant(name, value):
        value = np.asarray(value, dtype=np.float32)
        return helper.make_node("Constant", [], [name], name=name,
                                value=helper.make_tensor(name, TensorProto.FLOAT, value.shape, value.ravel().tolist()))

    # -- per-channel constants -------------------------------------------------------------
    @staticmethod
    def expand(per_channel, shape, axis):
        """A per-channel vector broadcast over a per-sample shape (axis None: per element)."""
        per_channel = np.asarray(per_channel)
        if axis is None:
            return per_channel.reshape(shape).copy()
        view = [1] * len(shape)
        view[axis] = -1
        return np.broadcast_to(per_channel.reshape(view), shape).copy()

    def per_channel(self, node, name, layer):
        """A constant operand as one Fraction per channel of `layer`'s output, or None."""
        value = self.consts.value(name)
        if value is None:
            return None
        return [as_fraction(v) for v in self.channel_vector(node, value, layer)]

    @staticmethod
    def channel_vector(node, value, layer):
        """`value` broadcast against the layer's output (batch, *out_shape), one entry per
        channel (per element if the layer has no channel axis); it must not vary elsewhere."""
        value = np.asarray(value, dtype=np.float64)
        n = len(layer.alpha)
        if value.size == 1:
            return np.full(n, value.ravel()[0])
        shape = tuple(layer.out_shape)
        try:
            full = np.broadcast_to(value, (1,) + shape)[0] if value.ndim <= len(shape) + 1 else None
        except ValueError:
            full = None
        if full is None:
            raise UnsupportedModelError(
                f"constant of shape {value.shape} does not broadcast to the layer output {shape}", node)
        if layer.channel_axis is None:
            return full.ravel()
        moved = np.moveaxis(full, layer.channel_axis, 0).reshape(n, -1)
        if np.any(moved != moved[:, :1]):
            raise UnsupportedModelError(
                f"constant of shape {value.shape} varies along the spatial axes", node,
                "use per-tensor or per-channel constants")
        return moved[:, 0]
