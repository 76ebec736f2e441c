"""The circuit's input grid for models without an input quantizer.

A QKeras-converted model starts with `MatMul(global_in, Quant(W))`; a FINN export states the
input type as a qonnx tensor-datatype annotation (`BIPOLAR` after host-side Add/Div
preprocessing, `UINT8` images).  The circuit needs integer input codes, so:

Pattern in:  graph input -> [host preprocessing: Add/Sub/Mul/Div/BatchNorm, layout ops] -> T -> layers
             (no Quant/BipolarQuant/MultiThreshold on the way; T read by one or more
             MatMul/Gemm/Conv/Pad/pooling nodes, e.g. two MatMuls into a residual Add)
Pattern out: graph input -> [the same preprocessing] -> T -> Quant|BipolarQuant (T's grid) -> every reader
             (an option that cannot be placed so is an error naming the reader that stops it)

T's grid comes from, first to last:
- `InferLBIR(input_datatype="FIXED<16,6>")` / `--input-type` (hls4ml's convention: a float input
  is a fixed-point type the user chooses); it describes T, the tensor the first layer reads;
- T's qonnx datatype annotation, or that of a tensor joined to T by layout ops only.
The inserted quantizer rounds half to even onto the grid and saturates at its ends (qonnx
`Quant`, `rounding_mode="ROUND"`; BIPOLAR: x >= 0 -> +1, else -1).  On inputs already on the
grid it is the identity, so the model equals the original there: that is the exactness claim.

A model that has an input quantizer keeps it.  An option, or an annotation on the quantizer's
input or output tensor, that names another grid is an error (which one is the circuit's input
would be a guess); qonnx's own `SCALEDINT` marker on a quantizer output agrees with any scale.
A quantizer's grid includes its zero-point ((q - zp) * scale: UINT8 with zp 128 is INT8's grid).

`input_grid_at_graph_input` tells `verify` where to draw random inputs: on the grid, through
constant Add/Sub/Mul/Div preprocessing inverted (checked in float32), else an error asking for
inputs on the grid.
"""
import re
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto, helper

from qonnx.core.datatype import DataType

from qonnx_c4ml.errors import C4mlError, UnsupportedModelError
from qonnx_c4ml.transformations.constants import HOST_PREFIX_OPS, LAYOUT_OPS, QUANTIZER_OPS, ConstantEvaluator, \
    quant_code_range, quant_parameters
from qonnx_c4ml.transformations.zero_point import zero_point

# what the host may run before the circuit (one definition: constants.HOST_PREFIX_OPS)
PREPROCESSING_OPS = HOST_PREFIX_OPS
# ops that start the circuit: without a quantizer before them they need an input grid
LAYER_OPS = ("MatMul", "Gemm", "Conv", "MaxPool", "AveragePool", "GlobalAveragePool")
# ops the circuit can take as the first readers of its input codes (a Pad before a Conv too)
CIRCUIT_INPUT_OPS = LAYER_OPS + ("Pad",)
# host preprocessing random test inputs can be drawn through (inverted on a grid draw)
INVERTIBLE_OPS = ("Add", "Sub", "Mul", "Div")
ACCEPTED_FORMS = ("INTn (n = 2..16), UINTn (n = 1..16), BINARY, BIPOLAR, TERNARY, FIXED<w,i> (w = 1..16 total "
                  "bits including the sign, i integer bits, as hls4ml's ap_fixed<w,i>)")
OPTION_HINT = ("pass the input type: InferLBIR(input_datatype=\"FIXED<16,6>\") in Python, "
               "--input-type FIXED<16,6> on the command line (forms: " + ACCEPTED_FORMS + ")")
MAX_BITS = 16


