"""chisel/stream/layer_verilog.py: the streaming wrapper of one layer (line buffer, window
reader, engine instance), read as text: its ports, buffer, geometry constants, pad code."""
import numpy as np

from qonnx_c4ml.chisel.ports import module_header
from qonnx_c4ml.chisel.stream.geometry import layer_geometry
from qonnx_c4ml.chisel.stream.layer_verilog import stream_layer_verilog

from .stream_ops import conv_op, pool_op


def test_pool_wrapper_ports_buffer_and_padding_code():
    layer = layer_geometry(pool_op((3, 5, 6), kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), name="pool"))
    text = stream_layer_verilog(layer)
    lines = text.splitlines()
    header = module_header("pool", layer.inp.width, layer.out.width, streaming=True)
    assert lines[:len(header)] == header
    assert lines[len(header)] == "  // QMaxPool2D 3x5x6 -> 3x3x3, kernel 3x3, strides 2,2, pads 1,1,1,1"
    assert f"line buffer: 4 rows x 6 pixels x 12 bits = {4 * 6 * 12} bits" in text
    assert [line.strip() for line in lines if "line_buffer" in line and line.strip().startswith("reg")] == [
        f"reg [11:0] line_buffer{slot} [0:5];" for slot in range(4)]
    # max pooling pads with the smallest INT4 code (-8 = 4'h8), never with 0
    assert "{4'h8, 4'h8, 4'h8}" in text
    assert "pool_engine" in text and text.rstrip().endswith("endmodule")


def test_conv_wrapper_pads_with_zero():
    weights = np.ones((2, 1, 3, 3), dtype=np.int64)
    layer = layer_geometry(conv_op(weights, (1, 4, 4), [[0, 3, 6]] * 2, pads=(1, 1, 1, 1), name="c0"))
    text = stream_layer_verilog(layer)
    assert "// QConv2D 1x4x4 -> 2x4x4, kernel 3x3, strides 1,1, pads 1,1,1,1" in text
    assert "{2'h0}" in text
    assert "c0_engine" in text
    assert stream_layer_verilog(layer) == text  # deterministic


def test_folded_wrapper_holds_the_window_for_its_steps():
    from qonnx_c4ml.chisel.stream.engine import engine_module

    weights = np.arange(5 * 1 * 3 * 3).reshape(5, 1, 3, 3) % 3 - 1
    op = conv_op(weights, (1, 4, 4), [[-2, 0, 2]] * 5, pads=(1, 1, 1, 1), name="c0")
    layer = layer_geometry(op)
    engine_module(layer, op, reuse_factor=2)  # 5 channels: 3 units x 2 steps
    text = stream_layer_verilog(layer)
    assert "// folded engine: 3 units x 2 steps per window (reuse factor 2)" in text
    assert "  wire finish = window_valid && last_step && advance;" in text
    assert "  wire issue = window_ready && (!window_valid || finish);" in text
    assert "c0_engine u_engine (.in_data(window_data), .step(step), .out_data(engine_out));" in text
    assert "    if (window_valid && !last_step) partial <= engine_out;" in text  # 3 units x 2 bits, 2 steps
    # the output register takes the 5 channels from their slots (step r, unit u -> r*3 + u)
    assert "    if (finish) out_data_q <= {codes[" in text
    parallel = layer_geometry(op)
    engine_module(parallel, op)
    assert "step" not in stream_layer_verilog(parallel)
