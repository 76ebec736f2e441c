"""The window engine of a streaming layer: window vector (KH*KW*C elements) -> one output pixel.

QConv2D: shift-add dot products + requantization per output channel; QMaxPool2D: a max tree
per channel.  Built on the logic IR; with `stage_levels` pipelined, registers loading only
while `enable` is high (a stalled stream freezes the engine with its valid bits).

A QConv2D with reuse factor R > 1 gets the folded engine instead (chisel/fold/conv.py): the
dense fold datapath over the window vector, G = ceil(O / R) units computing the O channels
over S = ceil(O / G) steps (a `step` input; out_data holds the G codes of one step), which
the wrapper (layer_verilog.py) drives for S cycles per window.  R = 1 is the fully
parallel engine above, unchanged.

A global pool (geometry.GlobalPoolLayer) gets the accumulating stage's engine instead
(chisel/stream/global_pool.py); it never folds.

`EngineCache` keeps the engines (and their Verilog text) of one generation: the folded style's
chooser may generate the front again with a few reuse factors changed
(transformations/generate_folded.py), and an engine is a function of its op's node, its
module name, the reuse factor and stage_levels only, so an unchanged layer reuses it.
"""
import hashlib

import numpy as np

from qonnx_c4ml.chisel.arith import dot_products, max_tree, requantize
from qonnx_c4ml.chisel.fold.conv import folded_conv_engine
from qonnx_c4ml.chisel.fold.datapath import step_counter_bits
from qonnx_c4ml.chisel.hw import Module
from qonnx_c4ml.chisel.logic.cost import cost
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.chisel.logic.passes import logic_levels
from qonnx_c4ml.chisel.stream.geometry import GlobalPoolLayer, window_index
from qonnx_c4ml.chisel.stream.global_pool import global_pool_engine
from qonnx_c4ml.lbir.dtypes import datatype_range

