// Batch driver for one Verilated circuit, built into a shared library and called through ctypes
// (qonnx_c4ml/sim/verilator.py); what it shares with stream_harness.cpp is harness_core.h.
//
// Port contract: clock, reset (active high, synchronous), in_valid, in_data, out_valid,
// out_data; a sample presented with in_valid=1 in cycle t leaves with out_valid=1 in cycle t+L.
#include "harness_core.h"

namespace {
// Idle cycles after the last expected output, to catch a circuit that emits too many outputs.
constexpr int64_t kDrainCycles = 16;
}  // namespace

// Drives n samples (in: n * QC4ML_IN_WORDS words) through the circuit, one per cycle after a
// reset, then idles until cycle n + latency + kDrainCycles. Outputs are stored in arrival order
// (out: n * QC4ML_OUT_WORDS words). Writes to stats:
//   [0] outputs seen (including any beyond n, which are not stored)
//   [1] cycles simulated after reset
//   [2] cycle of the first output, -1 if none
//   [3] outputs that did not arrive exactly `latency` cycles after their input
QC4ML_EXPORT void qc4ml_run(void* handle, const uint32_t* in, int64_t n, int64_t latency,
                            uint32_t* out, int64_t* stats) {
    QC4ML_MODEL& top = static_cast<Instance*>(handle)->model;
    uint32_t sample[QC4ML_IN_WORDS] = {};

    top.in_valid = 0;
    write_port(top.in_data, sample);
    reset(top);

    const int64_t total_cycles = n + latency + kDrainCycles;
    // Verilator 5 re-evaluates all logic fed by top inputs on every eval(), so a clock edge
    // costs a second full pass over a combinational circuit. Latency 0 promises no registers
    // between in_data and out_data: one eval per sample with the clock held low then gives the
    // same outputs at half the cost (0.41 -> 1.02 M samples/s on the 4k-adder benchmark).
    const bool clocked = latency > 0;
    int64_t outputs = 0, first_output = -1, misaligned = 0;
    for (int64_t cycle = 0; cycle < total_cycles; ++cycle) {
        if (cycle < n) {
            present_input(top, in, cycle, sample);
            top.in_valid = 1;
        } else if (cycle == n) {
            top.in_valid = 0;
        }
        top.eval();
        if (top.out_valid) {
            if (outputs < n) read_port(top.out_data, out + outputs * QC4ML_OUT_WORDS);
            if (first_output < 0) first_output = cycle;
            if (cycle != outputs + latency) ++misaligned;
            ++outputs;
        }
        if (clocked) clock_edge(top);
    }
    stats[0] = outputs;
    stats[1] = total_cycles;
    stats[2] = first_output;
    stats[3] = misaligned;
}
