"""pipeline=N (a register stage every N operator levels): RTL still equals qonnx, and the
latency the harness checks cycle by cycle is the one the generator reports."""
import numpy as np
import pytest
from qonnx_builder import build_mlp, random_mlp_spec

from qonnx_c4ml.verify import verify

FIXTURE = "tests/fixtures/jets_w4a4_po2.onnx"


@pytest.mark.parametrize("case", range(6))
def test_random_graphs_pipelined(case, tmp_path):
    rng = np.random.default_rng(4242 + case)
    spec = random_mlp_spec(rng)
    spec.po2 = True
    levels = [1, 2, 3][case % 3]
    report = verify(build_mlp(spec), samples=300, seed=case, pipeline=levels, build_dir=tmp_path / "v")
    assert report.all_exact, (spec, report.table())


@pytest.mark.slow
def test_jets_pipelined_every_two_levels(tmp_path):
    from qonnx_c4ml.circuit import Circuit

    circuit = Circuit(FIXTURE, output_dir=tmp_path / "v", pipeline=2)
    assert circuit.latency_cycles > len(circuit.description.layers) + 1  # deeper than per-layer
    report = verify(FIXTURE, samples=1000, seed=5, pipeline=2, build_dir=tmp_path / "v2")
    assert report.all_exact, report.table()
