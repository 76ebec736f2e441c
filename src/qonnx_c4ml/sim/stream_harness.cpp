// Driver for a Verilated streaming top (qonnx_c4ml/chisel/stream/): the frame top, whose
// output beats are whole frames, or the stream top, whose output beats are pixels. Built into a
// shared library and called through ctypes (qonnx_c4ml/sim/stream_simulator.py); what it shares with
// harness.cpp is harness_core.h. in_data is one pixel, out_data one output beat (a frame or a
// pixel).
//
// Port contract: clock, reset (active high, synchronous), in_valid/in_ready/in_data (pixels in
// raster order), out_valid/out_ready/out_data (output beats). A beat moves when valid and ready
// are both high at a rising edge; a source keeps valid (and its data) until the beat moves.
#include "harness_core.h"

namespace {

// Longest run of cycles out_ready keeps one random level: long enough to back up the chain.
constexpr uint32_t kMaxReadyRun = 64;

// xorshift64*: a deterministic, seedable source for valid gaps and ready stalls.
struct Random {
    uint64_t state;
    explicit Random(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 1) {}
    uint32_t percent() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return static_cast<uint32_t>((state * 0x2545F4914F6CDD1Dull) >> 33) % 100;
    }
};

}  // namespace

// Streams n_pixels pixels (in: n_pixels * QC4ML_IN_WORDS words) into the top after a reset and
// collects n_frames output beats (out: n_frames * QC4ML_OUT_WORDS words), stopping when all
// arrived or after max_cycles. Each cycle a pending pixel is offered with probability
// (100 - in_gap_percent)%; out_ready is high with probability (100 - out_stall_percent)%,
// each level held for 1..kMaxReadyRun cycles.
// frame_cycle[f] = cycle output beat f moved; pixel_cycle[p] = cycle
// pixel p moved. stats: [0] cycles simulated, [1] frames seen, [2] cycles with in_valid high and
// in_ready low, [3] cycles with out_valid high and out_ready low.
QC4ML_EXPORT void qc4ml_stream_run(void* handle, const uint32_t* in, int64_t n_pixels,
                                   int64_t n_frames, int64_t in_gap_percent,
                                   int64_t out_stall_percent, uint64_t seed, int64_t max_cycles,
                                   uint32_t* out, int64_t* pixel_cycle, int64_t* frame_cycle,
                                   int64_t* stats) {
    QC4ML_MODEL& top = static_cast<Instance*>(handle)->model;
    Random random(seed);
    uint32_t pixel[QC4ML_IN_WORDS] = {};

    top.in_valid = 0;
    top.out_ready = 0;
    write_port(top.in_data, pixel);
    reset(top);

    int64_t sent = 0, frames = 0, in_stalls = 0, out_stalls = 0, cycle = 0;
    bool offering = false, ready = true;
    int64_t ready_hold = 0;
    for (; cycle < max_cycles && frames < n_frames; ++cycle) {
        if (!offering && sent < n_pixels && (in_gap_percent <= 0 || random.percent() >= in_gap_percent)) {
            present_input(top, in, sent, pixel);
            offering = true;
        }
        top.in_valid = offering;
        if (ready_hold == 0) {  // out_ready holds each random level for a random run of cycles
            ready = out_stall_percent <= 0 || random.percent() >= out_stall_percent;
            ready_hold = out_stall_percent <= 0 ? max_cycles : 1 + random.percent() % kMaxReadyRun;
        }
        --ready_hold;
        top.out_ready = ready;
        top.eval();
        if (offering) {
            if (top.in_ready) {
                pixel_cycle[sent++] = cycle;
                offering = false;
            } else {
                ++in_stalls;
            }
        }
        if (top.out_valid) {
            if (top.out_ready) {
                read_port(top.out_data, out + frames * QC4ML_OUT_WORDS);
                frame_cycle[frames++] = cycle;
            } else {
                ++out_stalls;
            }
        }
        clock_edge(top);
    }
    stats[0] = cycle;
    stats[1] = frames;
    stats[2] = in_stalls;
    stats[3] = out_stalls;
}
