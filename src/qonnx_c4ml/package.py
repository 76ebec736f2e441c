"""A hand-off directory for hardware engineers: Verilog, a self-checking testbench, vectors.

    package(circuit, "pkg", vectors=100)        # or circuit.package("pkg"), qonnx-c4ml package

writes into `pkg`:
- the circuit's Verilog (`description.files`, top module last) and the `<top>_registered` wrapper,
- `tb_<top>.v`: a self-checking testbench (plain Verilog-2005 plus `$fatal`) that reads
  `<top>_inputs.hex` / `<top>_expected.hex` with `$readmemh`, streams the inputs one per cycle
  (with idle cycles where in_valid is low), checks every output against the expected vector and
  that it arrives exactly `latency_cycles` cycles after its input, prints `PASS: ...` or
  `FAIL: ...` with the mismatch count and ends with `$fatal(1, ...)` on failure (non-zero exit
  status in Icarus and Verilator),
- the vector files: random input codes over the input port's range (plus the all-minimum /
  all-maximum / all-zero corners) or the caller's codes, and the expected output codes computed
  by the circuit itself (`run_codes`, the Verilator model, which `verify` checks against qonnx),
- `report.json` (copied when the circuit was compiled by `qonnx-c4ml compile`, else the circuit
  description), `report.html` when there is one, `vivado_synth.tcl`, and `README.md` (interface,
  latency, valid/reset behaviour, instantiation template, how to run the testbench and synthesis).

The directory is written whole or not at all (staged beside it, then renamed), and an existing
non-empty directory is only replaced with `overwrite=True`.
"""
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from qonnx_c4ml.errors import C4mlError

DEFAULT_VECTORS = 100
MAX_REPORTED_MISMATCHES = 10


def random_codes(port, count, seed=0):
    """`count` input vectors: the corners (all lo, all hi, all 0) first, then uniform random codes."""
    lo, hi = port.code_range
    rng = np.random.default_rng(seed)
    codes = rng.integers(lo, hi + 1, size=(count, port.elements), dtype=np.int64)
    corners = [np.full(port.elements, value, dtype=np.int64) for value in dict.fromkeys((lo, hi, 0))]
    for row, corner in enumerate(corners[:count]):
        codes[row] = corner
    return codes


