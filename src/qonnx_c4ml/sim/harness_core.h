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

// A port seen as `elements` fields of `bits` (1..32) bits, element 0 in the least significant
// bits, two's complement when `is_signed`: the layout of packing.py, so packing here and there
// gives the same words. `fmt` is {elements, bits, signed}.
struct Fields {
    int64_t elements;
    int bits;
    bool is_signed;
    uint64_t mask;
    int64_t low, high;  // the codes a field holds

    explicit Fields(const int64_t* fmt)
        : elements(fmt[0]), bits(static_cast<int>(fmt[1])), is_signed(fmt[2] != 0),
          mask((uint64_t{1} << bits) - 1),
          low(is_signed ? -(int64_t{1} << (bits - 1)) : 0),
          high(is_signed ? (int64_t{1} << (bits - 1)) - 1 : (int64_t{1} << bits) - 1) {}

    // Flat index of the first of n * elements codes outside [low, high], -1 if none.
    int64_t first_misfit(const int64_t* codes, int64_t n) const {
        const int64_t total = n * elements;
        for (int64_t k = 0; k < total; ++k) {
            if (codes[k] < low || codes[k] > high) return k;
        }
        return -1;
    }

    // One sample's codes into `n_words` words (zeroed first; the fields are disjoint).
    void pack(const int64_t* codes, uint32_t* words, int n_words) const {
        for (int w = 0; w < n_words; ++w) words[w] = 0;
        for (int64_t e = 0; e < elements; ++e) {
            const uint64_t field = static_cast<uint64_t>(codes[e]) & mask;
            const int64_t bit = e * bits;
            const int64_t word = bit >> 5;
            const int shift = static_cast<int>(bit & 31);
            words[word] |= static_cast<uint32_t>(field << shift);
            if (shift + bits > 32) words[word + 1] |= static_cast<uint32_t>(field >> (32 - shift));
        }
    }

    // One sample's words back into `elements` int64 codes (bits above the fields ignored).
    void unpack(const uint32_t* words, int64_t* codes) const {
        const uint64_t sign = uint64_t{1} << (bits - 1);
        for (int64_t e = 0; e < elements; ++e) {
            const int64_t bit = e * bits;
            const int64_t word = bit >> 5;
            const int shift = static_cast<int>(bit & 31);
            uint64_t field = static_cast<uint64_t>(words[word]) >> shift;
            if (shift + bits > 32) field |= static_cast<uint64_t>(words[word + 1]) << (32 - shift);
            field &= mask;
            // Two's complement: (field XOR sign) - sign maps [2^(b-1), 2^b) onto negatives.
            codes[e] = is_signed ? static_cast<int64_t>(field ^ sign) - static_cast<int64_t>(sign)
                                 : static_cast<int64_t>(field);
        }
    }
};

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
