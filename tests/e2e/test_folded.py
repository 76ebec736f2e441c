"""Folded dense layers (style="folded", chisel/fold/) through the product path: the jets MLP
compiled with reuse factors, RTLSim, qonnx `execute_onnx` == qonnx on the raw model; the
stream harness with random input gaps and out_ready back-pressure gives the same codes, and
the simulated II is the slowest layer's step count."""
from pathlib import Path

import numpy as np
import pytest
from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.io import read_model
from qonnx_c4ml.lbir.graph import lbir_chain, lbir_graph
from qonnx_c4ml.metadata import circuit_description, verilog_dir
from qonnx_c4ml.reference import execute, execute_context
from qonnx_c4ml.rtlsim.simulators import streaming_sim_description
from qonnx_c4ml.sim.stream_simulator import StreamSimulator
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim
from qonnx_c4ml.verify import random_inputs

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "jets_w2a2_po2.onnx"
SAMPLES = 200


@pytest.mark.parametrize("reuse", [4, "dict"])
def test_folded_jets_against_qonnx(reuse, tmp_path, record_property):
    raw = read_model(FIXTURE)
    lbir = raw.transform(InferLBIR())
    names = [n.name for n in lbir_chain(lbir)]
    reuse_factor = 4 if reuse == 4 else {names[0]: 3, names[1]: 8, names[3]: 2}
    expected_ii = 4 if reuse == 4 else 8
    model = lbir.transform(GenerateChiselCircuit(tmp_path / "verilog", style="folded", reuse_factor=reuse_factor))
    description = circuit_description(model)
    assert description.stream["ii_cycles"] == expected_ii
    rtl = model.transform(RTLSim())
    x = random_inputs(raw, SAMPLES, seed=7)
    np.testing.assert_array_equal(execute(rtl, x), execute(raw, x))
    node = next(n for n in rtl.graph.node if n.op_type == "RTLCircuit")
    stats = getCustomOp(node).run_statistics()
    assert stats["ii"] == expected_ii and stats["latency"] == description.latency_cycles

    # the same codes with random input gaps and output back-pressure, through the stream harness
    batch, context = execute_context(lbir, x)
    dense = [n for n in batch.graph.node if n.op_type == "QDense"]
    codes, want = context[dense[0].input[0]].astype(np.int64), context[dense[-1].output[0]].astype(np.int64)
    with StreamSimulator(streaming_sim_description(description, Path(verilog_dir(model)))) as circuit:
        for seed in (1, 2):
            out, run = circuit.run_frames(codes, backpressure=seed)
            np.testing.assert_array_equal(out, want)
            assert run["out_stall_cycles"] > 0 and run["stall_cycles"] > 0
    record_property("c4ml_summary", f"folded jets_w2a2_po2 R={reuse_factor}: {SAMPLES} samples exact, "
                                    f"ii {stats['ii']} latency {stats['latency']}")


@pytest.mark.parametrize("name", ["chisel4ml_cnn", "mnist_cnn_w4a4_po2"])
def test_conv_front_and_folded_tail_against_qonnx(name, tmp_path, record_property):
    """The leading conv/pool chain streams one pixel per cycle into the folded dense layers:
    RTL == qonnx; the measured II is the slower of the front (a pixel per cycle) and the tail."""
    raw = read_model(FIXTURE.parent / "cnn" / f"{name}.onnx")
    model = raw.transform(InferLBIR()).transform(GenerateChiselCircuit(tmp_path / "v", style="folded", reuse_factor=4))
    description = circuit_description(model)
    rtl = model.transform(RTLSim())
    x = random_inputs(raw, 60, seed=3)
    np.testing.assert_array_equal(execute(rtl, x), execute(raw, x))
    stats = getCustomOp(next(n for n in rtl.graph.node if n.op_type == "RTLCircuit")).run_statistics()
    assert stats["ii"] == description.stream["ii_cycles"]
    record_property("c4ml_summary", f"streamed front + folded tail {name} R=4: 60 samples exact, ii {stats['ii']}")