@dataclass(frozen=True)
class InputGrid:
    """value = scale * (q - zero) for the codes q of a `bits`-bit Quant (or +-scale when bipolar)."""

    name: str
    scale: float
    bits: int
    signed: bool
    narrow: bool = False
    bipolar: bool = False
    zero: int = 0  # a Quant's zero-point (qonnx: value (q - zp) * scale)

    @property
    def code_range(self):
        return (0, 1) if self.bipolar else quant_code_range(self.bits, self.signed, self.narrow)

    def values(self):
        """Every value of the grid, ascending (float32, as the reference computes them)."""
        if self.bipolar:
            return np.array([-self.scale, self.scale], np.float32)
        lo, hi = self.code_range
        codes = np.arange(lo, hi + 1, dtype=np.float32) - np.float32(self.zero)
        return (codes * np.float32(self.scale)).astype(np.float32)

    def same_values(self, other):
        return np.array_equal(self.values(), other.values())

    def random(self, shape, rng):
        """Random inputs on the grid: the two ends first, then uniform codes."""
        values = self.values()
        picks = rng.integers(0, values.size, size=shape)
        flat = picks.reshape(-1)
        flat[: min(2, flat.size)] = [0, values.size - 1][: min(2, flat.size)]
        return values[picks].astype(np.float32)

    def describe(self):
        if self.bipolar:
            return f"{self.name} (+-{self.scale:g})"
        lo, hi = self.code_range
        zero = f", zero-point {self.zero}" if self.zero else ""
        return f"{self.name} (codes {lo}..{hi} x {self.scale:g}{zero})"


def parse_input_datatype(text):
    """An `InputGrid` from a type string such as "FIXED<16,6>", "INT8", "BIPOLAR" (any case);
    raises C4mlError naming the accepted forms."""
    if isinstance(text, InputGrid):
        return text
    if not isinstance(text, str) or not text.strip():
        raise C4mlError(f"input type {text!r} is not a type name; accepted: {ACCEPTED_FORMS}")
    clean = re.sub(r"\s+", "", text).upper()
    clean = clean[3:] if clean.startswith("AP_") else clean  # hls4ml's ap_fixed<16,6> spelling
    try:
        dtype = DataType[clean]
    except (KeyError, ValueError, AssertionError, IndexError):
        raise C4mlError(f"input type {text!r} is not understood; accepted: {ACCEPTED_FORMS}") from None
    try:
        return grid_of_datatype(dtype)
    except UnsupportedModelError as error:
        raise C4mlError(f"input type {text!r}: {error}") from None


def grid_of_datatype(dtype):
    """The grid of a qonnx DataType, or UnsupportedModelError if it is none the circuit can take."""
    name = dtype.get_canonical_name()
    if name == "BIPOLAR":
        return InputGrid(name, 1.0, 1, True, bipolar=True)
    if name == "TERNARY":
        return InputGrid(name, 1.0, 2, True, narrow=True)
    if name.startswith("SCALEDINT"):
        raise UnsupportedModelError(f"{name} states no scale, so it is no grid the circuit can read",
                                    hint=f"use INTn/UINTn or FIXED<w,i>; accepted: {ACCEPTED_FORMS}")
    if not (dtype.is_integer() or dtype.is_fixed_point()):
        raise UnsupportedModelError(f"{name} is not an integer or fixed-point type",
                                    hint=f"accepted: {ACCEPTED_FORMS}")
    bits = int(dtype.bitwidth())
    if bits == 1 and dtype.is_integer() and dtype.signed():
        # a 1-bit signed Quant is bipolar (-1, +1) in qonnx, not INT1's {-1, 0}
        raise UnsupportedModelError(f"{name} is no grid the circuit takes (a 1-bit signed qonnx Quant is bipolar "
                                    "-1/+1, INT1 is -1/0): use BIPOLAR or BINARY",
                                    hint=f"accepted: {ACCEPTED_FORMS}")
    if not 1 <= bits <= MAX_BITS:
        raise UnsupportedModelError(f"{name} has {bits} bits; the circuit takes 1 to {MAX_BITS}-bit inputs",
                                    hint=f"accepted: {ACCEPTED_FORMS}")
    if dtype.is_fixed_point():
        return InputGrid(name, float(dtype.scale_factor()), bits, True)
    return InputGrid(name, 1.0, bits, bool(dtype.signed()))


