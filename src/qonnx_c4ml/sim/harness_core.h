// What every C++ driver of a Verilated circuit shares (harness.cpp, stream_harness.cpp): port
// access, one model instance per context, reset, and the C entry points that create and
// destroy an instance. verilator.py's _harness_source pastes this file where a driver says
// `#include "harness_core.h"`, after the prelude that defines
//   QC4ML_MODEL      the Verilated class (unique per build: --prefix from the content hash)
//   QC4ML_IN_WORDS   uint32 words of in_data, QC4ML_IN_MASK mask of its most significant word
//   QC4ML_OUT_WORDS  uint32 words of out_data
// so the build cache key covers it like the driver itself.
#include <cstdint>
#include <new>

#include "verilated.h"

#define QC4ML_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

constexpr int kResetCycles = 4;

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

// Present the `index`-th input word group of `in` on in_data (`buffer`: QC4ML_IN_WORDS words).
// Bits above the port width must be zero in Verilator's representation.
template <typename Model>
inline void present_input(Model& top, const uint32_t* in, int64_t index, uint32_t* buffer) {
    const uint32_t* words = in + index * QC4ML_IN_WORDS;
    for (int w = 0; w < QC4ML_IN_WORDS; ++w) buffer[w] = words[w];
    buffer[QC4ML_IN_WORDS - 1] &= QC4ML_IN_MASK;
    write_port(top.in_data, buffer);
}

// kResetCycles clock cycles with reset high (synchronous, active high), then reset low with
// the clock low: the state every run starts from.
template <typename Model>
inline void reset(Model& top) {
    top.reset = 1;
    for (int i = 0; i < kResetCycles; ++i) {
        top.clock = 0;
        top.eval();
        top.clock = 1;
        top.eval();
    }
    top.reset = 0;
    top.clock = 0;
}

// The rising clock edge after the inputs of a cycle are set and evaluated; the clock ends low.
template <typename Model>
inline void clock_edge(Model& top) {
    top.clock = 1;
    top.eval();
    top.clock = 0;
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
