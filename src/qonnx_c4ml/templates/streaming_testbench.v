// Self-checking testbench for the streaming circuit {top}, written by qonnx-c4ml.
// Run with Icarus: iverilog -g2012 -o {name}.vvp {name}.v <the Verilog files> && vvp -n {name}.vvp
// Sends N_FRAMES frames of {h}x{w} pixels ({c} channels each, raster order) through in_valid/in_ready
// (in_valid low every 7th cycle), holds out_ready low every 5th cycle (back-pressure), checks
// every frame on out_valid/out_ready against the expected file, prints PASS or FAIL ($fatal).
`timescale 1ns / 1ps
/* verilator lint_off BLKSEQ */
/* verilator lint_off UNUSEDPARAM */
/* verilator lint_off INITIALDLY */
module {name};
  localparam PIXEL_WIDTH = {pixel_width};  // {pixel[elements]} x {pixel[bits]}-bit {pixel_sign}
  localparam OUT_WIDTH = {out.width};      // {out_text}
  localparam PIXELS = {pixels};             // per frame
  parameter N_FRAMES = {n_frames};
  localparam FRAME_CYCLES = {frame_cycles};  // cycles per frame when never stalled
  parameter TIMEOUT_CYCLES = (N_FRAMES + 4) * FRAME_CYCLES * 4 + 1000;

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