FOLDED_CONVS = {
    # a small CNN (conv O = 4, pool, dense): R = 2, R = O, and R = 3, which does not divide O
    "chisel4ml_cnn_r2": ("chisel4ml_cnn", 2),
    "chisel4ml_cnn_r_equals_o": ("chisel4ml_cnn", 4),
    "chisel4ml_cnn_r3": ("chisel4ml_cnn", 3),
    # a depthwise conv (group = C = 4) folded to one unit, the pointwise conv after it by 3 (O = 8: 3 x 3 slots)
    "depthwise_separable": ("depthwise_separable", {"Conv_0": 4, "Conv_1": 3}),
    # stride 2 with pads, then a conv with bottom/right pads only
    "conv_stride_pad": ("conv_stride_pad", {"Conv_0": 3, "Conv_1": 2}),
    # conv + pool + conv + pool + dense, a different R per layer (the pools stay 1)
    "mnist_mixed": ("mnist_cnn_w4a4_po2", {"Conv_0": 2, "Conv_1": 3, "Gemm_0": 5}),
}


@pytest.mark.parametrize("case", sorted(FOLDED_CONVS))
def test_folded_convs_against_qonnx(case, tmp_path, record_property):
    """Folded window engines in the streaming front (chisel/fold/conv.py) through the product
    path: RTL == qonnx on the raw model, the harness's II == the description's ii_cycles."""
    name, reuse_factor = FOLDED_CONVS[case]
    raw = read_model(FIXTURE.parent / "cnn" / f"{name}.onnx")
    lbir = raw.transform(InferLBIR())
    model = lbir.transform(GenerateChiselCircuit(tmp_path / "v", style="folded", reuse_factor=reuse_factor))
    description = circuit_description(model)
    front = description.stream["layers"]
    for layer in front:
        want = 1 if layer["op_type"] == "QMaxPool2D" else (
            reuse_factor if isinstance(reuse_factor, int) else reuse_factor.get(layer["name"], 1))
        assert layer["reuse_factor"] == want and layer["estimated_luts"] > 0
    assert any(layer["steps"] > 1 for layer in front)
    front_luts = sum(layer["estimated_luts"] + layer["read_mux_luts"] for layer in front)  # engines + reads
    assert description.stream["estimated_luts"] == front_luts + sum(
        layer["estimated_luts"] for layer in description.stream["folded_layers"])
    rtl = model.transform(RTLSim())
    x = random_inputs(raw, 24, seed=5)
    np.testing.assert_array_equal(execute(rtl, x), execute(raw, x))
    stats = getCustomOp(next(n for n in rtl.graph.node if n.op_type == "RTLCircuit")).run_statistics()
    assert stats["ii"] == description.stream["ii_cycles"] and stats["latency"] == description.latency_cycles
    record_property("c4ml_summary", f"folded convs {case} R={reuse_factor}: 24 samples exact, ii {stats['ii']} "
                                    f"(steps {[layer['steps'] for layer in front]})")


def test_folded_conv_estimate_bounds_max_operators_and_pools_do_not_fold(tmp_path):
    """max_operators sees the folded engines' estimate (estimate_folded_operators on W'): a
    bound the unfolded front exceeds admits the folded one; a pool named in the dict is refused."""
    from qonnx_c4ml.chisel.fold.conv import estimate_front_operators
    from qonnx_c4ml.transformations.generate_circuit import estimate_stream_operators
    from qonnx_c4ml.transformations.generate_folded import estimate

    lbir = read_model(FIXTURE.parent / "cnn" / "mnist_cnn_w4a4_po2.onnx").transform(InferLBIR())
    nodes = lbir_chain(lbir)
    front, dense = [getCustomOp(n) for n in nodes[:-1]], nodes[-1:]
    tail = estimate(dense, [10])
    folded = estimate_front_operators(front, [4, 1, 8, 1]) + tail
    unfolded = sum(estimate_stream_operators(op) for op in front) + tail
    assert folded < unfolded
    with pytest.raises(UnsupportedModelError, match="above the limit"):
        lbir.transform(GenerateChiselCircuit(tmp_path / "a", style="folded", max_operators=folded,
                                             reuse_factor={"Gemm_0": 10}))
    model = lbir.transform(GenerateChiselCircuit(tmp_path / "b", style="folded", max_operators=folded,
                                                 reuse_factor={"Conv_0": 4, "Conv_1": 8, "Gemm_0": 10}))
    assert [layer["steps"] for layer in circuit_description(model).stream["layers"]] == [4, 1, 8, 1]
    with pytest.raises(UnsupportedModelError, match="pooling layers do not fold"):
        lbir.transform(GenerateChiselCircuit(tmp_path / "c", style="folded", reuse_factor={"MaxPool_0": 2}))


