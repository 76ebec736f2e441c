"""The streaming wrapper of a global pool stage (chisel/stream/global_pool.py): the pixel
counter, the per-channel accumulators and the output register around `<layer>_engine`.

    take = in_valid && in_ready;  last = (count == H*W - 1)
    take, not last:  acc_c <= sum_c (acc_c + x_c, from the engine)
    take, last:      acc <= 0, out_data_q <= the engine's codes, out_valid_q <= 1
    in_ready = !(last && out_valid_q): only the frame's last pixel waits for the output register
    (registers only, as in every stage), which out_ready empties.

The engine's sums are `sum_bits` wide (H*W pixels); the accumulator keeps their low
`accumulator_bits` bits, which hold H*W - 1 pixels' sum exactly (two's complement)."""
from qonnx_c4ml.chisel.hw import literal
from qonnx_c4ml.chisel.ports import module_header


def global_pool_verilog(layer):
    """Verilog text of the global pool stage `layer` (a GlobalPoolLayer) around its engine."""
    channels, h, w = layer.in_shape
    pixels = h * w
    a_bits, s_bits = layer.accumulator_bits, layer.sum_bits
    count_bits = max(1, (pixels - 1).bit_length())
    out = [
        *module_header(layer.name, layer.inp.width, layer.out.width, streaming=True),
        f"  // global pool {channels}x{h}x{w} -> {layer.out_shape[0]}x1x1: per channel an accumulator of "
        f"{a_bits} bits, the codes at the frame's last pixel",
        f"  reg [{count_bits - 1}:0] count;",
        f"  reg [{channels * a_bits - 1}:0] acc;",
        "  reg out_valid_q;",
        f"  reg [{layer.out.width - 1}:0] out_data_q;",
        f"  wire last = count == {literal(pixels - 1, count_bits)};",
        "  assign in_ready = !(last && out_valid_q);",
        "  wire take = in_valid && in_ready;",
        f"  wire [{channels * s_bits - 1}:0] sum_data;",
        f"  wire [{layer.out.width - 1}:0] engine_out;",
        f"  {layer.name}_engine u_engine (.in_data(in_data), .acc(acc), .sum_data(sum_data), .out_data(engine_out));",
        "  always @(posedge clock) begin",
        "    if (take) begin",
        "      if (last) begin",
        f"        acc <= {literal(0, channels * a_bits)};",
        "        out_data_q <= engine_out;",
        "      end else begin",
        *(f"        acc[{c * a_bits} +: {a_bits}] <= sum_data[{c * s_bits} +: {a_bits}];" for c in range(channels)),
        "      end",
        "    end",
        "    if (reset) begin",
        f"      count <= {literal(0, count_bits)};",
        f"      acc <= {literal(0, channels * a_bits)};",
        "      out_valid_q <= 1'b0;",
        "    end else begin",
        f"      if (take) count <= last ? {literal(0, count_bits)} : count + {literal(1, count_bits)};",
        "      if (take && last) out_valid_q <= 1'b1;",
        "      else if (out_ready) out_valid_q <= 1'b0;",
        "    end",
        "  end",
        "  assign out_valid = out_valid_q;",
        "  assign out_data = out_data_q;",
        "endmodule",
    ]
    return "\n".join(out) + "\n"