def quantizer_grid(node, consts):
    """The grid a quantizer node's output lies on (None when it is not one grid, e.g. per channel)."""
    if node.op_type in ("Quant", "IntQuant"):
        scale, bits, signed, narrow, _ = quant_parameters(node, consts)
        if np.asarray(scale).size != 1:
            return None
        scale = float(np.asarray(scale, np.float32).ravel()[0])
        zero = zero_point(node, consts)
        if zero.size != 1:
            return None
        zero = int(zero.ravel()[0])
        if bits == 1 and signed:
            if zero:
                return None  # the lowering refuses it (zero_point.refuse_bipolar_zero_point)
            return InputGrid(f"bipolar Quant (+-{scale:g})", scale, 1, True, bipolar=True)
        lo, hi = quant_code_range(bits, signed, narrow)
        return InputGrid(f"{bits}-bit Quant", scale, bits, signed, narrow, zero=zero)
    if node.op_type == "BipolarQuant":
        scale = consts.value(node.input[1])
        if scale is None or np.asarray(scale).size != 1:
            return None
        scale = float(np.asarray(scale, np.float32).ravel()[0])
        return InputGrid(f"BipolarQuant (+-{scale:g})", scale, 1, True, bipolar=True)
    return None  # MultiThreshold: its out_scale/out_bias grid is not compared here


def annotated_grid(model, tensor):
    """(DataType, grid or the UnsupportedModelError) of a tensor's non-float annotation, or None."""
    dtype = model.get_tensor_datatype(tensor)
    if dtype is None or dtype.get_canonical_name() == "FLOAT32":
        return None
    try:
        return dtype, grid_of_datatype(dtype)
    except UnsupportedModelError as error:
        return dtype, error


def _prefix_chain(model):
    """Tensors from the graph input through host preprocessing, the nodes between them, and the
    nodes reading the last tensor's values (several when it forks, none when it ends)."""
    tensors, nodes = [model.graph.input[0].name], []
    while True:
        users = [n for n in model.find_consumers(tensors[-1]) or [] if n.op_type != "Shape"]
        if len(users) == 1 and users[0].op_type in PREPROCESSING_OPS:
            tensors.append(users[0].output[0])
            nodes.append(users[0])
            continue
        return tensors, nodes, users


def _is_input_quantizer(users, tensor):
    return len(users) == 1 and users[0].op_type in QUANTIZER_OPS and users[0].input[0] == tensor


def _placement_blocker(tensor, users):
    """The first reader of `tensor` that could not read the circuit's input codes (None: all can)."""
    return next((n for n in users if n.op_type not in CIRCUIT_INPUT_OPS or n.input[0] != tensor), None)


def apply_input_grid(model, input_datatype=None):
    """Insert the input quantizer a model without one needs (see module doc), in place.

    `model` is InferLBIR's private copy. Returns the names of the tensors whose annotations
    describe the host's input (kept on the lowered model)."""
    option = parse_input_datatype(input_datatype) if input_datatype is not None else None
    tensors, nodes, users = _prefix_chain(model)
    consts = ConstantEvaluator(model)
    if _is_input_quantizer(users, tensors[-1]):
        _check_quantizer_agrees(model, users[0], tensors[-1], option, consts)
        return tensors
    blocker = _placement_blocker(tensors[-1], users)
    if blocker is not None or not users:
        if option is not None:
            raise UnsupportedModelError(
                f"the input type {option.describe()} cannot be placed on '{tensors[-1]}': this node reads it "
                "and is no layer the circuit starts with (MatMul, Gemm, Conv, Pad, pooling)", blocker,
                "quantize the input in the model, or make the first layer read the (preprocessed) input")
        return tensors  # the lowering's own message says what stops it
    if option is None and not any(n.op_type in QUANTIZER_OPS for n in model.graph.node):
        return tensors  # a float model: the lowering says so
    grid = _grid_before_layer(model, tensors, nodes, users[0], option)
    _insert_quantizer(model, tensors[-1], users, grid)
    return tensors


