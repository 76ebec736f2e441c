"""chisel/stream/registers.py: the front's flip-flop formula equals the register bits the
generated Verilog declares (every `reg` of every module, memories as words x width, the frame
top's combinational `collect_next` excepted), for window layers (parallel, pipelined, folded),
a global pool, and a residual block with its FIFO."""
import re
from pathlib import Path

from qonnx_c4ml.chisel.stream.generate import generate_streaming
from qonnx_c4ml.chisel.stream.registers import fifo_flip_flops
from qonnx_c4ml.transformations.stream_front import front_ops, streaming_front
from qonnx_c4ml.lbir.graph import lbir_graph

from .test_generate import conv, global_pool, make_chain, pool

REG = re.compile(r"^\s*reg (?:signed )?(?:\[(\d+):0\] )?(\w+)(?: \[0:(\d+)\])?;")


def declared_register_bits(files):
    """Sum of the widths (x words for memories) of the `reg`s in `files`, per module instance
    once (each module is instantiated once in these circuits)."""
    bits = 0
    for file in files:
        for line in Path(file).read_text().splitlines():
            match = REG.match(line)
            if match and match.group(2) != "collect_next":  # assigned in always @(*): wires
                width = int(match.group(1)) + 1 if match.group(1) is not None else 1
                bits += width * (int(match.group(3)) + 1 if match.group(3) is not None else 1)
    return bits


def test_chain_flip_flops_are_the_declared_registers(tmp_path):
    specs = [conv(4, (3, 3), pads=(1, 1, 1, 1)), pool((2, 2), (2, 2)), conv(3, (2, 2), strides=(1, 1)),
             global_pool((2, 2))]
    ops = make_chain(3, [3, 6, 6], "UINT3", specs)
    for k, options in enumerate([{}, {"stage_levels": 2}, {"reuse_factors": [2, 1, 3, 1]}]):
        description = generate_streaming(ops, tmp_path / str(k), **options)
        assert description["flip_flops"] == declared_register_bits(description["files"]), options
        assert sum(layer["flip_flops"] for layer in description["layers"]) < description["flip_flops"]  # + frame top
    assert description["layers"][-1]["flip_flops"] < description["layers"][0]["flip_flops"]  # no line buffer


def test_residual_block_flip_flops_count_its_fifo(tmp_path):
    from residual_models import residual_lbir

    nodes, circuit_input, _ = lbir_graph(residual_lbir())
    front, _ = streaming_front(nodes, circuit_input)
    description = generate_streaming(front_ops(front), tmp_path)
    assert description["flip_flops"] == declared_register_bits(description["files"])
    join = next(layer for layer in description["layers"] if layer["op_type"] == "QAdd")
    depth = join["fifo_depths"][0]
    assert join["flip_flops"] == fifo_flip_flops(join["inp"]["elements"] * join["inp"]["bits"], depth) + (
        join["out"]["elements"] * join["out"]["bits"] + 1)
    assert fifo_flip_flops(8, 0) == 0 and fifo_flip_flops(8, 5) == 5 * 8 + 2 * 3 + 3
