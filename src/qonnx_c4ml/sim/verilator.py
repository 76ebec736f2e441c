"""Build a circuit into a cached Verilator shared library and run sample batches through it.

`build_library` verilates the Verilog with the C++ driver in harness.cpp and links one shared
object per distinct design, cached under a content hash so a rebuild of the same design is a
directory lookup. `CircuitSimulator` loads that object with ctypes and streams a whole batch
through the circuit in one C++ call (one sample per clock cycle); Python only packs and
unpacks the port words (packing.py).
"""
import concurrent.futures
import ctypes
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from qonnx_c4ml.sim import cxx
from qonnx_c4ml.sim.closeable import Closeable
from qonnx_c4ml.sim.errors import SimulationError
from qonnx_c4ml.sim.packing import as_int64_codes, check_elem_bits, pack_codes, unpack_codes, words_for_bits
from qonnx_c4ml.sim.process import exclusive_lock, run_logged
from qonnx_c4ml.sim.tools import _compiler, find_verilator

LIBRARY_NAME = "libcircuit.so"
HARNESS_PATH = Path(__file__).with_name("harness.cpp")
HARNESS_CORE_PATH = Path(__file__).with_name("harness_core.h")  # what every driver shares
HARNESS_CORE_INCLUDE = '#include "harness_core.h"'