def hex_lines(codes, port):
    """One hex word per vector, `port.width` bits wide: element 0 in the LSBs, two's complement."""
    from qonnx_c4ml.sim import pack_codes

    try:
        words = pack_codes(codes, port.bits, port.signed)
    except ValueError as error:
        raise C4mlError(f"input vectors: {error}") from None
    digits = -(-port.width // 4)
    lines = []
    for row in words:
        value = 0
        for index, word in enumerate(row.tolist()):
            value |= int(word) << (32 * index)
        lines.append(f"{value & ((1 << port.width) - 1):0{digits}x}")
    return lines


def _port_text(port):
    kind = "signed (two's complement)" if port.signed else "unsigned"
    return f"{port.elements} x {port.bits}-bit {kind}"


def write_hex(path, lines, what):
    header = f"// {what}: {len(lines)} vectors, one per line, element 0 in the least significant bits\n"
    Path(path).write_text(header + "\n".join(lines) + "\n")


def testbench(description, n_vectors, input_file, expected_file):
    """Verilog text of the self-checking testbench `tb_<top>` (see module doc)."""
    top, inp, out, latency = description.top, description.inp, description.out, description.latency_cycles
    name = f"tb_{top}"
    return f"""// Self-checking testbench for {top}, written by qonnx-c4ml.
// Run with Icarus: iverilog -g2012 -o {name}.vvp {name}.v <the Verilog files> && vvp -n {name}.vvp
// Run with Verilator 5: verilator --binary -Wno-fatal --top-module {name} {name}.v <the Verilog files>
// and then ./obj_dir/V{name} (see README.md).
// Reads {n_vectors} input and expected-output vectors ($readmemh), drives one input per clock
// cycle through in_valid/in_data (in_valid low every 5th cycle), and checks each out_data while
// out_valid is high against the next expected vector and that it comes exactly LATENCY cycles
// after its input. Prints PASS or FAIL with the mismatch count; $fatal (exit status 1) on FAIL.
// Other vector files: +inputs=FILE +expected=FILE and the parameter N_VECTORS
// (iverilog -P{name}.N_VECTORS=n, verilator -GN_VECTORS=n).
`timescale 1ns / 1ps
/* verilator lint_off BLKSEQ */
/* verilator lint_off UNUSEDPARAM */
/* verilator lint_off INITIALDLY */
module {name};
  localparam IN_WIDTH = {inp.width};   // {_port_text(inp)}
  localparam OUT_WIDTH = {out.width};  // {_port_text(out)}
  localparam LATENCY = {latency};      // cycles from in_valid/in_data to out_valid/out_data
  parameter N_VECTORS = {n_vectors};
  parameter MAX_REPORTED = {MAX_REPORTED_MISMATCHES};  // mismatches printed in full
  parameter TIMEOUT_CYCLES = N_VECTORS + N_VECTORS / 4 + LATENCY + 32;

  reg clock = 1'b0;
  reg reset = 1'b1;
  reg in_valid = 1'b0;
  reg [IN_WIDTH-1:0] in_data = {{IN_WIDTH{{1'b0}}}};
  wire out_valid;
  wire [OUT_WIDTH-1:0] out_data;

  reg [IN_WIDTH-1:0] inputs [0:N_VECTORS-1];
  reg [OUT_WIDTH-1:0] expected [0:N_VECTORS-1];
  integer issued_at [0:N_VECTORS-1];
  reg [8*1024-1:0] input_file;
  reg [8*1024-1:0] expected_file;
  integer cycle = 0;          // rising edges since reset was released
  integer sent = 0;           // vectors driven with in_valid high
  integer received = 0;       // outputs seen with out_valid high
  integer mismatches = 0;     // outputs whose out_data differs from the expected vector
  integer protocol_errors = 0;  // wrong latency, unknown out_valid, extra or missing outputs
  integer drain = 0;          // cycles since the last input was driven

  {top} dut (
    .clock(clock),
    .reset(reset),
    .in_valid(in_valid),
    .in_data(in_data),
    .out_valid(out_valid),
    .out_data(out_data)
  );

  always #5 clock = ~clock;

  initial begin
    input_file = "{input_file}";
    expected_file = "{expected_file}";
    if ($value$plusargs("inputs=%s", input_file)) $display("inputs from %0s", input_file);
    if ($value$plusargs("expected=%s", expected_file)) $display("expected outputs from %0s", expected_file);
    $readmemh(input_file, inputs);
    $readmemh(expected_file, expected);
    repeat (4) @(posedge clock);
    reset <= 1'b0;
  end

  always @(posedge clock) begin
    if (!reset) begin
      // check what the circuit shows during the cycle that ends now
      if (out_valid !== 1'b0 && out_valid !== 1'b1) begin
        protocol_errors = protocol_errors + 1;
        $display("ERROR cycle %0d: out_valid is %b after reset", cycle, out_valid);
      end else if (out_valid) begin
        if (received >= N_VECTORS) begin
          protocol_errors = protocol_errors + 1;
          $display("ERROR cycle %0d: out_valid high after all %0d outputs", cycle, N_VECTORS);
        end else begin
          if (cycle - issued_at[received] - 1 != LATENCY) begin
            protocol_errors = protocol_errors + 1;
            $display("ERROR vector %0d: output after %0d cycles, expected latency %0d", received,
                     cycle - issued_at[received] - 1, LATENCY);
          end
          if (out_data !== expected[received]) begin
            mismatches = mismatches + 1;
            if (mismatches <= MAX_REPORTED)
              $display("MISMATCH vector %0d: out_data %h, expected %h", received, out_data,
                       expected[received]);
          end
          received = received + 1;
        end
      end
      // drive the next input (idle every 5th cycle: in_valid low, in_data held)
      if (sent < N_VECTORS && cycle % 5 != 4) begin
        in_data <= inputs[sent];
        in_valid <= 1'b1;
        issued_at[sent] = cycle;
        sent = sent + 1;
      end else begin
        in_valid <= 1'b0;
      end
      if (sent == N_VECTORS) drain = drain + 1;
      if ((sent == N_VECTORS && drain > LATENCY + 8) || cycle > TIMEOUT_CYCLES) finish_test;
      cycle = cycle + 1;
    end
  end

  task finish_test;
    begin
      if (received != N_VECTORS) begin
        protocol_errors = protocol_errors + 1;
        $display("ERROR: %0d of %0d outputs arrived (out_valid high)", received, N_VECTORS);
      end
      if (mismatches == 0 && protocol_errors == 0) begin
        $display("PASS: %0d vectors, 0 mismatches, latency %0d cycles", N_VECTORS, LATENCY);
        $finish;
      end else begin
        $display("FAIL: %0d mismatches, %0d protocol errors in %0d vectors", mismatches,
                 protocol_errors, N_VECTORS);
        $fatal(1, "{name} failed");
      end
    end
  endtask
endmodule
"""


def streaming_testbench(description, n_frames, input_file, expected_file):
    """Verilog text of `tb_<top>` for a streaming top: pixels in through valid/ready, frames out."""
    top, out, stream = description.top, description.out, description.stream
    c, h, w = stream["in_shape"]
    pixel = stream["pixel_in"]
    pixel_width = pixel["elements"] * pixel["bits"]
    name = f"tb_{top}"
    return f"""// Self-checking testbench for the streaming circuit {top}, written by qonnx-c4ml.
// Run with Icarus: iverilog -g2012 -o {name}.vvp {name}.v <the Verilog files> && vvp -n {name}.vvp
// Sends N_FRAMES frames of {h}x{w} pixels ({c} channels each, raster order) through in_valid/in_ready
// (in_valid low every 7th cycle), holds out_ready low every 5th cycle (back-pressure), checks
// every frame on out_valid/out_ready against the expected file, prints PASS or FAIL ($fatal).
`timescale 1ns / 1ps
/* verilator lint_off BLKSEQ */
/* verilator lint_off UNUSEDPARAM */
/* verilator lint_off INITIALDLY */
module {name};
  localparam PIXEL_WIDTH = {pixel_width};  // {pixel["elements"]} x {pixel["bits"]}-bit {"signed" if pixel["signed"] else "unsigned"}
  localparam OUT_WIDTH = {out.width};      // {_port_text(out)}
  localparam PIXELS = {h * w};             // per frame
  parameter N_FRAMES = {n_frames};
  parameter TIMEOUT_CYCLES = (N_FRAMES + 4) * PIXELS * 4 + 1000;

  reg clock = 1'b0;
  reg reset = 1'b1;
  reg in_valid = 1'b0;
  reg [PIXEL_WIDTH-1:0] in_data = {{PIXEL_WIDTH{{1'b0}}}};
  reg out_ready = 1'b0;
  wire in_ready;
  wire out_valid;
  wire [OUT_WIDTH-1:0] out_data;

  reg [PIXEL_WIDTH-1:0] pixels [0:N_FRAMES*PIXELS-1];
  reg [OUT_WIDTH-1:0] expected [0:N_FRAMES-1];
  integer cycle = 0;
  integer sent = 0;        // pixels accepted (in_valid && in_ready)
  integer received = 0;    // frames accepted (out_valid && out_ready)
  integer mismatches = 0;

  {top} dut (.clock(clock), .reset(reset), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
    .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data));

  always #5 clock = ~clock;

  initial begin
    $readmemh("{input_file}", pixels);
    $readmemh("{expected_file}", expected);
    repeat (4) @(posedge clock);
    reset <= 1'b0;
  end

  always @(posedge clock) begin
    if (!reset) begin
      if (in_valid && in_ready) sent = sent + 1;
      if (out_valid === 1'b1 && out_ready) begin
        if (received >= N_FRAMES) $fatal(1, "{name}: a frame after all %0d", N_FRAMES);
        if (out_data !== expected[received]) begin
          mismatches = mismatches + 1;
          $display("MISMATCH frame %0d: out_data %h, expected %h", received, out_data, expected[received]);
        end
        received = received + 1;
      end
      in_valid <= sent < N_FRAMES * PIXELS && cycle % 7 != 6;
      in_data <= pixels[sent < N_FRAMES * PIXELS ? sent : 0];
      out_ready <= cycle % 5 != 4;
      if (received == N_FRAMES || cycle > TIMEOUT_CYCLES) begin
        if (received == N_FRAMES && mismatches == 0) begin
          $display("PASS: %0d frames, 0 mismatches, %0d cycles", N_FRAMES, cycle);
          $finish;
        end else begin
          $display("FAIL: %0d mismatches, %0d of %0d frames", mismatches, received, N_FRAMES);
          $fatal(1, "{name} failed");
        end
      end
      cycle = cycle + 1;
    end
  end
endmodule
"""


def streaming_readme(description, n_frames, input_file, expected_file, source=None):
    """README.md of a streaming package: the pixel interface and how to run the testbench."""
    top, out, stream = description.top, description.out, description.stream
    c, h, w = stream["in_shape"]
    pixel = stream["pixel_in"]
    sources = _sources_text(description.files)
    name = f"tb_{top}"
    return f"""# `{top}`: generated by qonnx-c4ml (streaming style)

A quantized neural network{f' (`{source}`)' if source else ''} whose convolution/pool layers stream one pixel
per clock cycle through line buffers (weights are constants in the logic) into a fully parallel
dense part. Initiation interval **{stream['ii_cycles']} cycles per frame**, latency **{stream['latency_cycles']}
cycles** from the first pixel accepted to the frame's result, {stream['line_buffer_bits']} line-buffer bits.

## Interface of `{top}`

| port | dir | width | meaning |
|---|---|---|---|
| `clock`, `reset` | in | 1 | rising-edge clock; synchronous active-high reset |
| `in_valid` / `in_ready` | in / out | 1 | a pixel moves when both are high |
| `in_data` | in | {pixel['elements'] * pixel['bits']} | one pixel: {c} channels x {pixel['bits']}-bit {'signed' if pixel['signed'] else 'unsigned'} codes, channel 0 in the LSBs; pixels in raster order (row by row), {h}x{w} per frame |
| `out_valid` / `out_ready` | out / in | 1 | a result moves when both are high (hold `out_ready` low to stall: nothing is lost) |
| `out_data` | out | {out.width} | {_port_text(out)} output codes, element *i* in bits `[{out.bits}*i +: {out.bits}]` |

## Files and testbench

`{input_file}` holds {n_frames} frames as {n_frames * h * w} pixel words, `{expected_file}` the {n_frames} expected
results (from the Verilator simulation, checked bit-exact against the QONNX reference). `{name}.v`
sends the pixels with gaps, applies back-pressure on `out_ready`, and prints `PASS` or `FAIL`:

```sh
iverilog -g2012 -o {name}.vvp {name}.v {sources}
vvp -n {name}.vvp
```
"""


def _sources_text(files):
    return " ".join(files)


def readme(description, files, n_vectors, input_file, expected_file, source=None, user_inputs=False):
    """README.md for hardware engineers (interface, timing, instantiation, simulation, synthesis)."""
    top, inp, out, latency = description.top, description.inp, description.out, description.latency_cycles
    name = f"tb_{top}"
    sources = _sources_text(files)
    wrapper = description.registered_wrapper
    wrapper_module = Path(wrapper).stem if wrapper else ""
    lo_in, hi_in = inp.code_range
    lo_out, hi_out = out.code_range
    combinational = latency == 0
    if combinational:
        timing = ("Combinational (latency 0): out_data and out_valid follow in_data and in_valid within "
                  "the same cycle; clock and reset are unused. For register-to-register timing use the "
                  f"`{wrapper_module}` wrapper (latency 2).")
    else:
        timing = (f"Pipelined, latency {latency} cycles: a sample presented on in_data with in_valid high "
                  f"at rising clock edge *k* appears on out_data with out_valid high after rising edge "
                  f"*k + {latency}*. The inputs are registered (no logic between the input pins and the "
                  "first register).")
    vectors_from = "the caller's input codes" if user_inputs else \
        "random codes; the first ones all-minimum, all-maximum, all-zero"
    wrapper_row = f"| `{wrapper}` | `{wrapper_module}`: input and output registers around `{top}` " \
                  f"(latency {latency + 2}), for timing analysis |\n" if wrapper else ""
    return f"""# `{top}`: generated by qonnx-c4ml

A fully parallel, direct-logic implementation of a quantized neural network{f' (`{source}`)' if source else ''}:
every weight is a constant in the logic. Pipeline: `{description.pipeline}`, latency **{latency}**
cycle{'s' if latency != 1 else ''}, one sample per clock cycle.

## Files

| file | content |
|---|---|
{''.join(f'| `{f}` | {"top module" if f == description.files[-1] else "layer module"} |' + chr(10) for f in description.files)}{wrapper_row}| `{name}.v` | self-checking testbench |
| `{input_file}` | {n_vectors} input vectors ({vectors_from}) |
| `{expected_file}` | the {n_vectors} expected output vectors, from the Verilator simulation of this circuit (checked bit-exact against the QONNX reference by `qonnx-c4ml verify`) |
| `report.json` | top, files, ports, latency, per-layer sizes |
| `vivado_synth.tcl` | out-of-context Vivado synthesis script |

Compile order: the files in the order above (layer modules first, then `{description.files[-1]}`); any order
works for tools that elaborate after reading all files.

## Interface of `{top}`

| port | dir | width | meaning |
|---|---|---|---|
| `clock` | in | 1 | rising-edge clock{' (unused: combinational circuit)' if combinational else ''} |
| `reset` | in | 1 | synchronous, active high; clears the valid pipeline (not the data registers){' (unused)' if combinational else ''} |
| `in_valid` | in | 1 | in_data holds a sample this cycle |
| `in_data` | in | {inp.width} | {_port_text(inp)} input codes, element *i* in bits `[{inp.bits}*i +: {inp.bits}]` (element 0 in the LSBs), range {lo_in}..{hi_in} |
| `out_valid` | out | 1 | out_data holds a result this cycle: in_valid delayed by {latency} cycle{'s' if latency != 1 else ''} |
| `out_data` | out | {out.width} | {_port_text(out)} output codes, element *i* in bits `[{out.bits}*i +: {out.bits}]`, range {lo_out}..{hi_out} |

- **Latency and throughput.** {timing} There is no back-pressure: a new sample may be given every
  cycle, and in_valid may be low in any cycle (out_data is then don't-care while out_valid is low).
- **Reset.** Hold `reset` high for at least one rising edge{'' if combinational else f'; out_valid is low from the next cycle until {latency} cycles after the first valid input'}. Before the first
  reset, out_valid is unknown in simulation. Data registers are not reset (they need no reset).
- **Codes.** The circuit works on integer codes: in_data carries the codes of the model's input
  quantizer (input / scale, rounded and clipped as in the QONNX model), out_data the integer codes of
  the model's last integer tensor (multiply by that tensor's scale for the real value). Element
  *i* of the network's flattened input/output is element *i* of the port.
- Reading element *i* in Verilog: `out_data[{out.bits}*i +: {out.bits}]`{f', signed: `$signed(out_data[{out.bits}*i +: {out.bits}])`' if out.signed else ''}.

## Instantiation

```verilog
wire              nn_in_valid;
wire [{inp.width - 1}:0] nn_in_data;   // {_port_text(inp)}, element 0 in [{inp.bits - 1}:0]
wire              nn_out_valid;
wire [{out.width - 1}:0] nn_out_data;  // {_port_text(out)}, element 0 in [{out.bits - 1}:0]

{top} u_{top} (
  .clock    (clk),
  .reset    (rst),          // synchronous, active high
  .in_valid (nn_in_valid),
  .in_data  (nn_in_data),
  .out_valid(nn_out_valid),  // {latency} cycle{'s' if latency != 1 else ''} after in_valid
  .out_data (nn_out_data)
);
```
{f'`{wrapper_module}` has the same ports and adds an input and an output register (latency {latency + 2}).' + chr(10) if wrapper else ''}
## Running the testbench

`{name}` drives the {n_vectors} vectors of `{input_file}` one per cycle (in_valid low every fifth cycle),
compares every output with `{expected_file}`, checks the latency, and prints
`PASS: {n_vectors} vectors, 0 mismatches, latency {latency} cycles` or `FAIL: <n> mismatches, ...` and then
stops with `$fatal` (non-zero exit status: 1 in Icarus, an abort in Verilator). Run it from this
directory (the vector files are read relative to it).

Icarus Verilog (≥ 10):

```sh
iverilog -g2012 -o {name}.vvp {name}.v {sources}
vvp -n {name}.vvp
```

Verilator (≥ 5.0):

```sh
verilator --binary -Wno-fatal --top-module {name} {name}.v {sources}
./obj_dir/V{name}
```

Your own vectors: one hex word per line, {inp.width} bits ({-(-inp.width // 4)} hex digits) per input,
{out.width} bits per expected output, element 0 in the least significant bits, negative codes in two's
complement; `//` comments are allowed. Pass `+inputs=FILE +expected=FILE` to the simulation and set
the count with `-P{name}.N_VECTORS=n` (iverilog) or `-GN_VECTORS=n` (verilator). The expected outputs
for any inputs come from Python: `Circuit(model).run_codes(codes)` (qonnx_c4ml).

## Synthesis

- Yosys, generic 6-input LUTs (`abc -fast` keeps whole networks quick):
  `yosys -p "read_verilog {sources}; synth -flatten -noabc -top {top}; abc -fast -lut 6; stat"`;
  Xilinx 7-series cells: `yosys -p "read_verilog {sources}; synth_xilinx -flatten -noiopad -noclkbuf -top {top}; stat"`.
  (`qonnx-c4ml compile MODEL -o DIR --synth yosys` runs these flows and also reports the LUT depth.)
- Vivado: `vivado -mode batch -source vivado_synth.tcl` synthesizes `{top}` out of context with a
  5 ns clock on `clock` (edit `set part` and the `create_clock` period in the script) and writes utilization,
  timing and logic-level reports to `vivado_{top}/`.{f' For register-to-register timing of the combinational circuit synthesize `{wrapper_module}` (add `{wrapper}`, set `top`).' if combinational and wrapper else ''}
- The logic is plain Verilog-2001 (`assign`, adders, comparators, `always @(posedge clock)`), with no
  vendor primitives, memories or DSP inference requirements; multiplications by constants are
  already shift-add logic.
"""


def check_destination(out_dir, overwrite=False, verilog_dir=None):
    """`out_dir` as a Path if a package may be written there, else C4mlError (never replace a
    non-empty directory without `overwrite`, never the circuit's own Verilog directory)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise C4mlError(f"{out_dir} exists and is not a directory")
    if verilog_dir is not None:
        resolved, sources = out_dir.resolve(), Path(verilog_dir).resolve()
        if resolved == sources or resolved in sources.parents:
            raise C4mlError(f"{out_dir} holds the circuit's own Verilog ({verilog_dir}); "
                            "package into another directory")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise C4mlError(f"{out_dir} is not empty; choose a new directory or pass --force "
                        "(Python: overwrite=True) to replace it")
    return out_dir


def package(circuit, out_dir, vectors=DEFAULT_VECTORS, inputs=None, seed=0, overwrite=False, source=None):
    """Write the hand-off directory for `circuit` (a qonnx_c4ml.Circuit) into `out_dir`.

    `inputs`: optional int codes (N, input elements) used instead of `vectors` random ones.
    Returns a dict: dir, files, vectors, testbench, top, latency_cycles.
    """
    from qonnx_c4ml.synth import write_vivado_tcl

    description = circuit.description
    streaming = description.style == "streaming"
    verilog_dir = circuit.verilog_dir
    out_dir = check_destination(out_dir, overwrite, verilog_dir)
    if inputs is None:
        if int(vectors) < 1:
            raise C4mlError(f"vectors must be at least 1, got {vectors}")
        codes = random_codes(description.inp, int(vectors), seed)
    else:
        codes = np.asarray(inputs)
        if codes.ndim == 1:
            codes = codes.reshape(1, -1)
        if codes.ndim != 2 or codes.shape[1] != description.inp.elements or not len(codes):
            raise C4mlError(f"inputs must have shape (N, {description.inp.elements}) with N >= 1, "
                            f"got {codes.shape}")
    in_lines = hex_lines(codes, description.inp)  # validates the codes' range first
    if streaming:  # the testbench sends pixels: gathered (in_index) and in raster order
        from qonnx_c4ml.interface import Port
        from qonnx_c4ml.sim.streaming import frames_to_pixels

        frames = np.asarray(codes, dtype=np.int64)
        if description.stream.get("in_index"):
            frames = frames[:, description.stream["in_index"]]
        in_lines = hex_lines(frames_to_pixels(frames, description.stream["in_shape"]),
                             Port(**description.stream["pixel_in"]))
    expected = circuit.run_codes(np.asarray(codes, dtype=np.int64))
    out_lines = hex_lines(expected, description.out)

    top = description.top
    input_file, expected_file = f"{top}_inputs.hex", f"{top}_expected.hex"
    verilog = list(description.files) + ([description.registered_wrapper] if description.registered_wrapper else [])
    missing = [f for f in verilog if not (verilog_dir / f).is_file()]
    if missing:
        raise C4mlError(f"the circuit's Verilog is gone from {verilog_dir} (missing {', '.join(missing)}); "
                        "rebuild the Circuit")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for f in verilog:
            shutil.copyfile(verilog_dir / f, staging / f)
        n = len(codes)
        (staging / f"tb_{top}.v").write_text(streaming_testbench(description, n, input_file, expected_file)
                                             if streaming else testbench(description, n, input_file, expected_file))
        write_hex(staging / input_file, in_lines, f"{top} in_data, {_port_text(description.inp)}")
        write_hex(staging / expected_file, out_lines, f"{top} expected out_data, {_port_text(description.out)}")
        report = verilog_dir / "report.json"
        if report.is_file():
            shutil.copyfile(report, staging / "report.json")
            if (verilog_dir / "report.html").is_file():  # self-contained (plots inlined)
                shutil.copyfile(verilog_dir / "report.html", staging / "report.html")
        else:
            (staging / "report.json").write_text(json.dumps(asdict(description), indent=2, sort_keys=True) + "\n")
        write_vivado_tcl(staging / "vivado_synth.tcl", [staging / f for f in description.files], top)
        (staging / "README.md").write_text(
            streaming_readme(description, n, input_file, expected_file, source=source) if streaming else
            readme(description, list(description.files), n, input_file, expected_file, source=source,
                   user_inputs=inputs is not None))
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; give it a normal directory's mode
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = sorted(p.name for p in out_dir.iterdir())
    return {"dir": str(out_dir), "files": files, "vectors": len(codes), "testbench": f"tb_{top}.v",
            "top": top, "latency_cycles": description.latency_cycles}

