"""Streaming circuits for convolutional layers: one pixel per cycle through line buffers.

The fully parallel style (generator.py) computes a whole frame per cycle; this style is the
trade-off hls4ml users rely on: a frame arrives as H*W pixels in raster order (row by row,
all C channels of a pixel in one beat, channel 0 in the LSBs), and each layer owns ONE fully
parallel window engine (`arith.dot_products` over the KH*KW*C window elements, then
`arith.requantize` per output channel; a max tree for QMaxPool2D) that produces one output
pixel per cycle.  Weights stay constants in the logic.

Per layer (`stream_layer_verilog`):

    writer  stores each accepted pixel in a line buffer of R rows x W pixels, rows addressed
            by a global row counter mod R, so frames follow each other without a gap;
    reader  walks the output positions (i, j) in raster order; output (i, j) is issued once
            the last input pixel its window needs has been written (the window's bottom-right
            corner, clipped to the image), which handles zero padding on every side (padded
            taps read code 0; for max pooling the smallest code), asymmetric pads and strides
            without extra cycles;
    engine  window register -> window engine (combinational, or pipelined every
            `stage_levels` operator levels) -> output register.

The writer accepts a pixel while its row does not overwrite the oldest row the reader still
needs (`in_ready` depends on registers only, so ready never ripples combinationally through
the chain).  The engine pipeline advances whenever its output register is empty or being
read (`out_ready`), so a stalled consumer freezes the layer without losing data, and the
layer runs at one pixel per cycle when never stalled.

Rate and sizing.  A frame takes max(H*W, OH*OW) cycles in a layer (one pixel per cycle each
way; more output than input pixels happens only with more padding than 'same'), and the
chain's initiation interval is that bound of its slowest layer.  Reaching it needs the
writer to run ahead of the reader, and the reader to fall behind where bottom/right padding
makes several outputs due at once, so a layer has R >= KH rows where the textbook design has
KH - 1 rows + a window register: R starts at the next power of two >= KH (at least 2) and
`size_line_buffers` doubles it where a cycle model of the control (`model_schedule`, the
same rules as the Verilog; compiled_schedule.py runs it as one generated function per chain)
shows the stream missing the bound (a 3x3 'same' convolution keeps 4 rows).  The same model gives the latency the report states; the tests check both against
Verilator.

Folding.  With a reuse factor R > 1 (generate_streaming's `reuse_factors`, one per layer) a
QConv2D's engine is the folded one of chisel/fold/conv.py: the dense fold datapath over the
window vector, G = ceil(O / R) constant-weight units computing the O output channels over
S = ceil(O / G) cycles per window.  The wrapper holds each window for its S steps, gathers
the steps' codes and issues the next window when the last step leaves (layer_verilog.py);
the layer then takes max(H*W, S*OH*OW) cycles per frame, which the rate bound and the
cycle model count, and an upstream layer it refuses simply waits (back-pressure).  Deep
layers of a CNN see few pixels, so they fold by large R at little cost in frame rate.

The chain (`<top>_stream`) connects the layers' pixel streams; the frame top `<top>` adds a
collector that gathers the last layer's output pixels into one packed vector in LBIR flat
order (element (c*OH + i)*OW + j, as QConv2D flattens), with the docs/ARCHITECTURE.md §3 ports
extended for streaming: clock, reset, in_valid, in_ready, in_data (one pixel), out_valid,
out_ready, out_data (one frame).  `out_valid` pulses high with a complete frame and holds
it until `out_ready`.

Residual blocks are stages of the chain too: `residual` (the fork, two branches of streaming
layers, skip FIFOs and the per-channel join; its module doc gives the FIFO sizing rule),
`residual_verilog` (the FIFO and block modules), `block_schedule` (the dependency bound and the
block's cycle model, which `model_schedule` steps like a layer's).

A global pool (a depthwise QConv2D of equal weights whose kernel is the whole image, as
GlobalAveragePool lowers) is an accumulating stage instead of a window layer: `global_pool`
(its engine), `global_pool_verilog` (its wrapper), one accumulator per channel, a pixel per
cycle in, the requantized sums out at the frame's last pixel, no line buffer.

The package: `geometry` (StreamLayer: a layer's shapes, line buffer and stream ports;
GlobalPoolLayer),
`engine` (the window engine's logic), `layer_verilog` (the line-buffered wrapper around it),
`tops` (the chain, the frame top, the streaming front + parallel tail top), `schedule` (the
cycle model of the control), `generate` (generate_streaming, the entry point, and
format_report).
"""
