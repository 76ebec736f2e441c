"""StreamLayer: the geometry, line buffer and stream ports of one streaming layer; GlobalPoolLayer:
those of a global pool's accumulating stage (a QConv2D whose kernel is the whole image, see
is_global_pool), which layer_geometry returns for such a QConv2D."""
from dataclasses import dataclass

import numpy as np

from qonnx_c4ml.chisel.generator import port_for_dtype
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import Port
from qonnx_c4ml.chisel.stream.schedule import AccumulateSchedule
from qonnx_c4ml.lbir.conv import conv_output_hw
from qonnx_c4ml.lbir.dtypes import bits_for_range
from qonnx_c4ml.names import verilog_identifier

STREAM_OPS = ("QConv2D", "QMaxPool2D")


@dataclass
class StreamLayer:
    """Geometry and stream ports of one streaming layer (the numbers the report states)."""

    name: str
    op_type: str
    in_shape: list  # [C, H, W]
    out_shape: list  # [O, OH, OW]
    kernel: list
    strides: list
    pads: list  # top, left, bottom, right
    inp: Port  # one input pixel: C elements
    out: Port  # one output pixel: O elements
    line_buffer_rows: int = 0
    line_buffer_bits: int = 0
    engine_latency: int = 0  # register stages inside the window engine
    engine_levels: int = 0
    engine_flip_flops: int = 0  # the engine's pipeline registers (stage_levels), chisel/logic/cost.py
    adders: int = 0
    estimated_luts: int = 0  # chisel/logic/cost.cost of the lowered engine
    reuse_factor: int = 1  # R: the engine computes the O output channels over `steps` cycles per window
    units: int = 0  # G = ceil(O / R) output channels per cycle (O when R = 1)
    steps: int = 1  # S = ceil(O / G) cycles per window (1: the fully parallel engine)
    ii_cycles: int = 0  # this layer's cycles per frame: max(H*W, S*OH*OW), a pixel per cycle in, a window per S out
    latency_cycles: int = 0  # its first input pixel -> its first frame's last output pixel, inclusive (modelled)
    file: str = ""

    @property
    def read_mux_luts(self):
        """Estimated LUTs of the line-buffer reads (a formula, not a netlist count)."""
        return read_mux_luts(self.in_shape[2], self.kernel, self.line_buffer_rows, self.inp.width)

    @property
    def pixel_latency(self):
        """Cycles from issuing a window to its output pixel being valid: window register,
        engine stages, output register; folded (S > 1): window register, S steps."""
        return 1 + self.steps if self.steps > 1 else 2 + self.engine_latency


