"""chisel/stream/tops.py: the chain top wires each layer's stream to the next, the frame top
collects pixels into LBIR order, the streaming top feeds the parallel tail."""
import numpy as np

from qonnx_c4ml.chisel.stream.geometry import layer_geometry
from qonnx_c4ml.chisel.stream.tops import chain_verilog, frame_top_verilog, stream_top_verilog, streaming_top
from qonnx_c4ml.interface import Port

from .stream_ops import conv_op, pool_op


def chain():
    conv = conv_op(np.ones((2, 1, 3, 3), dtype=np.int64), (1, 6, 6), [[1, 4, 8]] * 2, pads=(1, 1, 1, 1),
                   name="conv")
    pool = pool_op((2, 6, 6), kernel=(2, 2), strides=(2, 2), dtype="UINT2", name="pool")
    return [layer_geometry(conv), layer_geometry(pool)]


def test_stream_top_chains_the_layers():
    text = stream_top_verilog("c4ml_stream", chain())
    assert text.startswith("module c4ml_stream (\n")
    assert "  wire [3:0] conv_data;" in text  # conv's pixel: 2 channels x 2 bits
    assert ".in_valid(in_valid), .in_ready(in_ready), .in_data(in_data), .out_valid(conv_valid), " \
           ".out_ready(conv_ready), .out_data(conv_data));" in text
    assert ".in_valid(conv_valid), .in_ready(conv_ready), .in_data(conv_data), .out_valid(out_valid), " \
           ".out_ready(out_ready), .out_data(out_data));" in text
    assert text.count(" u_") == 2 and text.endswith("endmodule\n")


def test_frame_top_collects_the_last_frame_channel_major():
    layers = chain()
    text = frame_top_verilog("c4ml_frame", "c4ml_stream", layers)
    frame_bits = 2 * 3 * 3 * 2  # pool out: 2 channels x 3x3 pixels x 2 bits
    assert f"output wire [{frame_bits - 1}:0] out_data" in text
    assert "c4ml_stream u_stream (" in text
    assert "collect_next[(0 + pixel_index) * 2 +: 2] = pixel_data[0 +: 2];" in text
    assert "collect_next[(9 + pixel_index) * 2 +: 2] = pixel_data[2 +: 2];" in text
    assert "reg [3:0] pixel_index;" in text and "pixel_index == 4'h8" in text  # 9 pixels


def test_streaming_top_with_and_without_tail():
    front = {"top": "c4ml_frame", "pixel_in": {"elements": 1, "bits": 2}, "out": {"elements": 18, "bits": 2}}
    with_tail = streaming_top("c4ml_top", front, "c4ml_tail", Port(5, 4, True))
    assert "output wire [19:0] out_data" in with_tail and "  wire [35:0] frame;" in with_tail
    assert "c4ml_tail u_tail (" in with_tail and ".in_data(frame)" in with_tail
    alone = streaming_top("c4ml_top", front, None, Port(18, 2, False))
    assert "  assign out_data = frame;" in alone and "u_tail" not in alone


def test_chain_wiring():
    """chain_verilog (the folded chain's top, and the streaming chain's) wires each stage's
    valid/ready/data to the next."""
    text = chain_verilog("top", [("a", 12, 8), ("b", 8, 6), ("c", 6, 20)])
    assert "module top (" in text and "input wire [11:0] in_data," in text and "output wire [19:0] out_data" in text
    assert ("a u_a (.clock(clock), .reset(reset), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data), "
            ".out_valid(a_valid), .out_ready(a_ready), .out_data(a_data));") in text
    assert ".in_valid(a_valid), .in_ready(a_ready), .in_data(a_data), .out_valid(b_valid)" in text
    assert ".in_data(b_data), .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data));" in text
    assert "wire [7:0] a_data;" in text and "wire [5:0] b_data;" in text
    single = chain_verilog("top", [("a", 4, 2)])
    assert ".in_data(in_data), .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data));" in single
