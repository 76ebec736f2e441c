"""The reuse factors of the folded style: given (`reuse_factor`: an int or {node name: R}) or
chosen (`target_ii` cycles per frame and/or `max_luts` estimated LUTs, chisel/fold/choose.py)
for every foldable layer -- the QConv2D nodes of the streaming front (residual branches
included: S steps per output pixel, S * OH * OW cycles per frame) and the dense chain after it
(S steps per sample).  Pools and residual joins never fold (R = 1); they and the input rate set
the front's fewest cycles per frame, below which no budget is tried, and its line-buffer reads
count as LUTs that do not fold.  Each folded layer is built in the weight form the policy
(GenerateChiselCircuit's weight_memory) gives it at its R: constant selects or the weight ROM
(chisel/fold/memory.py), "auto" the one with the smaller estimate; the chooser's LUT model of
a layer is that form's (FormModels)."""
import math

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.chisel.fold.choose import FoldableLayer, choose_folding, dense_layer, reuse_for_target
from qonnx_c4ml.chisel.fold.conv import reuse_for_frame_target, window_weights
from qonnx_c4ml.chisel.fold.datapath import fold_geometry
from qonnx_c4ml.chisel.fold.estimate import DenseLutModel, MemoryLutModel
from qonnx_c4ml.chisel.generator import port_for_dtype
from qonnx_c4ml.chisel.stream.geometry import is_global_pool, layer_geometry
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations.stream_front import front_nodes


def reuse_factors(nodes, reuse_factor):
    """One reuse factor per node from an int (every layer) or a dict {node name: R} (the
    others 1); refuses unknown names and values below 1."""
    names = [node.name for node in nodes]
    if isinstance(reuse_factor, dict):
        unknown = sorted(set(reuse_factor) - set(names))
        if unknown:
            raise UnsupportedModelError(f"reuse_factor names {', '.join(unknown)}, which are not LBIR layers of "
                                        "this circuit", hint=f"the layers are {', '.join(names)}")
        factors = [reuse_factor.get(name, 1) for name in names]
    else:
        factors = [reuse_factor] * len(names)
    for name, factor in zip(names, factors):
        if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
            raise UnsupportedModelError(f"reuse_factor {factor!r} for layer '{name}' is not an integer >= 1")
    return factors


def front_reuse_factors(front, rest, reuse_factor):
    """(front factors, one per node of stream_front.front_nodes(front); dense factors): an int
    folds every QConv2D (residual branches too) and QDense layer (QMaxPool2D and a residual
    block's QAdd stay 1); a dict {node name: R} may name the front's QConv2D nodes and the
    dense ones."""
    nodes = front_nodes(front)
    factors = reuse_factors(nodes + rest, reuse_factor)
    front_factors = factors[:len(nodes)]
    for k, node in enumerate(nodes):
        if node.op_type in ("QMaxPool2D", "QAdd") or is_global_pool_node(node):
            if isinstance(reuse_factor, dict) and front_factors[k] != 1:
                what = "pooling layers" if node.op_type != "QAdd" else "residual joins"
                raise UnsupportedModelError(f"reuse_factor {front_factors[k]} for {node.op_type} '{node.name}': {what} "
                                            "do not fold", hint="name QConv2D and QDense layers only")
            front_factors[k] = 1
    return front_factors, factors[len(nodes):]


def is_global_pool_node(node):
    """A QConv2D that streams as a global pool's accumulating stage (never folds)."""
    return node.op_type == "QConv2D" and is_global_pool(getCustomOp(node))


def foldable_nodes(front, rest):
    """The layers the chooser folds: the front's QConv2D nodes (not global pools), then the dense chain."""
    return [n for n in front_nodes(front) if n.op_type == "QConv2D" and not is_global_pool_node(n)] + list(rest)


def front_min_cycles(front):
    """Fewest cycles per frame of the front with nothing folded: every streaming layer reads
    and writes one pixel per cycle (0 without a front)."""
    cycles = 0
    for node in front_nodes(front):
        if node.op_type != "QAdd":
            layer = layer_geometry(getCustomOp(node))
            cycles = max(cycles, layer.in_shape[1] * layer.in_shape[2], layer.out_shape[1] * layer.out_shape[2])
    return cycles


def front_read_luts(front):
    """The front's line-buffer read muxes (geometry.read_mux_luts) at the line buffers' first
    size: LUTs no reuse factor changes, which the chooser counts against max_luts."""
    return sum(layer_geometry(getCustomOp(n)).read_mux_luts for n in front_nodes(front) if n.op_type != "QAdd")


