"""StreamLayer: the geometry, line buffer and stream ports of one streaming layer."""
from dataclasses import dataclass

from qonnx_c4ml.chisel.generator import port_for_dtype
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.interface import Port
from qonnx_c4ml.lbir.conv import conv_output_hw
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
    return StreamLayer(
        name=verilog_identifier(node.name or "layer"), op_type=node.op_type, in_shape=list(in_shape),
        out_shape=[out_channels, oh, ow], kernel=list(kernel), strides=list(strides), pads=list(pads),
        inp=inp, out=out, line_buffer_rows=rows, line_buffer_bits=rows * in_shape[2] * inp.width,
        units=out_channels, ii_cycles=max(in_shape[1] * in_shape[2], oh * ow))


def window_index(layer, u, v, c):
    """Position of window element (row u, column v, channel c) in the window vector."""
    return (u * layer.kernel[1] + v) * layer.in_shape[0] + c
