"""Residual blocks streamed (chisel/stream/residual.py) through the product path: InferLBIR ->
GenerateChiselCircuit(style="streaming" | "folded") -> RTLSim -> execute_onnx, against qonnx on
the raw model; the stream harness with random input gaps and out_ready back-pressure gives the
same codes; the simulated II is the modelled one (one pixel per cycle).  The ResNet-8 topology
built from brevitas_examples' QuantBasicBlock (identity and 1x1 stride-2 downsample shortcuts)
is exported at test time and checked by `verify` against the exact reference; in the folded
style the convolutions of the residual branches fold too."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from qonnx.custom_op.registry import getCustomOp
from residual_models import RESIDUAL_BLOCK
from stream_harness import assert_exact_under_backpressure

from qonnx_c4ml.io import read_model
from qonnx_c4ml.metadata import circuit_description
from qonnx_c4ml.reference import execute
from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR, RTLSim
from qonnx_c4ml.verify import random_inputs, verify

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_brevitas_example_fixtures.py"


@pytest.mark.parametrize("style", ["streaming", "folded"])
def test_residual_block_streams_exactly(style, tmp_path, record_property):
    raw = read_model(RESIDUAL_BLOCK)
    lbir = raw.transform(InferLBIR())
    options = dict(style="folded", reuse_factor=4) if style == "folded" else dict(style="streaming")
    model = lbir.transform(GenerateChiselCircuit(tmp_path / "verilog", **options))
    description = circuit_description(model)
    rtl = model.transform(RTLSim())
    x = random_inputs(raw, 200, seed=4)
    np.testing.assert_array_equal(execute(rtl, x), execute(raw, x))
    stats = getCustomOp(next(n for n in rtl.graph.node if n.op_type == "RTLCircuit")).run_statistics()
    # folded: the branch convs too compute their 4 channels over 4 steps, one output pixel per 4 cycles
    ii = 64 if style == "streaming" else 4 * 64
    assert stats["ii"] == description.stream["ii_cycles"] == ii and stats["latency"] == description.latency_cycles

    # the same codes with random input gaps and output back-pressure, through the stream harness
    assert_exact_under_backpressure(lbir, model, description, x)
    join = next(layer for layer in description.stream["layers"] if layer["op_type"] == "QAdd")
    record_property("c4ml_summary", f"residual block {style}: 200 samples exact, ii {stats['ii']}, "
                                    f"latency {stats['latency']}, skip FIFO {join['fifo_depths']}")


def export_example(name, path):
    pytest.importorskip("torch")
    pytest.importorskip("brevitas_examples")
    spec = importlib.util.spec_from_file_location("make_brevitas_example_fixtures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.export(name, path)
    return path


@pytest.mark.parametrize("style", ["streaming", "folded"])
def test_resnet8_of_brevitas_basic_blocks_streams_exactly(style, tmp_path, record_property):
    path = export_example("resnet8_small_w2a4", tmp_path / "resnet8_small.onnx")
    options = dict(style="folded", reuse_factor=5) if style == "folded" else dict(style="streaming")
    report = verify(path, samples=64, seed=2, build_dir=tmp_path / "build", **options)
    assert report.passed, report.table()
    rtl = next(c for c in report.comparisons if c.stage == "rtl")
    assert rtl.exact_same_code_fraction == 1.0 and rtl.exact_max_diff_lsb < 0.5, report.table()
    record_property("c4ml_summary", f"ResNet-8 (QuantBasicBlock, 4-8-8 ch, 16x16) {style}: RTL on the exact "
                                    f"reference's code for 64 samples")
