"""The accumulating stage of a global pool: one pixel per cycle in, one pixel per frame out.

GlobalAveragePool (and an AveragePool whose window is the whole image) lowers to a depthwise
QConv2D of equal weights whose 1/window factor sits in the thresholds
(transformations/lowering/pool.py).  As a window layer (layer_verilog.py) it would hold the
whole image in line buffers and read it through H*W*C window muxes; this stage instead keeps
one accumulator per channel:

    per accepted pixel   acc_c <= acc_c + x_c              (not the frame's last pixel)
    the frame's last one out_c <= requantize(w_c * (acc_c + x_c)), acc_c <= 0

`geometry.is_global_pool` recognises it (kernel == the input image of >= 2 pixels, no
padding, depthwise, every channel's weights equal and non-zero); any other QConv2D stays a
window layer.  The engine (`global_pool_engine`, logic IR) computes the sums acc_c + x_c (the
accumulator's next value, `sum_data`) and the output codes from them with the engines' own
arithmetic (`arith.dot_products` for w_c * sum, `arith.requantize` with the layer's
thresholds), so the codes are those of the window engine; the accumulator input is narrowed
to the (H*W - 1) pixels it can hold, so requantization sees the exact range of the sum.

Handshake (global_pool_verilog.py): the stage accepts a pixel every cycle except the frame's
last one while the previous frame's output pixel is still unread (`in_ready` from registers
only, as in every stage); `out_valid` holds the output pixel until `out_ready`.  A frame
takes H*W cycles; `AccumulateSchedule` is the same rule for the cycle model
(stream/schedule.py steps it like a layer's).  The stage never folds (reuse factor 1) and
has no line buffer and no read muxes: `read_mux_luts` is 0, its LUTs are the engine's cost.
Its engine is combinational with `stage_levels` too (one adder and a requantization between
the upstream output register and its own, fewer levels than a window engine's).
"""
import numpy as np

from qonnx_c4ml.chisel.arith import dot_products, requantize
from qonnx_c4ml.chisel.hw import Module
from qonnx_c4ml.chisel.logic.cost import cost
from qonnx_c4ml.chisel.logic.passes import logic_levels
from qonnx_c4ml.lbir.dtypes import datatype_range


def global_pool_engine(layer, op):
    """The stage's engine Module `<layer>_engine`: in_data (one pixel), acc (the accumulators,
    `accumulator_bits` each) -> sum_data (acc + pixel, `sum_bits` each) and out_data (the
    output pixel's codes from those sums); sets the layer's engine numbers."""
    channels = layer.in_shape[0]
    pixels = layer.pixels
    a_bits, s_bits = layer.accumulator_bits, layer.sum_bits
    module = Module(f"{layer.name}_engine")
    module.port("input", "in_data", layer.inp.width)
    module.port("input", "acc", channels * a_bits)
    module.port("output", "sum_data", channels * s_bits)
    module.port("output", "out_data", layer.out.width)
    lo, hi = layer.inp.code_range
    weights = np.asarray(op.weight_codes()).reshape(channels, -1)[:, 0]
    module.comment(f"global pool over {layer.in_shape[1]}x{layer.in_shape[2]} pixels, {channels} channels: "
                   "sum = acc + pixel, codes from the frame's sums")
    sums = []
    for c in range(channels):
        pixel = module.input_element("in_data", c, layer.inp.bits, layer.inp.signed)
        acc = module.input_element("acc", channels + c, a_bits, True, bit_offset=c * a_bits)  # column C + c
        acc = module.narrow(acc, (pixels - 1) * lo, (pixels - 1) * hi)
        total = module.add(acc, pixel, base=f"sum{c}")
        module.output("sum_data", c * s_bits, total, s_bits, True)
        sums.append(total)
    accs = dot_products(module, sums, [[(c, int(weights[c]))] for c in range(channels)], base="acc")
    out_lo, out_hi = datatype_range(op.get_nodeattr("out_dtype"))
    thresholds = op.threshold_codes()
    for c, acc in enumerate(accs):
        if op.get_nodeattr("requant") == "thresholds":
            code = requantize(module, acc, [int(t) for t in thresholds[c]], int(op.get_nodeattr("out_base")),
                              f"out{c}", op.get_nodeattr("threshold_weights"))
        else:
            code = acc
        if code.lo < out_lo or code.hi > out_hi:
            raise AssertionError(f"{layer.name}: channel {c} range [{code.lo}, {code.hi}] exceeds "
                                 f"{op.get_nodeattr('out_dtype')}")
        module.output("out_data", c * layer.out.bits, code, layer.out.bits, layer.out.signed)
    layer.engine_latency, layer.engine_levels = 0, logic_levels(module.netlist)
    engine_cost = cost(module.lowered())
    # + the pixel counter's incrementer (the accumulators' adders are the engine's sums)
    layer.adders = engine_cost.adders
    layer.estimated_luts = engine_cost.luts + max(1, (pixels - 1).bit_length())
    layer.result_order = None
    return module
