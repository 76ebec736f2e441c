"""The folded top: the folded layer stages chained by valid/ready (one beat = one vector),
the interface of a streaming top whose frame is a single pixel (docs/ARCHITECTURE.md §3)."""
from qonnx_c4ml.chisel.ports import module_header


def folded_top_verilog(name, stages):
    """`name`: the chain of `stages` [(module name, in width, out width)] in data-flow order."""
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
