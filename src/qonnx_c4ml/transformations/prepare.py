"""The clean-up InferLBIR runs first, on its own copy: QONNX as users bring it -> what the lowering reads.

Pattern in (any of, as older Brevitas/FINN exporters and QKeras converters write them):
- quantizers in the legacy domains `onnx.brevitas`, `finn` or `finn.custom_op.<general|channels_last>`;
- initializers also listed as graph inputs (ONNX IR < 4 style, kept by exporters up to IR 7);
- no inferred shapes, and constant sub-graphs such as the Shape -> Gather -> Unsqueeze -> Concat
  -> Reshape flatten (whose target shape inference cannot see through);
- empty or repeated node names;
- no input quantizer, the input type given by an annotation or by `input_datatype`
  (`input_type.apply_input_grid`).

Pattern out: the same computation with qonnx domains, one graph input per real input, every
shape inferred, constant shape sub-graphs folded to initializers (quantizers are never
folded: the lowering needs their integer codes), unique node names, and an input quantizer.
What stays the user's: the graph input/output names and shapes, and (restored on the lowered
model by `restore_input_annotations`) the datatype annotations on the host's input tensors.
The user's model object is never changed: everything happens on a deep copy.
"""
import copy

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.fold_constants import FoldConstants
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.names import unique_name
from qonnx_c4ml.transformations.constants import QUANTIZER_OPS
from qonnx_c4ml.transformations.finn_front import rewrite_finn_ops
from qonnx_c4ml.transformations.input_type import apply_input_grid

QONNX_GENERAL = "qonnx.custom_op.general"
# legacy domain -> qonnx domain (qonnx's ModelWrapper renames "finn"/"finn.custom_op.general" itself
# when it reads a file, but not a proto built in memory, and never "onnx.brevitas")
LEGACY_DOMAINS = {
    "onnx.brevitas": QONNX_GENERAL,
    "finn": QONNX_GENERAL,
    "finn.custom_op.general": QONNX_GENERAL,
    "finn.custom_op.channels_last": "qonnx.custom_op.channels_last",
}
# never folded into constants: the lowering reads quantizer parameters, not their float outputs
KEEP_OPS = QUANTIZER_OPS + ("Trunc", "FloatQuant", "QuantizeLinear", "DequantizeLinear")
MIN_IR_VERSION = 4  # initializers outside the graph inputs need IR >= 4


def prepare_for_lowering(model, input_datatype=None):
    """A cleaned deep copy of `model` (see module doc) and the tensors of its host input chain."""
    model = ModelWrapper(copy.deepcopy(model.model))
    rename_legacy_domains(model)
    rewrite_finn_ops(model)  # FINN's XnorPopcountMatMul / MVAU / Thresholding -> standard ops
    remove_static_inputs(model)
    model = model.transform(InferShapes())
    if has_foldable_constants(model):
        model = model.transform(FoldConstants(exclude_op_types=list(KEEP_OPS)))
        model = model.transform(InferShapes())
    give_unique_node_names(model)
    input_chain = apply_input_grid(model, input_datatype)
    return model, input_chain


def rename_legacy_domains(model):
    """Nodes and opset imports of legacy domains move to their qonnx domains."""
    for node in model.graph.node:
        node.domain = LEGACY_DOMAINS.get(node.domain, node.domain)
    versions = {}
    for opset in model.model.opset_import:
        domain = LEGACY_DOMAINS.get(opset.domain, opset.domain)
        versions[domain] = max(versions.get(domain, 0), opset.version)
    used = {n.domain for n in model.graph.node if n.domain}
    for domain in used - set(versions):
        if domain.startswith("qonnx.custom_op"):
            versions[domain] = 1
    del model.model.opset_import[:]
    for domain, version in versions.items():
        model.model.opset_import.add(domain=domain, version=version)


def remove_static_inputs(model):
    """Graph inputs that are initializers (old exporters list every weight) stop being inputs
    (which needs IR version 4 or later)."""
    initializers = {i.name for i in model.graph.initializer}
    static = [i for i in model.graph.input if i.name in initializers]
    for value in static:
        model.graph.input.remove(value)
    model.model.ir_version = max(model.model.ir_version, MIN_IR_VERSION)


def has_foldable_constants(model):
    """True if a non-quantizer node computes a constant (its inputs are all initializers, or it is a
    Shape of a known shape): the Shape/Gather/Concat flatten idiom and other exporter leftovers."""
    initializers = {i.name for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type in KEEP_OPS:
            continue
        if node.op_type == "Shape":
            shape = model.get_tensor_shape(node.input[0])
            if shape is not None and all(isinstance(d, int) and d > 0 for d in shape):
                return True
        elif node.input and all(not name or name in initializers for name in node.input):
            return True
    return False


def give_unique_node_names(model):
    """The lowering tracks nodes by name; exporters may leave names empty or repeated."""
    taken = set()
    for index, node in enumerate(model.graph.node):
        if not node.name or node.name in taken:
            node.name = unique_name(f"{node.op_type}_{index}", taken)
        taken.add(node.name)


def restore_input_annotations(prepared, lowered, tensors):
    """Datatype annotations of the host's input tensors (the user's statement of the input type)
    carried over to the lowered model, where those tensors still exist."""
    present = {i.name for i in lowered.graph.input} | {o for n in lowered.graph.node for o in n.output}
    for name in tensors:
        dtype = prepared.get_tensor_datatype(name)
        if name in present and dtype is not None and dtype.get_canonical_name() != "FLOAT32" \
                and lowered.get_tensor_datatype(name).get_canonical_name() == "FLOAT32":
            lowered.set_tensor_datatype(name, dtype)
    return lowered
