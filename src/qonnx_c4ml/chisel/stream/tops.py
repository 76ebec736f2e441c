"""The streaming tops: the valid/ready chain of stages (streaming layers, folded layers),
the frame top (pixels in, whole frames out) and the streaming front + fully parallel tail top
GenerateChiselCircuit writes."""
from qonnx_c4ml.chisel.hw import literal
from qonnx_c4ml.chisel.ports import module_header

def chain_verilog(name, stages):
    """`name`: `stages` [(module name, in width, out width)] chained by valid/ready in
    data-flow order (each stage's out_valid/out_ready/out_data feed the next one's inputs)."""
    lines = module_header(name, stages[0][1], stages[-1][2], streaming=True)
    valid, ready, data = "in_valid", "in_ready", "in_data"
    for k, (stage, _, out_width) in enumerate(stages):
        last = k == len(stages) - 1
        out_valid, out_ready, out_data = (("out_valid", "out_ready", "out_data") if last else
                                          (f"{stage}_valid", f"{stage}_ready", f"{stage}_data"))
        if not last:
            lines += [f"  wire {out_valid};", f"  wire {out_ready};", f"  wire [{out_width - 1}:0] {out_data};"]
        lines.append(f"  {stage} u_{stage} (.clock(clock), .reset(reset), .in_valid({valid}), .in_ready({ready}), "
                     f".in_data({data}), .out_valid({out_valid}), .out_ready({out_ready}), .out_data({out_data}));")
        valid, ready, data = out_valid, out_ready, out_data
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def stream_top_verilog(name, layers):
    """The chain of streaming layers (StreamLayer geometry objects)."""
    return chain_verilog(name, [(layer.name, layer.inp.width, layer.out.width) for layer in layers])


def frame_top_verilog(name, stream_name, layers):
    """The frame adapter: pixels in, the last layer's whole output frame out (LBIR order)."""
    inp, last = layers[0].inp, layers[-1]
    channels, oh, ow = last.out_shape
    bits = last.out.bits
    n_pixels = oh * ow
    frame_bits = channels * n_pixels * bits
    index_bits = max(1, (n_pixels - 1).bit_length())
    lines = [
        *module_header(name, inp.width, frame_bits, streaming=True),
        "  wire pixel_valid;",
        "  wire pixel_ready;",
        f"  wire [{last.out.width - 1}:0] pixel_data;",
        f"  {stream_name} u_stream (.clock(clock), .reset(reset), .in_valid(in_valid), .in_ready(in_ready), "
        ".in_data(in_data), .out_valid(pixel_valid), .out_ready(pixel_ready), .out_data(pixel_data));",
        f"  // collector: output pixel p = i*{ow} + j, channel c -> frame element c*{n_pixels} + p",
        f"  reg [{index_bits - 1}:0] pixel_index;",
        f"  reg [{frame_bits - 1}:0] collect;",
        f"  reg [{frame_bits - 1}:0] frame_data;",
        "  reg frame_valid;",
        f"  wire last_pixel = pixel_index == {literal(n_pixels - 1, index_bits)};",
        "  // a finished frame waits in frame_data until it is read; only its successor's last",
        "  // pixel has to wait for that",
        "  assign pixel_ready = !(last_pixel && frame_valid && !out_ready);",
        "  wire take = pixel_valid && pixel_ready;",
        f"  reg [{frame_bits - 1}:0] collect_next;",
        "  always @(*) begin",
        "    collect_next = collect;",
        "    if (take) begin",
    ]
    for c in range(channels):
        lines.append(f"      collect_next[({c * n_pixels} + pixel_index) * {bits} +: {bits}] = "
                     f"pixel_data[{c * bits} +: {bits}];")
    lines += [
        "    end",
        "  end",
        "  always @(posedge clock) begin",
        "    if (take) collect <= collect_next;",
        "    if (take && last_pixel) frame_data <= collect_next;",
        "    if (reset) begin",
        f"      pixel_index <= {literal(0, index_bits)};",
        "      frame_valid <= 1'b0;",
        "    end else begin",
        f"      if (take) pixel_index <= last_pixel ? {literal(0, index_bits)} : pixel_index + "
        f"{literal(1, index_bits)};",
        "      if (take && last_pixel) frame_valid <= 1'b1;",
        "      else if (out_ready) frame_valid <= 1'b0;",
        "    end",
        "  end",
        "  assign out_valid = frame_valid;",
        "  assign out_data = frame_data;",
        "endmodule",
    ]
    return "\n".join(lines) + "\n"


def streaming_top(name, front, tail, out):
    """`name`: the streaming front (pixels in, frames out) feeding the fully parallel tail
    (combinational, read from the front's frame register); valid/ready pass through."""
    lines = [
        *module_header(name, front['pixel_in']['elements'] * front['pixel_in']['bits'], out.width, streaming=True),
        f"  wire [{front['out']['elements'] * front['out']['bits'] - 1}:0] frame;",
        f"  {front['top']} u_front (.clock(clock), .reset(reset), .in_valid(in_valid), .in_ready(in_ready), "
        ".in_data(in_data), .out_valid(out_valid), .out_ready(out_ready), .out_data(frame));",
    ]
    if tail:
        lines += [f"  {tail} u_tail (.clock(clock), .reset(reset), .in_valid(out_valid), .in_data(frame), "
                  ".out_valid(), .out_data(out_data));"]
    else:
        lines += ["  assign out_data = frame;"]
    lines.append("endmodule")
    return "\n".join(lines) + "\n"