# Verilator options. Warnings stay in the build log instead of failing the build: lint is
# checked separately (`verilator --lint-only -Wall`), and a warning does not change what the
# simulation computes. X values become 0 so every run of a design gives the same outputs.
# `--output-split-cfuncs 2000` cuts the design's combinational logic, otherwise one C++
# function of ~1 MB per 100k-adder layer stack, into functions of ~2000 statements: g++'s time
# grows faster than linearly with function size (demo MLP, cold build, CPU seconds of all
# compiles: 18-19 s without, 9.2-11 s with 500/2000/5000, same outputs; see cxx.py).
VERILATOR_FLAGS = (
    "-Wno-fatal",
    "--x-assign", "0",
    "--x-initial", "0",
    "--no-timing",
    "--output-split-cfuncs", "2000",
)
# Not used, measured: `-fno-gate` (Verilator's gate pass off: no inlining of single-driver
# wires into their readers). A/B of build_library on the same Verilog, CCACHE_DISABLE=1,
# runtime prebuilt, CPU s of the build, samples per CPU second of one simulator thread,
# outputs bit-identical, 2-core machine at load 2-6:
#   784-64-64-64-10 2-bit MLP (3.8 MB)   28.8 / 31.6 -> 27.6 / 26.6 CPU s   42.7 -> 59.5 k/s
#   256-64-64-10 2-bit MLP (1.4 MB)      9.4 / 9.8 -> 8.2 / 7.8 CPU s       126 -> 168 k/s
#   parallel MNIST CNN w4a4 (7.9 MB)     60.9 / 59.4 -> 71.9 / 71.0 CPU s   37 -> 31 k/s
#   demo 64-64-32-32-10 (0.4 MB)         2.7 -> 3.3 CPU s                   530 -> 490 k/s
# It helps wide-fan-in MLPs and hurts convolutions and small designs: Verilog size does not
# tell them apart, so the default stays. Other -f options (-fno-dfg*, -fno-localize) and -O3
# made verilation slower or no faster.
# Position-independent code with everything hidden except the qc4ml_* entry points, bound
# symbolically: several circuit libraries (each with its own copy of the Verilator runtime)
# can then live in one process without one resolving its symbols into another.
CXXFLAGS = ("-fPIC", "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-fno-gnu-unique")
LDFLAGS = ("-shared", "-Wl,-Bsymbolic", "-Wl,--exclude-libs,ALL")
# Optimization of the model's per-cycle code (OPT_FAST), its run-once construction and settle
# code (OPT_SLOW) and the Verilator runtime (OPT_GLOBAL, compiled once thanks to ccache).
# Measured on the 2-core CI machine (gcc 12, Verilator 5.006) with benchmarks/sim_throughput.py
# circuits; build = empty cache dir with ccache holding only the runtime; run = 1 thread:
#   OPT_FAST   4,123 adders (jets-sized)             18,518 adders
#              comb. L=0    registered L=4           build    comb. L=0
#   -O0        0.24 M/s         -                      -         -
#   -O1        0.95 M/s     0.93 M/s                 5.6 s    0.27 M/s
#   -O2        0.96 M/s     0.83 M/s                 6.7 s    0.27 M/s
#   -O3        0.97 M/s     0.84 M/s                 6.8 s    0.27 M/s
#   -Os        0.87 M/s         -                    6.7 s    0.22 M/s   (Verilator's default)
# On the 4k-adder circuit every level built in 2.7-3.5 s, within the run-to-run noise. -O1
# builds large circuits fastest and runs within 2% of the best (11% ahead on the registered
# variant), so it wins. OPT_SLOW=-O0 saves compile time on code that runs once; OPT_GLOBAL
# -O0 vs -O1 changed neither build time nor throughput measurably.
MAKE_OPT_FLAGS = ("OPT_FAST=-O1", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1")


def default_cache_dir():
    """`${XDG_CACHE_HOME:-~/.cache}/qonnx_c4ml/verilator`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qonnx_c4ml" / "verilator"


def _toolchain_identity(tool):
    """Verilator version and root, compiler and its version, hash of the runtime sources."""
    return (tool.version, tool.root, *_compiler(tool.root), cxx.runtime_fingerprint(tool.root))


def _cache_key(sources, harness_text, tool, top, in_bits, out_bits):
    digest = hashlib.sha256()

    def add(value):
        data = value if isinstance(value, bytes) else str(value).encode()
        # Length prefixes keep distinct field sequences from hashing alike.
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)

    add(len(sources))
    for path, content in sources:
        add(path.name)
        add(content)
    for value in (harness_text, *_toolchain_identity(tool), top, in_bits, out_bits,
                  *VERILATOR_FLAGS, *CXXFLAGS, *LDFLAGS, *MAKE_OPT_FLAGS, *cxx.BUILD_SETTINGS):
        add(value)
    return digest.hexdigest()


def _harness_source(prefix, in_bits, out_bits, harness=None):
    in_words = words_for_bits(in_bits)
    top_word_bits = in_bits - 32 * (in_words - 1)
    prelude = (
        f'#include "{prefix}.h"\n'
        f"#define QC4ML_MODEL {prefix}\n"
        f"#define QC4ML_IN_WORDS {in_words}\n"
        f"#define QC4ML_IN_MASK 0x{(1 << top_word_bits) - 1:08x}u\n"
        f"#define QC4ML_OUT_WORDS {words_for_bits(out_bits)}\n"
    )
    driver = Path(harness or HARNESS_PATH)
    core = f'#line 1 "{HARNESS_CORE_PATH.name}"\n' + HARNESS_CORE_PATH.read_text(encoding="utf-8")
    lines = driver.read_text(encoding="utf-8").splitlines(keepends=True)
    text = f'#line 1 "{driver.name}"\n'
    for number, line in enumerate(lines, start=1):  # the shared core pasted in, for the cache key
        text += core + f'#line {number + 1} "{driver.name}"\n' if line.strip() == HARNESS_CORE_INCLUDE else line
    return prelude + text


def _verilate_and_compile(tool, sources, top, in_bits, out_bits, key, staging, log, log_path,
                          deadline, harness_path=None):
    prefix = "Vq" + key[:16]
    harness = staging / "qc4ml_harness.cpp"
    harness.write_text(_harness_source(prefix, in_bits, out_bits, harness_path), encoding="utf-8")
    obj_dir = staging / "obj"
    env = tool.environment()
    compiler, _ = _compiler(tool.root)
    run_logged(
        [
            tool.path, "--cc", "--exe", "--top-module", top, "--prefix", prefix,
            "-Mdir", str(obj_dir), "-o", LIBRARY_NAME, *VERILATOR_FLAGS,
            "-CFLAGS", " ".join(CXXFLAGS), "-LDFLAGS", " ".join(LDFLAGS),
            str(harness), *(str(path) for path, _ in sources),
        ],
        staging, env, log, log_path, deadline, f"Verilator on top module '{top}'",
    )
    make_args = [f"CXX={compiler}", f"LINK={compiler}", *MAKE_OPT_FLAGS]
    if shutil.which("ccache"):
        # A rebuild of the same C++ (another cache dir, a design differing only in a comment)
        # becomes a lookup.
        make_args.append("OBJCACHE=ccache")

    def run(command, step):
        run_logged(command, staging, env, log, log_path, deadline, f"{step} of '{top}'")

    return cxx.compile_model(obj_dir, prefix, env, make_args, _toolchain_identity(tool), run,
                             len(os.sched_getaffinity(0)))


def build_library(verilog_files, top, in_bits, out_bits, cache_dir=None, timeout_s=600, harness=None):
    """Verilate `verilog_files` (top module `top`) with the batch harness; return the .so path.

    `in_bits`/`out_bits` are the widths of in_data/out_data. The result is cached in
    `cache_dir` (default `default_cache_dir()`) under a hash of everything that determines it;
    concurrent callers building the same design wait for one build and share it.
    Raises BuildError (with the log path) when Verilator or the compiler fails or exceeds
    `timeout_s` seconds, ToolNotFoundError when Verilator is missing.
    `harness` is the path of another C++ driver using the same prelude (default harness.cpp;
    the streaming driver is sim/stream_harness.cpp).
    """
    tool = find_verilator()
    sources = [(Path(path).resolve(), Path(path).read_bytes()) for path in verilog_files]
    if not sources:
        raise ValueError("build_library needs at least one Verilog file")
    if in_bits < 1 or out_bits < 1:
        raise ValueError(
            f"port widths must be >= 1 bit, got in_bits={in_bits}, out_bits={out_bits}"
        )
    # The harness as written for this design, with a stand-in for the hash-derived class name.
    harness_text = _harness_source("VqPREFIX", in_bits, out_bits, harness)
    key = _cache_key(sources, harness_text, tool, top, in_bits, out_bits)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = cache / key
    library = entry / LIBRARY_NAME
    # An entry directory only ever appears complete (os.replace below), so the .so being there
    # means the whole build finished.
    if library.is_file():
        return library
    cache.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(cache / f"{key}.lock"):
        if library.is_file():  # built by another process while we waited for the lock
            return library
        # Staging directories of this key left by killed builds; we hold the key's lock.
        for stale in cache.glob(f".build-{key}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if entry.exists():  # not produced by this code (no .so inside): never trust it
            shutil.rmtree(entry)
        staging = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=cache))
        # The log lives beside the entry, not in the staging dir, so it survives a failure.
        log_path = cache / f"{key}.log"
        try:
            started = time.monotonic()
            with open(log_path, "w", encoding="utf-8") as log:
                built = _verilate_and_compile(
                    tool, sources, top, in_bits, out_bits, key, staging, log, log_path,
                    started + timeout_s, harness,
                )
            complete = staging / "entry"
            complete.mkdir()
            shutil.copy2(built, complete / LIBRARY_NAME)
            (complete / "build.json").write_text(json.dumps({
                "top": top, "in_bits": in_bits, "out_bits": out_bits,
                "verilog_files": [str(path) for path, _ in sources],
                "verilator": tool.version, "verilator_source": tool.source,
                "build_seconds": round(time.monotonic() - started, 3),
            }, indent=2), encoding="utf-8")
            os.replace(log_path, complete / "build.log")
            os.replace(complete, entry)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return library


# A batch is split over up to one model instance per available core. On the 2-core machine
# and the 4,123-adder circuit (about 1 us per sample), two threads ran 1.9x faster from 20k
# samples up, 1.7x at 5k and 1.4x at 2k; starting the threads costs about 0.5 ms, so a thread
# gets at least this many samples (which also keeps tiny, fast circuits on one thread).
MIN_SAMPLES_PER_THREAD = 4096
# stats of one C++ run: outputs, cycles, first output cycle, misaligned outputs, first misfit code
STATS_LENGTH = 5


def thread_pool(pool, workers):
    """`pool` ((ThreadPoolExecutor, pid, workers) or None) if this process made it with at least
    `workers` threads, else a new one.

    A simulator keeps its pool between batches (starting threads cost ~0.5 ms a batch); a forked
    child inherits the pool but not its threads, and would wait on it forever."""
    if pool is not None and pool[1] == os.getpid() and pool[2] >= workers:
        return pool
    if pool is not None and pool[1] == os.getpid():
        pool[0].shutdown(wait=False)
    return concurrent.futures.ThreadPoolExecutor(workers), os.getpid(), workers


class _Misfit(Exception):
    """An input code does not fit its field (run_codes turns it into pack_codes' ValueError)."""


def _default_threads():
    return len(os.sched_getaffinity(0))


class CircuitSimulator(Closeable):
    """Runs batches through one circuit library; `latency` is the circuit's cycles in-to-out.

    A batch is split over up to `threads` (default: the cores this process may use) independent
    model instances, run in parallel Python threads: the ctypes call releases the GIL. One
    simulator serializes its own run_packed calls, so sharing it between threads is safe but
    not parallel; give each thread its own simulator for that.
    """

    def __init__(self, so_path, in_bits, out_bits, latency, threads=None):
        if latency < 0:
            raise ValueError(f"latency must be >= 0 cycles, got {latency}")
        self.in_bits, self.out_bits = int(in_bits), int(out_bits)
        self.in_words = words_for_bits(in_bits)
        self.out_words = words_for_bits(out_bits)
        self.latency = int(latency)
        self.threads = max(1, int(threads)) if threads is not None else _default_threads()
        self.last_cycles = 0
        self._so_path = str(so_path)
        lib = ctypes.CDLL(self._so_path)
        lib.qc4ml_in_words.restype = ctypes.c_int
        lib.qc4ml_out_words.restype = ctypes.c_int
        lib.qc4ml_create.restype = ctypes.c_void_p
        lib.qc4ml_destroy.argtypes = [ctypes.c_void_p]
        lib.qc4ml_destroy.restype = None
        lib.qc4ml_run.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.qc4ml_run.restype = None
        # A library built before the driver packed codes itself has no qc4ml_run_codes (a model
        # saved after RTLSim names its library); run_codes then packs in numpy.
        self._packs_codes = hasattr(lib, "qc4ml_run_codes")
        if self._packs_codes:
            lib.qc4ml_run_codes.argtypes = [
                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
            ]
            lib.qc4ml_run_codes.restype = None
        if (lib.qc4ml_in_words(), lib.qc4ml_out_words()) != (self.in_words, self.out_words):
            raise ValueError(
                f"{so_path} was built for {lib.qc4ml_in_words()} input / "
                f"{lib.qc4ml_out_words()} output words, but in_bits={in_bits}, "
                f"out_bits={out_bits} need {self.in_words} / {self.out_words}"
            )
        self._lib = lib
        self._instances = []
        self._pool = None
        self._lock = threading.Lock()

    def _instance(self, index):
        while len(self._instances) <= index:
            handle = self._lib.qc4ml_create()
            if not handle:
                raise MemoryError(f"could not create a model instance of {self._so_path}")
            self._instances.append(handle)
        return self._instances[index]

    def _run_chunk(self, handle, in_words, out_words):
        stats = np.zeros(STATS_LENGTH, dtype=np.int64)
        stats[4] = -1  # words have no codes to misfit
        self._lib.qc4ml_run(
            handle, in_words.ctypes.data, in_words.shape[0], self.latency, out_words.ctypes.data,
            stats.ctypes.data,
        )
        return stats

    def _run_codes_chunk(self, handle, codes, in_fmt, out_codes, out_fmt):
        stats = np.zeros(STATS_LENGTH, dtype=np.int64)
        self._lib.qc4ml_run_codes(
            handle, codes.ctypes.data, codes.shape[0], in_fmt.ctypes.data, self.latency,
            out_codes.ctypes.data, out_fmt.ctypes.data, stats.ctypes.data,
        )
        return stats

    def _split(self, n_samples, run, arrays):
        """Run `run(handle, *chunks)` on up to `threads` consecutive sample ranges of `arrays`
        (each split along its first axis), in parallel; returns the chunks' stats in order."""
        n_chunks = max(1, min(self.threads, n_samples // MIN_SAMPLES_PER_THREAD))
        bounds = np.linspace(0, n_samples, n_chunks + 1).astype(int)
        chunks = [[array[a:b] for array in arrays] for a, b in zip(bounds[:-1], bounds[1:])]
        with self._lock:
            handles = [self._instance(index) for index in range(n_chunks)]
            if n_chunks == 1:
                all_stats = [run(handles[0], *chunks[0])]
            else:
                self._pool = thread_pool(self._pool, self.threads)
                futures = [self._pool[0].submit(run, handle, *chunk) for handle, chunk in zip(handles, chunks)]
                all_stats = [future.result() for future in futures]
        for chunk, stats in zip(chunks, all_stats):
            self._check(chunk[0].shape[0], stats)
        self.last_cycles = int(sum(stats[1] for stats in all_stats))
        return all_stats

    def run_packed(self, in_words):
        """Drive in_words uint32 (N, in_words) through the circuit; return uint32 (N, out_words).

        Raises SimulationError when the circuit does not return exactly one output per input,
        each `latency` cycles after its input. `last_cycles` is set to the clock cycles
        simulated after reset (summed over threads).
        """
        in_words = np.asarray(in_words)
        if in_words.dtype != np.uint32 or in_words.ndim != 2 or in_words.shape[1] != self.in_words:
            raise ValueError(
                f"in_words must be uint32 of shape (N, {self.in_words}) (see pack_codes), "
                f"got {in_words.dtype} {in_words.shape}"
            )
        in_words = np.ascontiguousarray(in_words)
        out_words = np.zeros((in_words.shape[0], self.out_words), dtype=np.uint32)
        self._split(in_words.shape[0], self._run_chunk, (in_words, out_words))
        return out_words

    def run_codes(self, codes, in_elem_bits, in_signed, n_out, out_elem_bits, out_signed):
        """Integer codes (N, n_in) through the circuit -> int64 codes (N, n_out).

        The same as pack_codes -> run_packed -> unpack_codes, with the packing done by the C++
        driver inside each thread's batch (no uint32 word arrays, no Python pass over them).
        Raises ValueError naming the first sample and element whose code does not fit in
        `in_elem_bits` bits (pack_codes' message), SimulationError as run_packed does.
        """
        codes = np.asarray(codes)
        if codes.ndim != 2:
            raise ValueError(f"codes must have shape (N, n_elems), got shape {codes.shape}")
        if not self._packs_codes:
            words = self.run_packed(pack_codes(codes, in_elem_bits, in_signed))
            return unpack_codes(words, n_out, out_elem_bits, out_signed)
        in_fmt = self._format("input", codes.shape[1], in_elem_bits, in_signed, self.in_bits)
        out_fmt = self._format("output", n_out, out_elem_bits, out_signed, self.out_bits)
        if not np.issubdtype(codes.dtype, np.integer) or codes.dtype == np.uint64:
            codes = as_int64_codes(codes)  # floats must be whole numbers; uint64 must fit
        codes = np.ascontiguousarray(codes, dtype=np.int64)
        out_codes = np.empty((codes.shape[0], int(n_out)), dtype=np.int64)
        try:
            self._split(codes.shape[0], lambda handle, chunk, out: self._run_codes_chunk(
                handle, chunk, in_fmt, out, out_fmt), (codes, out_codes))
        except _Misfit:
            pack_codes(codes, in_elem_bits, in_signed)  # raises the ValueError naming the code
            raise ValueError(f"an input code does not fit in {in_elem_bits}-bit elements") from None
        return out_codes

    @staticmethod
    def _format(kind, n_elems, elem_bits, signed, port_bits):
        elem_bits = check_elem_bits(elem_bits)
        if not 1 <= int(n_elems) * elem_bits <= port_bits:
            raise ValueError(f"{n_elems} {kind} elements of {elem_bits} bits do not fit the "
                             f"{port_bits}-bit {kind} port")
        return np.array([int(n_elems), elem_bits, int(bool(signed))], dtype=np.int64)

    def _check(self, n_samples, stats):
        if stats[4] >= 0:
            raise _Misfit()
        outputs, cycles, first_output, misaligned = (int(value) for value in stats[:4])
        if outputs != n_samples or misaligned:
            raise SimulationError(
                f"circuit {self._so_path} broke the stream contract: {n_samples} inputs on "
                f"consecutive cycles gave {outputs} outputs in {cycles} cycles; first output at "
                f"cycle {first_output}, {misaligned} outputs not exactly {self.latency} cycles "
                "(the declared latency) after their input"
            )

    def close(self):
        """Free the model instances (a later run_packed would create new ones)."""
        instances, self._instances = getattr(self, "_instances", []), []
        pool, self._pool = getattr(self, "_pool", None), None
        if pool is not None and pool[1] == os.getpid():
            pool[0].shutdown(wait=False)  # idle workers end by themselves; close() may run in __del__
        for handle in instances:
            self._lib.qc4ml_destroy(handle)


def simulate(so_path, codes_in, in_elem_bits, in_signed, n_out, out_elem_bits, out_signed,
             latency, threads=None):
    """Run integer codes (N, n_in) through a built circuit; return int64 codes (N, n_out)."""
    codes_in = np.asarray(codes_in)
    codes_in = codes_in.reshape(codes_in.shape[0], -1)
    in_bits = codes_in.shape[1] * in_elem_bits
    with CircuitSimulator(so_path, in_bits, n_out * out_elem_bits, latency, threads) as sim:
        out_words = sim.run_packed(pack_codes(codes_in, in_elem_bits, in_signed))
    return unpack_codes(out_words, n_out, out_elem_bits, out_signed)