def _check_quantizer_agrees(model, quant, tensor, option, consts):
    grid = quantizer_grid(quant, consts)
    if option is not None and (grid is None or not grid.same_values(option)):
        raise UnsupportedModelError(
            f"the model has this input quantizer ({grid.describe() if grid else 'not one grid'}), and the "
            f"input type {option.describe()} was given too", quant,
            "drop the input type option (the quantizer defines the circuit input) or give the quantizer's grid")
    if grid is None:
        return
    for name, where in ((tensor, "input"), (quant.output[0], "output")):
        found = annotated_grid(model, name)
        if found is None or found[0].get_canonical_name().startswith("SCALEDINT") and where == "output":
            continue
        dtype, annotation = found
        if isinstance(annotation, UnsupportedModelError) or not annotation.same_values(grid):
            raise UnsupportedModelError(
                f"its {where} '{name}' is annotated {dtype.get_canonical_name()}, but the quantizer "
                f"quantizes onto {grid.describe()}", quant,
                f"remove the annotation (model.set_tensor_datatype('{name}', DataType['FLOAT32'])) so the "
                "quantizer defines the circuit input, or make the two agree")


def _grid_before_layer(model, tensors, nodes, layer, option):
    """The grid of the tensor `layer` reads: the option, or an annotation reached through layout ops."""
    near = []  # the layer's input, then tensors before it joined by layout ops only
    for i in range(len(tensors) - 1, -1, -1):
        near.append(tensors[i])
        if i == 0 or nodes[i - 1].op_type not in LAYOUT_OPS:
            break
    annotations = [(name, annotated_grid(model, name)) for name in near]
    annotations = [(name, found) for name, found in annotations if found is not None]
    if option is not None:
        for name, (dtype, grid) in annotations:
            if isinstance(grid, UnsupportedModelError) or not grid.same_values(option):
                raise UnsupportedModelError(
                    f"its input '{name}' is annotated {dtype.get_canonical_name()}, but the input type "
                    f"{option.describe()} was given", layer,
                    "give the annotated type (or none: the annotation is used) or remove the annotation")
        return option
    if annotations:
        name, (dtype, grid) = annotations[0]
        if isinstance(grid, UnsupportedModelError):
            raise UnsupportedModelError(f"reads '{name}', annotated {dtype.get_canonical_name()}: {grid.reason}",
                                        layer, OPTION_HINT)
        return grid
    upstream = [(name, annotated_grid(model, name)) for name in tensors if name not in near]
    upstream = [(name, found[0]) for name, found in upstream if found is not None]
    if upstream:
        name, dtype = upstream[-1]
        raise UnsupportedModelError(
            f"reads a float tensor: the annotation {dtype.get_canonical_name()} on '{name}' is followed by "
            "float preprocessing, and there is no input quantizer", layer,
            "annotate the tensor this layer reads, or " + OPTION_HINT)
    raise UnsupportedModelError(
        f"reads the float tensor '{tensors[-1]}': the model has no input quantizer and no input type "
        "annotation", layer, OPTION_HINT)


def _insert_quantizer(model, tensor, readers, grid):
    """tensor -> Quant|BipolarQuant(grid) -> every reader (the quantizer the lowering puts on the host)."""
    taken = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.initializer} | \
        {i.name for i in model.graph.input}
    base = "c4ml_input_grid"
    while any(name.startswith(base) for name in taken):
        base += "_"
    out = base + "_out"

    def constant(suffix, value):
        name = f"{base}_{suffix}"
        model.graph.initializer.append(helper.make_tensor(name, TensorProto.FLOAT, [], [float(value)]))
        return name

    if grid.bipolar:
        node = helper.make_node("BipolarQuant", [tensor, constant("scale", grid.scale)], [out], name=base,
                                domain="qonnx.custom_op.general")
    else:
        node = helper.make_node(
            "Quant", [tensor, constant("scale", grid.scale), constant("zeropt", grid.zero),
                      constant("bits", grid.bits)],
            [out], name=base, domain="qonnx.custom_op.general", signed=int(grid.signed), narrow=int(grid.narrow),
            rounding_mode="ROUND")
    nodes = list(model.graph.node)
    position = min(nodes.index(reader) for reader in readers)
    for reader in readers:
        for i, name in enumerate(reader.input):
            if name == tensor:
                reader.input[i] = out
    model.graph.node.insert(position, node)
    model.set_tensor_shape(out, model.get_tensor_shape(tensor))


