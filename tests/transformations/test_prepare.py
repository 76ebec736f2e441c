"""transformations/prepare.py: the clean-up before lowering (legacy domains, static inputs,
constant sub-graphs, node names) on a copy, never on the user's model."""
import numpy as np
from lowering_graphs import Graph
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper

from qonnx_c4ml.transformations.prepare import (LEGACY_DOMAINS, QONNX_GENERAL, give_unique_node_names,
                                                has_foldable_constants, prepare_for_lowering, remove_static_inputs,
                                                rename_legacy_domains)
from qonnx_c4ml.reference import execute
from qonnx_c4ml.verify import random_inputs


def small_mlp():
    g = Graph()
    y = g.node("MatMul", [g.quant("inp", 0.5, 4), g.weights(g.random_codes((4, 3)))])
    return g.model([4], g.quant(y, 0.25, 4))


def test_legacy_domains_are_renamed():
    model = small_mlp()
    for node in model.graph.node:
        if node.domain == QONNX_GENERAL:
            node.domain = "onnx.brevitas"
    rename_legacy_domains(model)
    assert {n.domain for n in model.graph.node} == {"", QONNX_GENERAL}
    assert QONNX_GENERAL in {o.domain for o in model.model.opset_import}
    assert "onnx.brevitas" not in {o.domain for o in model.model.opset_import}
    assert set(LEGACY_DOMAINS.values()) <= {QONNX_GENERAL, "qonnx.custom_op.channels_last"}


def test_static_inputs_are_removed_and_ir_version_raised():
    model = small_mlp()
    init = model.graph.initializer[0]
    model.graph.input.append(helper.make_tensor_value_info(init.name, TensorProto.FLOAT, list(init.dims)))
    model.model.ir_version = 3
    remove_static_inputs(model)
    assert [i.name for i in model.graph.input] == ["inp"] and model.model.ir_version == 4


def test_names_are_made_unique():
    model = small_mlp()
    for node in model.graph.node:
        node.name = "same"
    model.graph.node[1].name = ""
    give_unique_node_names(model)
    names = [n.name for n in model.graph.node]
    assert len(set(names)) == len(names) and names[0] == "same"


def test_prepare_copies_folds_and_keeps_the_computation():
    model = small_mlp()
    assert not has_foldable_constants(model)
    # a reshape target computed from constants (as the Shape -> Concat flatten idiom leaves it)
    model.graph.initializer.extend([helper.make_tensor("one", TensorProto.INT64, [1], [0]),
                                    helper.make_tensor("rest", TensorProto.INT64, [1], [-1])])
    concat = helper.make_node("Concat", ["one", "rest"], ["target"], name="target", axis=0)
    out = model.graph.output[0].name
    reshape = helper.make_node("Reshape", [out, "target"], ["flat"], name="")
    model.graph.node.extend([concat, reshape])
    model.graph.output[0].name = "flat"
    model = ModelWrapper(model.model)
    before = [n.name for n in model.graph.node]
    prepared, chain = prepare_for_lowering(model)
    assert [n.name for n in model.graph.node] == before  # the user's model is untouched
    assert chain == ["inp"]
    assert has_foldable_constants(model) and not has_foldable_constants(prepared)
    assert all(n.name for n in prepared.graph.node) and "Concat" not in [n.op_type for n in prepared.graph.node]
    x = random_inputs(model, 16, np.random.default_rng(0))
    assert np.array_equal(execute(prepared, x), execute(model, x))