class FormModels:
    """One foldable layer's LUT models of both weight forms (chisel/fold/estimate.py) and the
    weight_memory policy: `memory(R)` says whether the layer is built in the memory form at R
    ("always": whenever it has more than one step; "auto": when that form's estimate is the
    smaller), `luts(R)` the estimate of the form it is built in."""

    def __init__(self, weights, x_lo, x_hi, thresholds, policy="auto"):
        self.constant = DenseLutModel(weights, x_lo, x_hi, thresholds)
        self.in_memory = MemoryLutModel(weights, x_lo, x_hi, thresholds) if policy != "never" else None
        self.policy = policy

    def memory(self, reuse_factor):
        numbers = self.in_memory.numbers(reuse_factor) if self.in_memory is not None else None
        if numbers is None:
            return False
        return self.policy == "always" or numbers[0] < self.constant.luts(reuse_factor)

    def luts(self, reuse_factor):
        if self.memory(reuse_factor):
            return self.in_memory.luts(reuse_factor)
        return self.constant.luts(reuse_factor)


def form_models(nodes, policy="auto"):
    """FormModels of `nodes` (foldable_nodes): a dense layer's weights, or a convolution's
    window matrix W' (chisel/fold/conv.py)."""
    models = []
    for node in nodes:
        op = getCustomOp(node)
        thresholds = op.threshold_codes() if op.get_nodeattr("requant") == "thresholds" else ()
        if node.op_type == "QConv2D":
            geometry = layer_geometry(op)
            models.append(FormModels(window_weights(geometry, op), *geometry.inp.code_range, thresholds, policy))
        else:
            weights = op.weight_codes()
            lo, hi = port_for_dtype(weights.shape[1], op.get_nodeattr("in_dtype")).code_range
            models.append(FormModels(weights, lo, hi, thresholds, policy))
    return models


def lut_models(nodes, models=None):
    """The chooser's FoldableLayers of `nodes` (foldable_nodes), LUTs from `models`
    (form_models; by default the "auto" policy's)."""
    layers = []
    for node, model in zip(nodes, models or form_models(nodes)):
        op = getCustomOp(node)
        if node.op_type == "QConv2D":
            geometry = layer_geometry(op)
            outputs, pixels = op.weight_codes().shape[0], geometry.out_shape[1] * geometry.out_shape[2]
            layers.append(FoldableLayer(node.name, int(outputs),
                                        lambda r, m=int(outputs), p=pixels: fold_geometry(m, r)[1] * p, model.luts))
        else:
            layers.append(dense_layer(node.name, op.weight_codes().shape[0], model.luts))
    return layers


def weight_forms(nodes, factors, policy, models=None):
    """{node name: True when built in the memory form} for `nodes` (foldable_nodes) at their
    chosen reuse factors `factors` ({node name: R})."""
    if policy == "never":
        return {node.name: False for node in nodes}
    if policy == "always":
        return {node.name: fold_geometry(int(getCustomOp(node).weight_codes().shape[0]), factors[node.name])[1] > 1
                for node in nodes}
    models = models or form_models(nodes, policy)
    return {node.name: model.memory(factors[node.name]) for node, model in zip(nodes, models)}


def calibrated(layer, reuse_factor, exact_luts):
    """`layer` with its LUT model scaled to meet the exact estimate `exact_luts` at `reuse_factor`
    (the model's error changes slowly with R, so the next choice lands closer)."""
    ratio = exact_luts / max(1, layer.luts(reuse_factor))
    model = layer.luts
    return FoldableLayer(layer.name, layer.max_reuse, layer.cycles, lambda r: math.ceil(model(r) * ratio))


def choose_reuse_factors(transformation, front, rest, layers=None, min_ii=1):
    """(front factors, one per front node; dense factors; {node name: the constraint that chose
    its R}) from the transformation's max_luts and/or target_ii (`layers`: lut_models of
    foldable_nodes, budgets from `min_ii` cycles on) or its reuse_factor."""
    nodes = foldable_nodes(front, rest)
    if transformation.max_luts is not None:
        # the front's unfolded rate: no budget below it is tried (the circuit cannot be faster, and
        # every layer folds as far as it allows), and it is a candidate budget itself
        floor, reads = front_min_cycles(front), front_read_luts(front)
        rate = [FoldableLayer("streaming front", 1, lambda r: floor, lambda r: reads)] if front else []
        folding = choose_folding((layers or lut_models(nodes)) + rate, transformation.target_ii,
                                 transformation.max_luts, max(min_ii, floor))
        chosen = dict(zip((n.name for n in nodes), folding.reuse_factors))
        reasons = dict(zip((n.name for n in nodes), folding.chosen_by))
    elif transformation.target_ii is not None:  # FINN SetFolding-like: every layer within the target
        chosen, reasons = {}, {}
        for node in nodes:
            op = getCustomOp(node)
            limit = op.weight_codes().shape[0]  # rows or output channels: R above it folds no further
            chosen[node.name] = (reuse_for_frame_target(op, transformation.target_ii) if node.op_type == "QConv2D"
                                 else reuse_for_target([limit], transformation.target_ii)[0])
            reasons[node.name] = "target_ii" if chosen[node.name] < limit else "fully folded"
    else:
        front_factors, factors = front_reuse_factors(front, rest, transformation.reuse_factor)
        return front_factors, factors, {n.name: "reuse_factor" for n in nodes}
    return ([chosen.get(n.name, 1) for n in front_nodes(front)], [chosen[n.name] for n in rest], reasons)