class PreprocessedGrid:
    """Random graph inputs whose host preprocessing (constant Add/Sub/Mul/Div, layout ops) lands
    them exactly on `grid` in float32: grid values drawn, the preprocessing inverted, and the
    float32 forward pass checked (an UnsupportedModelError asking for inputs otherwise)."""

    def __init__(self, grid, steps, node):
        self.grid, self.steps, self.node = grid, steps, node

    def forward(self, x):
        for op, position, c in self.steps:
            if op == "Add":
                x = x + c
            elif op == "Sub":
                x = x - c if position == 1 else c - x
            elif op == "Mul":
                x = x * c
            elif op == "Div":
                x = x / c
        return x

    def random(self, shape, rng):
        values = self.grid.random(shape, rng)
        x = values.astype(np.float64)
        with np.errstate(all="ignore"):
            for op, position, c in reversed(self.steps):
                c = c.astype(np.float64)
                if op == "Add":
                    x = x - c
                elif op == "Sub":
                    x = x + c if position == 1 else c - x
                elif op == "Mul":
                    x = x / c
                elif op == "Div":
                    x = x * c
            x = np.broadcast_to(x, shape).astype(np.float32)
            landed = self.forward(x)
        if not np.array_equal(landed, values):
            raise UnsupportedModelError(
                f"random inputs cannot be drawn through the host preprocessing onto {self.grid.describe()} "
                "(its float32 inverse does not land on the grid)", self.node, VERIFY_INPUTS_HINT)
        return x


VERIFY_INPUTS_HINT = "pass inputs whose preprocessing lands on the grid (verify(model, inputs=...))"


def _inverse_steps(model, tensors, nodes):
    """[(op, position of the constant, float32 constant)] of the preprocessing chain, or the node
    that cannot be inverted (BatchNormalization, a non-constant operand, a Div of a constant by data,
    a per-element constant after a layout op)."""
    consts, steps, moved = ConstantEvaluator(model), [], False
    for node, tensor in zip(nodes, tensors):
        if node.op_type in LAYOUT_OPS:
            moved = True
            continue
        if node.op_type not in INVERTIBLE_OPS or len(node.input) != 2:
            return node
        position = 1 if node.input[0] == tensor else 0
        value = consts.value(node.input[position])
        if value is None or (node.op_type == "Div" and position == 0) or (moved and np.asarray(value).size != 1):
            return node
        steps.append((node.op_type, position, np.asarray(value, np.float32)))
    return steps


def input_grid_at_graph_input(model, input_datatype=None):
    """What random test inputs should be drawn from when the model has no input quantizer: the
    grid (an InputGrid) when it is on the graph input itself (layout ops aside), a
    PreprocessedGrid behind constant Add/Sub/Mul/Div; None when the model has an input quantizer
    (or no grid). Raises UnsupportedModelError when the grid is behind preprocessing that cannot
    be inverted (inputs on the grid must then be given)."""
    tensors, nodes, users = _prefix_chain(model)
    if not users or _placement_blocker(tensors[-1], users) is not None:
        return None
    if input_datatype is not None:
        grid = parse_input_datatype(input_datatype)
    else:
        try:
            grid = _grid_before_layer(model, tensors, nodes, users[0], None)
        except UnsupportedModelError:
            return None
    if all(n.op_type in LAYOUT_OPS for n in nodes):
        return grid
    steps = _inverse_steps(model, tensors, nodes)
    if not isinstance(steps, list):
        raise UnsupportedModelError(
            f"the input grid {grid.describe()} is behind host preprocessing random inputs cannot be drawn "
            "through", steps, VERIFY_INPUTS_HINT)
    return PreprocessedGrid(grid, steps, users[0])
