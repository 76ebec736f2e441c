// Batch driver for one Verilated circuit, built into a shared library and called through ctypes
// (qonnx_c4ml/sim/verilator.py). The build prepends a prelude that defines
//   QC4ML_MODEL      the Verilated class (unique per build: --prefix from the content hash)
//   QC4ML_IN_WORDS   uint32 words of in_data, QC4ML_IN_MASK mask of its most significant word
//   QC4ML_OUT_WORDS  uint32 words of out_data
// and includes the model header.
//
// Port contract: clock, reset (active high, synchronous), in_valid, in_data, out_valid,
// out_data; a sample presented with in_valid=1 in cycle t leaves with out_valid=1 in cycle t+L.
#include <cstdint>
#include <new>

#include "verilated.h"

#define QC4ML_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr int kResetCycles = 4;
// Idle cycles after the last expected output, to catch a circuit that emits too many outputs.
constexpr int64_t kDrainCycles = 16;

// Verilator stores a port in the narrowest of CData/SData/IData/QData that holds it, and wider
// ports as VlWide<N> (N little-endian 32-bit words); these overloads hide which one it is.
template <typename Narrow>
inline void write_port(Narrow& port, const uint32_t* words) {
    if constexpr (sizeof(Narrow) == 8) {
        port = static_cast<QData>(words[0]) | (static_cast<QData>(words[1]) << 32);
    } else {
        port = static_cast<Narrow>(words[0]);
    }
}
template <std::size_t N>
inline void write_port(VlWide<N>& port, const uint32_t* words) {
    for (std::size_t i = 0; i < N; ++i) port[i] = words[i];
}
template <typename Narrow>
inline void read_port(const Narrow& port, uint32_t* words) {
    words[0] = static_cast<uint32_t>(port);
    if constexpr (sizeof(Narrow) == 8) words[1] = static_cast<uint32_t>(port >> 32);
}
template <std::size_t N>
inline void read_port(const VlWide<N>& port, uint32_t* words) {
    for (std::size_t i = 0; i < N; ++i) words[i] = port[i];
}

// One context per instance: Verilator allows different contexts to be evaluated concurrently
// from different threads, which is how the Python side splits a batch over two cores.
struct Instance {
    VerilatedContext context;
    QC4ML_MODEL model{&context, "TOP"};
};

}  // namespace

QC4ML_EXPORT int qc4ml_in_words() { return QC4ML_IN_WORDS; }
QC4ML_EXPORT int qc4ml_out_words() { return QC4ML_OUT_WORDS; }

QC4ML_EXPORT void* qc4ml_create() {
    // An exception must not cross the C boundary into ctypes; null means "could not allocate".
    try {
        return new Instance();
    } catch (...) {
        return nullptr;
    }
}

QC4ML_EXPORT void qc4ml_destroy(void* handle) {
    auto* instance = static_cast<Instance*>(handle);
    instance->model.final();
    delete instance;
}

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
    top.reset = 1;
    for (int i = 0; i < kResetCycles; ++i) {
        top.clock = 0;
        top.eval();
        top.clock = 1;
        top.eval();
    }
    top.reset = 0;

    const int64_t total_cycles = n + latency + kDrainCycles;
    // Verilator 5 re-evaluates all logic fed by top inputs on every eval(), so a clock edge
    // costs a second full pass over a combinational circuit. Latency 0 promises no registers
    // between in_data and out_data: one eval per sample with the clock held low then gives the
    // same outputs at half the cost (0.41 -> 1.02 M samples/s on the 4k-adder benchmark).
    const bool clocked = latency > 0;
    int64_t outputs = 0, first_output = -1, misaligned = 0;
    top.clock = 0;
    for (int64_t cycle = 0; cycle < total_cycles; ++cycle) {
        if (cycle < n) {
            const uint32_t* words = in + cycle * QC4ML_IN_WORDS;
            for (int w = 0; w < QC4ML_IN_WORDS; ++w) sample[w] = words[w];
            // Bits above the port width must be zero in Verilator's representation.
            sample[QC4ML_IN_WORDS - 1] &= QC4ML_IN_MASK;
            write_port(top.in_data, sample);
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
        if (clocked) {
            top.clock = 1;
            top.eval();
            top.clock = 0;
        }
    }
    stats[0] = outputs;
    stats[1] = total_cycles;
    stats[2] = first_output;
    stats[3] = misaligned;
}
