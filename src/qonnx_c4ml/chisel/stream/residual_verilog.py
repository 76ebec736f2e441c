"""The Verilog of a residual block (chisel/stream/residual.py): the skip FIFO module and the
block module (fork, both branches' layer instances, FIFOs, join register around the join
engine), with the valid/ready ports of every streaming stage."""
from qonnx_c4ml.chisel.hw import literal
from qonnx_c4ml.chisel.ports import module_header


def fifo_verilog(name, width, depth):
    """`name`: a FIFO of `depth` words of `width` bits; in_ready and out_valid come from
    registers (the count), out_data is the oldest word (read combinationally)."""
    address_bits = max(1, (depth - 1).bit_length())
    count_bits = depth.bit_length()

    def wrap(pointer):
        return (f"{pointer} == {literal(depth - 1, address_bits)} ? {literal(0, address_bits)} : "
                f"{pointer} + {literal(1, address_bits)}")

    lines = [
        *module_header(name, width, width, streaming=True),
        f"  reg [{width - 1}:0] words [0:{depth - 1}];",
        f"  reg [{address_bits - 1}:0] head;  // the oldest word",
        f"  reg [{address_bits - 1}:0] tail;  // where the next word goes",
        f"  reg [{count_bits - 1}:0] count;",
        f"  assign in_ready = count != {literal(depth, count_bits)};",
        f"  assign out_valid = count != {literal(0, count_bits)};",
        "  assign out_data = words[head];",
        "  wire push = in_valid && in_ready;",
        "  wire pop = out_valid && out_ready;",
        "  always @(posedge clock) begin",
        "    if (push) words[tail] <= in_data;",
        "    if (reset) begin",
        f"      head <= {literal(0, address_bits)};",
        f"      tail <= {literal(0, address_bits)};",
        f"      count <= {literal(0, count_bits)};",
        "    end else begin",
        f"      if (push) tail <= {wrap('tail')};",
        f"      if (pop) head <= {wrap('head')};",
        f"      if (push && !pop) count <= count + {literal(1, count_bits)};",
        f"      else if (pop && !push) count <= count - {literal(1, count_bits)};",
        "    end",
        "  end",
        "endmodule",
    ]
    return "\n".join(lines) + "\n"


def _instance(module, instance, valid, ready, data, out_valid, out_ready, out_data):
    return (f"  {module} {instance} (.clock(clock), .reset(reset), .in_valid({valid}), .in_ready({ready}), "
            f".in_data({data}), .out_valid({out_valid}), .out_ready({out_ready}), .out_data({out_data}));")


def _branch(lines, block, x, fifo_name):
    """Declare and wire branch x (its layers, then its FIFO if it has one); the branch is fed
    by br<x>_in_* and hands the join br<x>_valid / br<x>_ready / br<x>_data."""
    valid, ready, data = f"br{x}_in_valid", f"br{x}_in_ready", "in_data"
    stages = [(layer.name, layer.out.width) for layer in block.branches[x]]
    if block.fifo_depths[x]:
        stages.append((fifo_name, block.branch_outputs()[x].width))
    for k, (module, width) in enumerate(stages):
        out = f"br{x}_s{k}"
        last = k == len(stages) - 1
        out_valid, out_ready, out_data = ((f"br{x}_valid", f"br{x}_ready", f"br{x}_data") if last else
                                          (f"{out}_valid", f"{out}_ready", f"{out}_data"))
        lines += [f"  wire {out_valid};", f"  wire {out_ready};", f"  wire [{width - 1}:0] {out_data};"]
        lines.append(_instance(module, f"u_br{x}_{k}_{module}", valid, ready, data, out_valid, out_ready, out_data))
        valid, ready, data = out_valid, out_ready, out_data


def block_verilog(block):
    """`block.name`: fork -> branches -> FIFOs -> join (see chisel/stream/residual.py)."""
    port_a, port_b = block.branch_outputs()
    lines = [
        *module_header(block.name, block.inp.width, block.out.width, streaming=True),
        f"  // residual block {'x'.join(map(str, block.in_shape))} -> {'x'.join(map(str, block.out_shape))}: "
        f"branch a {len(block.branches[0])} layers, FIFO {block.fifo_depths[0]}; "
        f"branch b {len(block.branches[1])} layers, FIFO {block.fifo_depths[1]}",
        "  wire br0_in_valid, br0_in_ready, br1_in_valid, br1_in_ready;",
        "  // fork: a pixel goes to both branches in the same cycle",
        "  assign in_ready = br0_in_ready && br1_in_ready;",
        "  assign br0_in_valid = in_valid && br1_in_ready;",
        "  assign br1_in_valid = in_valid && br0_in_ready;",
    ]
    for x in (0, 1):
        _branch(lines, block, x, f"{block.name}_fifo{'ab'[x]}")
    lines += [
        "  // join: one pixel of each branch -> the output register",
        "  reg out_valid_q;",
        f"  reg [{block.out.width - 1}:0] out_data_q;",
        f"  wire [{block.out.width - 1}:0] joined;",
        "  wire advance = !out_valid_q || out_ready;",
        "  wire joining = br0_valid && br1_valid && advance;",
        "  assign br0_ready = br1_valid && advance;",
        "  assign br1_ready = br0_valid && advance;",
        f"  {block.join.name} u_join (.a_data(br0_data[{port_a.width - 1}:0]), .b_data(br1_data[{port_b.width - 1}:0]), "
        ".out_data(joined));",
        "  always @(posedge clock) begin",
        "    if (joining) out_data_q <= joined;",
        "    if (reset) out_valid_q <= 1'b0;",
        "    else if (joining) out_valid_q <= 1'b1;",
        "    else if (out_ready) out_valid_q <= 1'b0;",
        "  end",
        "  assign out_valid = out_valid_q;",
        "  assign out_data = out_data_q;",
        "endmodule",
    ]
    return "\n".join(lines) + "\n"
