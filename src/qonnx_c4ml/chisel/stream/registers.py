"""Flip-flops of the streaming front, counted from the geometry (the registers the Verilog
declares; a formula, as read_mux_luts is):

    window layer (layer_verilog.py)  the line buffer (rows x W pixels), the write column, the
                                     global row counters (write_row, frame_row0), the window
                                     corner (window_top, window_left), window_valid, the window
                                     register (KH*KW*C codes), out_valid_q and the output
                                     register; a pipelined engine's stage registers and their
                                     valid bits; folded (S > 1): the step counter and `partial`
                                     (S - 1 steps of G codes)
    global pool (global_pool.py)     the accumulators, the pixel counter, the output register
                                     and its valid bit
    residual block (residual.py)     its branches' layers, the FIFO words and pointers (head,
                                     tail, count), the join's output register and valid bit
    frame top (tops.py)              the collector and the frame register (a frame each), the
                                     pixel index, frame_valid

Line-buffer and FIFO words are counted as flip-flops (what the Verilog declares); a
synthesizer may map those arrays to LUT RAM or block RAM instead, which `line_buffer_bits`
reports separately.
"""
from qonnx_c4ml.chisel.fold.datapath import step_counter_bits
from qonnx_c4ml.chisel.stream.geometry import GlobalPoolLayer
from qonnx_c4ml.chisel.stream.layer_verilog import counter_bits


def window_layer_flip_flops(layer):
    """Registers of a window layer's wrapper and engine (see module doc)."""
    coord_bits, row_bits, col_bits = counter_bits(layer)
    window = layer.kernel[0] * layer.kernel[1] * layer.in_shape[0] * layer.inp.bits
    control = col_bits + 2 * row_bits + 2 * coord_bits + 2  # + window_valid, out_valid_q
    if layer.steps > 1:
        engine = step_counter_bits(layer.steps) + (layer.steps - 1) * layer.units * layer.out.bits
    else:
        engine = layer.engine_flip_flops + layer.engine_latency  # stage registers, engine_valid
    return layer.line_buffer_bits + control + window + layer.out.width + engine


def fifo_flip_flops(width, depth):
    """A residual FIFO (residual_verilog.fifo_verilog): its words, head, tail and count."""
    if not depth:
        return 0
    return depth * width + 2 * max(1, (depth - 1).bit_length()) + depth.bit_length()


def stage_flip_flops(stage):
    """Registers of one stage of the chain: a window layer, a global pool or a residual block."""
    if isinstance(stage, GlobalPoolLayer):
        return stage.accumulator_flip_flops
    if hasattr(stage, "branches"):
        fifos = sum(fifo_flip_flops(port.width, depth) for depth, port in zip(stage.fifo_depths,
                                                                             stage.branch_outputs()))
        return sum(stage_flip_flops(layer) for layer in stage.layers) + fifos + stage.out.width + 1
    return window_layer_flip_flops(stage)


def collector_flip_flops(last):
    """The frame top's collector, frame register, pixel index and frame_valid (`last`: the
    chain's last stage)."""
    channels, oh, ow = last.out_shape
    return 2 * channels * oh * ow * last.out.bits + max(1, (oh * ow - 1).bit_length()) + 1
