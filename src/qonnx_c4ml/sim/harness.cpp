// Batch driver for one Verilated circuit, built into a shared library and called through ctypes
// (qonnx_c4ml/sim/verilator.py); what it shares with stream_harness.cpp is harness_core.h.
//
// Port contract: clock, reset (active high, synchronous), in_valid, in_data, out_valid,
// out_data; a sample presented with in_valid=1 in cycle t leaves with out_valid=1 in cycle t+L.
#include "harness_core.h"

namespace {
// Idle cycles after the last expected output, to catch a circuit that emits too many outputs.
constexpr int64_t kDrainCycles = 16;

// Drives n samples through the circuit, one per cycle after a reset, then idles until cycle
// n + latency + kDrainCycles. `load(i, words)` fills sample i's QC4ML_IN_WORDS input words;
// `store(j, words)` takes the j-th output (j < n) in arrival order. Writes to stats:
//   [0] outputs seen (including any beyond n, which are not stored)
//   [1] cycles simulated after reset
//   [2] cycle of the first output, -1 if none
//   [3] outputs that did not arrive exactly `latency` cycles after their input
template <typename Load, typename Store>
void drive(QC4ML_MODEL& top, int64_t n, int64_t latency, int64_t* stats, Load load, Store store) {
    uint32_t sample[QC4ML_IN_WORDS] = {};
    uint32_t result[QC4ML_OUT_WORDS] = {};

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
            load(cycle, sample);
            sample[QC4ML_IN_WORDS - 1] &= QC4ML_IN_MASK;  // bits above the port must be zero
            write_port(top.in_data, sample);
            top.in_valid = 1;
        } else if (cycle == n) {
            top.in_valid = 0;
        }
        top.eval();
        if (top.out_valid) {
            if (outputs < n) {
                read_port(top.out_data, result);
                store(outputs, result);
            }
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
}  // namespace

// Packed port words in (n * QC4ML_IN_WORDS), packed port words out (n * QC4ML_OUT_WORDS);
// stats as drive() writes them.
QC4ML_EXPORT void qc4ml_run(void* handle, const uint32_t* in, int64_t n, int64_t latency,
                            uint32_t* out, int64_t* stats) {
    QC4ML_MODEL& top = static_cast<Instance*>(handle)->model;
    drive(top, n, latency, stats,
          [in](int64_t i, uint32_t* words) {
              const uint32_t* src = in + i * QC4ML_IN_WORDS;
              for (int w = 0; w < QC4ML_IN_WORDS; ++w) words[w] = src[w];
          },
          [out](int64_t j, const uint32_t* words) {
              uint32_t* dst = out + j * QC4ML_OUT_WORDS;
              for (int w = 0; w < QC4ML_OUT_WORDS; ++w) dst[w] = words[w];
          });
}

// Integer codes in and out, packed and unpacked here (packing.py's layout, see pack_fields):
// `in` holds n * in_fmt[0] int64 codes, in_fmt = {elements, bits, signed}; `out` receives
// n * out_fmt[0] int64 codes. Before anything is simulated every input code is checked against
// its field: stats[4] is the flat index of the first code that does not fit (nothing is run
// then), -1 when all fit; stats[0..3] as drive() writes them.
QC4ML_EXPORT void qc4ml_run_codes(void* handle, const int64_t* in, int64_t n, const int64_t* in_fmt,
                                  int64_t latency, int64_t* out, const int64_t* out_fmt,
                                  int64_t* stats) {
    const Fields in_fields{in_fmt}, out_fields{out_fmt};
    stats[4] = in_fields.first_misfit(in, n);
    if (stats[4] >= 0) return;
    QC4ML_MODEL& top = static_cast<Instance*>(handle)->model;
    drive(top, n, latency, stats,
          [in, &in_fields](int64_t i, uint32_t* words) {
              in_fields.pack(in + i * in_fields.elements, words, QC4ML_IN_WORDS);
          },
          [out, &out_fields](int64_t j, const uint32_t* words) {
              out_fields.unpack(words, out + j * out_fields.elements);
          });
}