MEMORY_FORM = {
    # dense layers at R = 4 and a dict of R (one layer at R = 1 stays constant)
    "jets_r4": ("jets_w2a2_po2", 4),
    "jets_mixed": ("jets_w2a2_po2", {"Gemm_0": 16, "Gemm_1": 1, "Gemm_3": 3}),
    # a depthwise conv (input slots) and the pointwise conv after it, then the dense layer
    "depthwise_separable": ("cnn/depthwise_separable", {"Conv_0": 4, "Conv_1": 3, "Gemm_0": 5}),
    # stride 2 with pads, then a conv with bottom/right pads only
    "conv_stride_pad": ("cnn/conv_stride_pad", {"Conv_0": 3, "Conv_1": 2}),
}


@pytest.mark.parametrize("case", sorted(MEMORY_FORM))
def test_memory_form_against_qonnx(case, tmp_path, record_property):
    """weight_memory="always" (chisel/fold/memory.py: weights and thresholds from a registered
    ROM word per step): RTL == qonnx on the raw model, the harness's II and latency == the
    description's (the ROM read does not change the timing), and the same codes through the
    stream harness with random input gaps and out_ready back-pressure."""
    name, reuse_factor = MEMORY_FORM[case]
    raw = read_model(FIXTURE.parent / f"{name}.onnx")
    lbir = raw.transform(InferLBIR())
    model = lbir.transform(GenerateChiselCircuit(tmp_path / "v", style="folded", reuse_factor=reuse_factor,
                                                 weight_memory="always"))
    description = circuit_description(model)
    rows = [layer for layer in description.stream.get("layers", []) + description.stream["folded_layers"]
            if layer["op_type"] in ("QConv2D", "QDense")]
    for layer in rows:  # every layer with steps is in the memory form, and only those
        assert layer["weight_form"] == ("memory" if layer["steps"] > 1 else "constant")
        assert (layer["rom_bits"] > 0) == (layer["steps"] > 1)
    assert description.stream["rom_bits"] == sum(layer["rom_bits"] for layer in rows) > 0
    rtl = model.transform(RTLSim())
    x = random_inputs(raw, 40, seed=9)
    np.testing.assert_array_equal(execute(rtl, x), execute(raw, x))
    stats = getCustomOp(next(n for n in rtl.graph.node if n.op_type == "RTLCircuit")).run_statistics()
    assert stats["ii"] == description.stream["ii_cycles"] and stats["latency"] == description.latency_cycles
    batch, context = execute_context(lbir, x)
    _, circuit_input, circuit_output = lbir_graph(batch)
    codes, want = context[circuit_input].astype(np.int64), context[circuit_output].astype(np.int64)
    with StreamSimulator(streaming_sim_description(description, Path(verilog_dir(model)))) as circuit:
        out, run = circuit.run_frames(codes, backpressure=3)
        np.testing.assert_array_equal(out, want)
        assert run["out_stall_cycles"] > 0  # back-pressure reached the circuit
    record_property("c4ml_summary", f"memory form {case} R={reuse_factor}: 40 samples exact, ii {stats['ii']}, "
                                    f"ROM bits {description.stream['rom_bits']}, forms "
                                    f"{[layer['weight_form'] for layer in rows]}")
