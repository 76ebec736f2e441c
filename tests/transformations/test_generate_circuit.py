"""transformations/generate_circuit.py without simulation: the written Verilog and description,
the operator limit, the streaming front, style checks, and its helpers. Lint cleanliness:
tests/chisel/test_generator.py; the style recorded per node: test_generate_circuit_style.py."""
from pathlib import Path

import numpy as np
import pytest

from qonnx.custom_op.registry import getCustomOp

from qonnx_builder import LayerSpec, MLPSpec, build_mlp
from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.io import read_model
from qonnx_c4ml.lbir.graph import lbir_graph
from qonnx_c4ml.metadata import circuit_description, verilog_dir
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR
from qonnx_c4ml.transformations.generate_circuit import (connections_of, estimate_operators,
                                                          estimate_stream_operators, window_taps)
from qonnx_c4ml.transformations.stream_front import streaming_front
from residual_models import residual_lbir, with_pixel_dependent_add

CNN = Path(__file__).resolve().parents[1] / "fixtures" / "cnn" / "chisel4ml_cnn.onnx"


def lbir_mlp():
    return build_mlp(MLPSpec(8, [LayerSpec(6), LayerSpec(3, relu=False, signed=True)])).transform(InferLBIR())


def test_parallel_mlp_writes_one_module_per_layer_and_a_top(tmp_path):
    lbir = lbir_mlp()
    generated = lbir.transform(GenerateChiselCircuit(tmp_path, pipeline="layer"))
    description = circuit_description(generated)
    assert description.style == "parallel" and description.top == "c4ml_top"
    assert Path(verilog_dir(generated)) == tmp_path
    nodes, _, _ = lbir_graph(generated)
    assert [layer.name for layer in description.layers] == [n.name for n in nodes]
    for name in description.files:
        assert (tmp_path / name).is_file()
    assert "module c4ml_top" in (tmp_path / "c4ml_top.v").read_text()
    assert description.latency_cycles == len(nodes) + 1  # registers around and between the layers
    combinational = circuit_description(lbir.transform(GenerateChiselCircuit(tmp_path / "none")))
    assert combinational.latency_cycles == 0 and combinational.files == description.files
    assert description.out.elements == 3 and description.inp.elements == 8


def test_operator_limit_and_style_checks(tmp_path):
    lbir = lbir_mlp()
    estimate = sum(estimate_operators(getCustomOp(n)) for n in lbir_graph(lbir)[0])
    assert estimate > 0
    with pytest.raises(UnsupportedModelError, match="above the limit"):
        lbir.transform(GenerateChiselCircuit(tmp_path, max_operators=estimate - 1))
    assert not list(tmp_path.iterdir())  # refused before anything is written
    with pytest.raises(UnsupportedModelError, match="needs the circuit to start with convolution"):
        lbir.transform(GenerateChiselCircuit(tmp_path, style="streaming"))
    with pytest.raises(UnsupportedModelError, match="style='fast'"):
        GenerateChiselCircuit(tmp_path, style="fast")


def test_window_taps_of_a_streamed_convolution():
    lbir = read_model(CNN).transform(InferLBIR())
    nodes, circuit_input, _ = lbir_graph(lbir)
    conv = getCustomOp(streaming_front(nodes, circuit_input)[0][0])
    assert window_taps(conv) == int(np.prod(conv.out_shape()[1:])) * int(np.count_nonzero(conv.weight_codes()))


def test_connections_of_a_dense_layer_skip_zero_weights():
    lbir = lbir_mlp()
    op = getCustomOp(lbir_graph(lbir)[0][0])
    rows = connections_of(op, [])
    weights = op.weight_codes()
    assert len(rows) == weights.shape[0]
    for row, weight_row in zip(rows, weights):
        assert row == [(int(k), int(weight_row[k])) for k in np.flatnonzero(weight_row)]


def test_streaming_front_counts_against_the_limit_before_anything_is_written(tmp_path):
    """One window engine per streamed layer: its weights once, not once per output pixel."""
    lbir = read_model(CNN).transform(InferLBIR())
    nodes, circuit_input, _ = lbir_graph(lbir)
    front, rest = streaming_front(nodes, circuit_input)
    engines = sum(estimate_stream_operators(getCustomOp(n)) for n in front)
    parallel = sum(estimate_operators(getCustomOp(n)) for n in front)
    assert 0 < engines < parallel
    total = engines + sum(estimate_operators(getCustomOp(n)) for n in rest)
    with pytest.raises(UnsupportedModelError, match="streaming circuit .* above the limit"):
        lbir.transform(GenerateChiselCircuit(tmp_path / "v", style="streaming", max_operators=total - 1))
    assert not (tmp_path / "v").exists()
    generated = lbir.transform(GenerateChiselCircuit(tmp_path / "v", style="streaming", max_operators=total))
    assert circuit_description(generated).style == "streaming"


def test_streaming_names_the_residual_block_that_stops_it(tmp_path):
    """A residual block streams (chisel/stream/residual.py) unless its Add cannot be joined pixel
    by pixel; then the refusal names the Add and why."""
    lbir = residual_lbir()
    add = with_pixel_dependent_add(lbir)
    with pytest.raises(UnsupportedModelError, match=f"node '{add.name}' \\(QAdd\\): .*thresholds differ between "
                                                    "pixels of a channel"):
        lbir.transform(GenerateChiselCircuit(tmp_path, style="streaming"))
    assert circuit_description(residual_lbir().transform(GenerateChiselCircuit(tmp_path / "ok", style="streaming"))
                               ).style == "streaming"
