"""The folded window engine of a streaming QConv2D layer: the dense fold datapath over the
window vector.

A streaming conv layer (chisel/stream/) hands its engine one window per output pixel: the
KH*KW*C input codes, element (u, v, c) at `window_index(layer, u, v, c)`.  Every output
channel o is a dot product over that vector, so the engine IS a dense layer with the
weight matrix

    W'[o, window_index(layer, u, v, c)] = w[o, c - first(o), u, v]

(first(o) = the first input channel of o's group; a grouped or depthwise conv has zeros
outside its group), and reuse factor R folds it exactly as a QDense layer is folded
(`datapath.unit_module`): G = ceil(O / R) constant-weight units compute the O channels over
S = ceil(O / G) <= R steps, unit u computing row rows[u][r] at step r; weights stay
constants of the logic, selected per step.  The streaming wrapper
(stream/layer_verilog.py) holds the window for the S steps, keeps the results of steps
0..S-2 and loads the output register, in output channel order, at the last one; the
schedule model (stream/schedule.py) knows the layer takes S cycles per output pixel.
The memory form (chisel/fold/memory.py) reads W' rows from a ROM word per step instead.
"""
import numpy as np

from qonnx_c4ml.chisel.fold.datapath import estimate_folded_operators, fold_geometry, slot_order, unit_module
from qonnx_c4ml.chisel.fold.memory import memory_unit_module
from qonnx_c4ml.chisel.stream.geometry import GlobalPoolLayer, layer_geometry, window_index
from qonnx_c4ml.interface import Port


def window_weights(layer, op):
    """W' [O, KH*KW*C]: the conv's weights as a dense matrix over the window vector (see module doc)."""
    weights = np.asarray(op.weight_codes(), dtype=np.int64)
    group = int(op.get_nodeattr("group"))
    out_channels, per_group, kh, kw = weights.shape
    c_in = layer.in_shape[0]
    matrix = np.zeros((out_channels, kh * kw * c_in), dtype=np.int64)
    o, g_c, u, v = np.meshgrid(np.arange(out_channels), np.arange(per_group), np.arange(kh), np.arange(kw),
                               indexing="ij")
    first = (o // (out_channels // group)) * per_group
    matrix[o, window_index(layer, u, v, first + g_c)] = weights  # window_index is arithmetic: it takes arrays
    return matrix


def folded_conv_engine(layer, op, reuse_factor):
    """(unit Module named `<layer>_engine`, units G, steps S, order) of a QConv2D folded by
    `reuse_factor`: ports in_data (the window vector), step (when S > 1), out_data (G codes);
    order[o] = the slot r*G + u whose code is output channel o.  A `memory.InMemory` reuse
    factor (S > 1) builds the memory form instead: w_data replaces step, and
    `layer.weight_rom` = (word width, words, step_port) tells the wrapper (stream/layer_verilog.py) its ROM."""
    matrix = window_weights(layer, op)
    arguments = (f"{layer.name}_engine", matrix, layer.inp, op.get_nodeattr("out_dtype"), op.get_nodeattr("requant"),
                 op.threshold_codes(), op.get_nodeattr("out_base"), int(reuse_factor),
                 op.get_nodeattr("threshold_weights"))
    layer.weight_rom = None
    if getattr(reuse_factor, "weight_memory", False) and fold_geometry(matrix.shape[0], int(reuse_factor))[1] > 1:
        unit, code, units, steps, rows, rom = memory_unit_module(*arguments)
        layer.weight_rom = (rom.width, rom.words(), rom.step_port)
    else:
        unit, code, units, steps, rows = unit_module(*arguments)
    if Port(layer.out.elements, code.bits, code.signed) != layer.out:
        raise AssertionError(f"{layer.name}: unit codes {code} do not match the pixel port {layer.out}")
    return unit, units, steps, slot_order(rows, units, matrix.shape[0])


def estimate_front_operators(ops, reuse_factors):
    """Upper estimate of the adders/comparators of a streaming front whose convs fold by
    `reuse_factors` (one per op): per conv `estimate_folded_operators` on W', per pool one
    comparator per window tap and channel, per global pool (stream/global_pool.py) an
    accumulator adder and a comparator and count adder per threshold column and channel."""
    total = 0
    for op, factor in zip(ops, reuse_factors):
        layer = layer_geometry(op)
        if layer.op_type == "QMaxPool2D":
            total += layer.in_shape[0] * layer.kernel[0] * layer.kernel[1]
        elif isinstance(layer, GlobalPoolLayer):
            thresholds = np.asarray(op.threshold_codes())
            total += layer.in_shape[0] * (1 + 2 * (thresholds.shape[-1] if thresholds.size else 0))
        else:
            total += estimate_folded_operators(window_weights(layer, op), op.threshold_codes(), factor)
    return total



def reuse_for_frame_target(op, target_ii):
    """The reuse factor of a streaming layer for a frame II of `target_ii` cycles, as
    fold/choose.reuse_for_target does for dense layers: the largest R whose S * OH * OW
    cycles per frame stay within the target (R = 1 for pools, or when even R = 1 does not)."""
    layer = layer_geometry(op)
    if layer.op_type == "QMaxPool2D":
        return 1
    out_channels, oh, ow = layer.out_shape
    return max(1, min(out_channels, int(target_ii) // (oh * ow)))