def mux_luts(ways):
    """LUT6s of a `ways`:1 multiplexer of one bit as a tree of 4:1 muxes: ceil((ways - 1) / 3)."""
    return -(-(int(ways) - 1) // 3)


def read_mux_luts(width, kernel, rows, pixel_bits):
    """Estimated LUTs of a streaming layer's line-buffer reads (layer_verilog.py): per window
    column a `width`:1 mux in every row slot, per tap a `rows`:1 slot mux, each per pixel bit."""
    kh, kw = kernel
    return pixel_bits * (kw * rows * mux_luts(width) + kh * kw * mux_luts(rows))


def is_global_pool(op):
    """Whether a QConv2D CustomOp is a global pool (chisel/stream/global_pool.py computes it):
    kernel == the input image of at least 2 pixels (one pixel is a 1x1 convolution, which the
    window layer streams at a pixel per cycle), no padding, depthwise, every channel's weights
    equal and non-zero."""
    node = op.onnx_node
    if node.op_type != "QConv2D":
        return False
    in_shape, _, pads, group = op.geometry()
    weights = np.asarray(op.weight_codes())
    if weights.ndim != 4 or len(in_shape) != 3:
        return False
    channels = in_shape[0]
    if any(pads) or list(weights.shape[2:]) != list(in_shape[1:]) or in_shape[1] * in_shape[2] < 2:
        return False
    if group != channels or weights.shape[:2] != (channels, 1):
        return False
    per_channel = weights.reshape(channels, -1)
    return bool(np.all(per_channel == per_channel[:, :1]) and np.all(per_channel[:, 0] != 0))


def _signed_bits(lo, hi):
    return bits_for_range(min(lo, -1), max(hi, 0))[0]


@dataclass
class GlobalPoolLayer(StreamLayer):
    """A global pool stage (chisel/stream/global_pool.py): per channel an accumulator, no line
    buffer, no window reads; H*W cycles per frame (the cycle model: schedule.AccumulateSchedule)."""

    accumulator_bits: int = 0  # per channel, signed: the sum of H*W - 1 pixels
    sum_bits: int = 0  # per channel, signed: the sum of H*W pixels (the engine's sum_data)

    @property
    def pixels(self):
        return self.in_shape[1] * self.in_shape[2]

    @property
    def read_mux_luts(self):
        """No line buffer, no window reads."""
        return 0

    @property
    def pixel_latency(self):
        """The frame's last pixel is accepted and its output loaded in one cycle."""
        return 1

    @property
    def accumulator_flip_flops(self):
        """The accumulators, the pixel counter, the output register and its valid bit."""
        return (self.in_shape[0] * self.accumulator_bits + max(1, (self.pixels - 1).bit_length())
                + self.out.width + 1)

    def control_model(self):
        return AccumulateSchedule(self)


def global_pool_layer(layer):
    """The GlobalPoolLayer of a global pool's StreamLayer."""
    fields = {name: getattr(layer, name) for name in StreamLayer.__dataclass_fields__}
    lo, hi = layer.inp.code_range
    pixels = layer.in_shape[1] * layer.in_shape[2]
    fields.update(line_buffer_rows=0, line_buffer_bits=0, ii_cycles=pixels)
    return GlobalPoolLayer(**fields, accumulator_bits=_signed_bits((pixels - 1) * lo, (pixels - 1) * hi),
                           sum_bits=_signed_bits(pixels * lo, pixels * hi))


def layer_geometry(op):
    """The StreamLayer of a QConv2D/QMaxPool2D CustomOp (line buffer rows before sizing)."""
    node = op.onnx_node
    if node.op_type == "QConv2D":
        in_shape, strides, pads, _ = op.geometry()
        kernel = list(op.weight_codes().shape[2:])
        out_channels = int(op.weight_codes().shape[0])
    elif node.op_type == "QMaxPool2D":
        in_shape, kernel, strides, pads = op.geometry()
        out_channels = in_shape[0]
    else:
        raise UnsupportedModelError(
            f"{node.name}: {node.op_type} has no streaming circuit (streaming supports {', '.join(STREAM_OPS)})")
    oh, ow = conv_output_hw(in_shape, kernel, strides, pads)
    if oh < 1 or ow < 1:
        raise UnsupportedModelError(f"{node.name}: empty output {oh}x{ow}")
    inp = port_for_dtype(in_shape[0], op.get_nodeattr("in_dtype"))
    out = port_for_dtype(out_channels, op.get_nodeattr("out_dtype"))
    rows = 1 << max(1, (kernel[0] - 1).bit_length())  # next power of two >= KH (and >= 2)
    layer = StreamLayer(
        name=verilog_identifier(node.name or "layer"), op_type=node.op_type, in_shape=list(in_shape),
        out_shape=[out_channels, oh, ow], kernel=list(kernel), strides=list(strides), pads=list(pads),
        inp=inp, out=out, line_buffer_rows=rows, line_buffer_bits=rows * in_shape[2] * inp.width,
        units=out_channels, ii_cycles=max(in_shape[1] * in_shape[2], oh * ow))
    return global_pool_layer(layer) if is_global_pool(op) else layer


def window_index(layer, u, v, c):
    """Position of window element (row u, column v, channel c) in the window vector."""
    return (u * layer.kernel[1] + v) * layer.in_shape[0] + c
