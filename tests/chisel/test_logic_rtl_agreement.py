"""The logic IR's numpy evaluation is a third oracle: on random QONNX MLPs (the fuzz graphs of
tests/e2e/test_rtl_random.py) the netlists of every layer, evaluated layer after layer from the
circuit input codes, give exactly the codes Verilator computes from the Verilog written from
the same netlists -- and every layer's codes equal the LBIR (qonnx execution) codes.

One Verilator build for all graphs (tests/e2e/combined.py), in the default build cache, so a
rerun of identical Verilog costs no compile.
"""
import numpy as np
import pytest
from e2e.combined import CombinedCircuits, host_split
from qonnx.custom_op.registry import getCustomOp
from qonnx_builder import build_mlp, random_mlp_spec

from qonnx_c4ml.chisel.generator import linear_module, max_pool_module, output_ranges, port_for_dtype
from qonnx_c4ml.chisel.logic.evaluate import evaluate
from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.transformations import InferLBIR
from qonnx_c4ml.transformations.generate_circuit import connections_of
from qonnx_c4ml.verify import random_inputs

GRAPHS, SAMPLES, SEED = 60, 200, 20261202


def layer_modules(model, stage_levels=None):
    """(node, Module) per LBIR node, built as GenerateChiselCircuit builds them (each layer
    told the exact code ranges of the layer before it)."""
    ports, modules, ranges = {}, [], {}
    for node in [n for n in model.graph.node if n.domain == DOMAIN]:
        op = getCustomOp(node)
        in_ports = [ports.get(name) for name in node.input]
        for i, name in enumerate(node.input):
            if in_ports[i] is None:
                dtype = op.get_nodeattr("in_dtype" if i == 0 else "in_dtype_b")
                in_ports[i] = port_for_dtype(int(np.prod(model.get_tensor_shape(name)[1:])), dtype)
        if node.op_type == "QMaxPool2D":
            module, _, out, _, _ = max_pool_module(node.name, in_ports[0], op.windows(), stage_levels)
        else:
            channel_of = op.channel_of_outputs() if node.op_type != "QDense" else np.arange(op.weight_codes().shape[0])
            module, _, out, _, _ = linear_module(
                node.name, in_ports, connections_of(op, in_ports), op.get_nodeattr("out_dtype"),
                op.get_nodeattr("requant"), op.threshold_codes(), channel_of, op.get_nodeattr("out_base"),
                stage_levels, op.get_nodeattr("threshold_weights"),
                [r for t, p in zip(node.input, in_ports) for r in ranges.get(t, [None] * p.elements)])
            ranges[node.output[0]] = output_ranges(module)
        ports[node.output[0]] = out
        modules.append((node, module))
    return modules


def netlist_codes(model, context, circuit_input_codes, n, stage_levels=None):
    """Codes of every LBIR tensor, evaluated from the netlists alone (the circuit input
    seeded), and the mismatches of each layer against the LBIR context."""
    values = {}
    layer_mismatches = 0
    for node, module in layer_modules(model, stage_levels):
        operands = []
        for name in node.input:
            if name not in values:
                values[name] = (circuit_input_codes if not operands and not values else
                                context[name].reshape(n, -1).astype(np.int64))
            operands.append(values[name])
        out = evaluate(module.lowered(), np.concatenate(operands, axis=1), check_ranges=True)
        values[node.output[0]] = out
        layer_mismatches += int(np.count_nonzero(out != context[node.output[0]].reshape(n, -1)))
    return values, layer_mismatches


def test_netlist_evaluation_equals_verilator_on_fuzz_graphs(tmp_path, record_property):
    rng = np.random.default_rng(SEED)
    originals = [build_mlp(random_mlp_spec(rng, float_scales=0.2)) for _ in range(GRAPHS)]
    lowered = [m.transform(InferLBIR()) for m in originals]
    combined = CombinedCircuits(lowered, tmp_path / "verilog")
    splits = [host_split(m, random_inputs(o, SAMPLES, seed=i)) for i, (m, o) in enumerate(zip(lowered, originals))]
    rtl = combined.run_codes([codes for _, _, codes, _, _ in splits])
    rtl_mismatches = lbir_mismatches = elements = 0
    for model, (_, context, codes, circuit_output, _), rtl_codes in zip(lowered, splits, rtl):
        values, layer_mismatches = netlist_codes(model, context, codes, SAMPLES)
        ir_codes = values[circuit_output]
        assert ir_codes.shape == rtl_codes.shape
        rtl_mismatches += int(np.count_nonzero(ir_codes != rtl_codes))
        lbir_mismatches += layer_mismatches
        elements += rtl_codes.size
    record_property("c4ml_summary", f"logic IR vs Verilator: {GRAPHS} fuzz graphs x {SAMPLES} samples, "
                                    f"{elements} output codes, {rtl_mismatches} mismatches "
                                    f"({lbir_mismatches} against LBIR, every layer)")
    assert elements > 0
    assert rtl_mismatches == 0
    assert lbir_mismatches == 0


@pytest.mark.parametrize("case", range(3))
def test_pipelined_netlist_evaluation_equals_verilator(case, tmp_path):
    """The graphs of tests/e2e/test_pipelining.py (same seeds and levels, so the Verilator
    cache holds their builds): the pipelined netlists (registers pass values on) give the
    codes the pipelined RTL gives, cycle latency handled by the harness."""
    from qonnx_c4ml.circuit import Circuit

    spec = random_mlp_spec(np.random.default_rng(4242 + case))
    spec.po2 = True
    levels = [1, 2, 3][case % 3]
    original = build_mlp(spec)
    circuit = Circuit(original, output_dir=tmp_path / "v", pipeline=levels)
    model = original.transform(InferLBIR())
    _, context, codes, circuit_output, _ = host_split(model, random_inputs(original, SAMPLES, seed=case))
    values, layer_mismatches = netlist_codes(model, context, codes, SAMPLES, levels)
    rtl_codes = circuit.run_codes(codes)
    assert circuit.latency_cycles == 1 + sum(module.latency for _, module in layer_modules(model, levels))
    assert values[circuit_output].shape == rtl_codes.shape
    assert np.count_nonzero(values[circuit_output] != rtl_codes) == 0 and layer_mismatches == 0
