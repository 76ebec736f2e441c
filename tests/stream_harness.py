"""A streaming circuit's codes under random input gaps and output back-pressure, through the
stream harness (sim/stream_simulator.py): the check the streaming end-to-end tests share."""
from pathlib import Path

import numpy as np

from qonnx_c4ml.lbir.graph import lbir_graph
from qonnx_c4ml.metadata import verilog_dir
from qonnx_c4ml.reference import execute_context
from qonnx_c4ml.rtlsim.simulators import streaming_sim_description
from qonnx_c4ml.sim.stream_simulator import StreamSimulator


def assert_exact_under_backpressure(lbir, model, description, x, seeds=(1, 2)):
    """The circuit of `model` (generated from `lbir`, described by `description`) gives the
    LBIR model's output codes for inputs `x` with gaps and back-pressure drawn from each seed,
    and the back-pressure reached it (out_stall_cycles > 0)."""
    batch, context = execute_context(lbir, x)
    _, circuit_input, circuit_output = lbir_graph(batch)
    codes, want = context[circuit_input].astype(np.int64), context[circuit_output].astype(np.int64)
    with StreamSimulator(streaming_sim_description(description, Path(verilog_dir(model)))) as circuit:
        for seed in seeds:
            out, run = circuit.run_frames(codes, backpressure=seed)
            np.testing.assert_array_equal(out, want)
            assert run["out_stall_cycles"] > 0  # back-pressure reached the circuit