def engine_module(layer, op, stage_levels=None, reuse_factor=1):
    """The window engine: window vector (KH*KW*C elements) -> one output pixel (O elements),
    or with `reuse_factor` R > 1 the folded engine (G codes per step, see module doc); sets
    the layer's engine and fold numbers."""
    if isinstance(reuse_factor, bool) or not isinstance(reuse_factor, (int, np.integer)) or reuse_factor < 1:
        raise UnsupportedModelError(f"{layer.name}: reuse factor {reuse_factor!r} is not an integer >= 1")
    if isinstance(layer, GlobalPoolLayer):
        if reuse_factor > 1:
            raise UnsupportedModelError(
                f"{layer.name}: reuse factor {reuse_factor} for a global pool; its stage accumulates one pixel "
                "per cycle and does not fold", hint="give global pooling layers reuse factor 1")
        return global_pool_engine(layer, op)
    if reuse_factor > 1:
        return _folded_engine(layer, op, stage_levels, reuse_factor)  # an int, or fold.memory.InMemory
    c_in = layer.in_shape[0]
    kh, kw = layer.kernel
    n_window = kh * kw * c_in
    module = Module(f"{layer.name}_engine", stage_levels)
    if stage_levels:
        module.port("input", "clock", 1)
        module.port("input", "enable", 1)
    module.port("input", "in_data", n_window * layer.inp.bits)
    module.port("output", "out_data", layer.out.width)
    inputs = [module.input_element("in_data", k, layer.inp.bits, layer.inp.signed) for k in range(n_window)]
    out_lo, out_hi = datatype_range(op.get_nodeattr("out_dtype"))
    codes = []
    if layer.op_type == "QConv2D":
        weights = op.weight_codes()
        group = int(op.get_nodeattr("group"))
        out_channels, per_group = weights.shape[:2]
        connections = []
        for o in range(out_channels):
            first = (o // (out_channels // group)) * per_group
            connections.append([(window_index(layer, u, v, first + g_c), int(weights[o, g_c, u, v]))
                                for g_c in range(per_group) for u in range(kh) for v in range(kw)
                                if weights[o, g_c, u, v]])
        module.comment(f"{out_channels} dot products over a {kh}x{kw}x{c_in} window "
                       f"({np.count_nonzero(weights)} non-zero weights)")
        accs = dot_products(module, inputs, connections)
        requant = op.get_nodeattr("requant")
        thresholds = op.threshold_codes()
        for m, acc in enumerate(accs):
            if requant == "thresholds":
                code = requantize(module, acc, [int(t) for t in thresholds[m]], int(op.get_nodeattr("out_base")),
                                  f"out{m}", op.get_nodeattr("threshold_weights"))
            else:
                code = acc
            codes.append(code)
    else:
        module.comment(f"max over a {kh}x{kw} window, {c_in} channels (padding enters as the smallest code)")
        for c in range(c_in):
            window = [inputs[window_index(layer, u, v, c)] for u in range(kh) for v in range(kw)]
            codes.append(max_tree(module, window, base=f"max{c}"))
    for m, code in enumerate(codes):
        if code.lo < out_lo or code.hi > out_hi:
            raise AssertionError(f"{layer.name}: channel {m} range [{code.lo}, {code.hi}] exceeds "
                                 f"{op.get_nodeattr('out_dtype')}")
    for m, code in enumerate(codes):
        module.output("out_data", m * layer.out.bits, code, layer.out.bits, layer.out.signed)
    layer.engine_latency, layer.engine_levels = module.latency, logic_levels(module.netlist)
    engine_cost = cost(module.lowered())
    layer.adders, layer.estimated_luts = engine_cost.adders, engine_cost.luts
    layer.engine_flip_flops = engine_cost.flip_flops
    layer.result_order = None
    return module


def _folded_engine(layer, op, stage_levels, reuse_factor):
    """The folded engine of a QConv2D (chisel/fold/conv.py) and the layer's fold numbers."""
    if layer.op_type != "QConv2D":
        raise UnsupportedModelError(f"{layer.name}: reuse factor {reuse_factor} for a {layer.op_type}; only "
                                    "QConv2D layers fold", hint="give pooling layers reuse factor 1")
    if stage_levels:
        raise UnsupportedModelError(f"{layer.name}: a folded conv engine (reuse factor {reuse_factor}) is not "
                                    "pipelined", hint="use reuse factor 1 with stage_levels")
    module, units, steps, order = folded_conv_engine(layer, op, reuse_factor)
    engine_cost = cost(module.lowered())
    step_bits = step_counter_bits(steps)
    layer.reuse_factor, layer.units, layer.steps = int(reuse_factor), units, steps
    layer.engine_latency, layer.engine_levels = 0, engine_cost.levels
    # + the step counter's incrementer and the finish logic, as fold/generate.fold_layer counts them
    layer.adders, layer.estimated_luts = engine_cost.adders, engine_cost.luts + step_bits + 2
    # the output register's channel o is slot order[o] of the steps' results
    layer.result_order = None if order == list(range(len(order))) else order
    _, oh, ow = layer.out_shape
    layer.ii_cycles = max(layer.in_shape[1] * layer.in_shape[2], steps * oh * ow)
    return module



def engine_verilog(layer, engine, header):
    """Verilog text of `engine`: pipeline registers gated by `enable` when it has stages."""
    return engine.verilog(header, enable="enable") if layer.engine_latency else engine.verilog(header)


# the layer fields engine_module sets (restored from the cache with the engine)
ENGINE_FIELDS = ("engine_latency", "engine_levels", "engine_flip_flops", "adders", "estimated_luts", "result_order",
                 "reuse_factor", "units", "steps", "ii_cycles")


class EngineCache:
    """Engines of one generation by (the op's node, module name, stage_levels, reuse factor and
    its weight form -- fold/memory.InMemory(R) == R as an int, so the form is a key of its own):
    `engine` is engine_module with the built Module and the layer fields it sets kept, `verilog`
    engine_verilog with the text kept (see module doc)."""

    def __init__(self):
        self._engines, self._texts = {}, {}

    def engine(self, layer, op, stage_levels=None, reuse_factor=1):
        node = hashlib.sha256(op.onnx_node.SerializeToString(deterministic=True)).hexdigest()
        key = (node, layer.name, stage_levels, int(reuse_factor), getattr(reuse_factor, "weight_memory", False))
        if key not in self._engines:
            module = engine_module(layer, op, stage_levels, reuse_factor)
            self._engines[key] = module, {name: getattr(layer, name) for name in ENGINE_FIELDS}
        module, fields = self._engines[key]
        for name, value in fields.items():
            setattr(layer, name, value)
        return module

    def verilog(self, layer, engine, header):
        key = (id(engine), header)
        if key not in self._texts:
            self._texts[key] = engine, engine_verilog(layer, engine, header)  # the engine kept: its id stays unique
        return self._texts[key][1]
