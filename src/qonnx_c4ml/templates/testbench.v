// Self-checking testbench for {top}, written by qonnx-c4ml.
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
  localparam IN_WIDTH = {inp.width};   // {in_text}
  localparam OUT_WIDTH = {out.width};  // {out_text}
  localparam LATENCY = {latency};      // cycles from in_valid/in_data to out_valid/out_data
  parameter N_VECTORS = {n_vectors};
  parameter MAX_REPORTED = {max_reported};  // mismatches printed in full
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
