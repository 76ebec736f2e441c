"""The C++ build (sim/cxx.py): prebuilt Verilator runtime, bundled translation units, cache keys."""
import subprocess

import numpy as np
from sim.sim_designs import COMBINATIONAL, inverter, write_top

import qonnx_c4ml.sim.cxx as cxx
import qonnx_c4ml.sim.verilator as verilator_module
from qonnx_c4ml.sim import build_library, find_verilator, simulate

RNG = np.random.default_rng(7)


def _runtime_entries(runtime):
    return sorted(path for path in runtime.iterdir() if path.is_dir() and not path.name.startswith("."))


def test_prebuilt_runtime_is_built_once_and_gives_the_same_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("CCACHE_DISABLE", "1")  # the second build must not hide behind ccache
    source = write_top(tmp_path / "src", COMBINATIONAL)
    first = build_library([source], "top", 200, 280, cache_dir=tmp_path / "first")
    entries = _runtime_entries(cxx.runtime_dir())
    assert len(entries) == 1
    assert sorted(p.name for p in entries[0].iterdir()) == ["verilated.h.gch", "verilated.o",
                                                            "verilated_threads.o"]
    assert sorted(p.name for p in (entries[0] / "verilated.h.gch").iterdir()) == ["fast.gch", "slow.gch"]
    assert "verilated.cpp" in (first.parent / "build.log").read_text()
    # Another cache dir: the same design is built again, now on the prebuilt runtime.
    second = build_library([source], "top", 200, 280, cache_dir=tmp_path / "second")
    log = (second.parent / "build.log").read_text()
    assert "verilated.cpp" not in log and "verilated_threads.cpp" not in log
    assert _runtime_entries(cxx.runtime_dir()) == entries
    x = RNG.integers(-16, 16, size=(3000, 40))
    y_first = simulate(first, x, 5, True, 40, 7, True, latency=0)
    y_second = simulate(second, x, 5, True, 40, 7, True, latency=0)
    np.testing.assert_array_equal(y_first, 3 * x - 2)
    np.testing.assert_array_equal(y_second, y_first)


def _key(tool, source):
    return verilator_module._cache_key([(source, source.read_bytes())], "harness", tool, "top", 5, 5)


def test_cache_key_covers_flags_and_build_settings(tmp_path, monkeypatch):
    tool = find_verilator()
    source = write_top(tmp_path / "src", inverter(1, 5))
    base = _key(tool, source)
    assert _key(tool, source) == base
    changes = [
        ("VERILATOR_FLAGS", verilator_module.VERILATOR_FLAGS + ("--output-split", "100")),
        ("CXXFLAGS", verilator_module.CXXFLAGS + ("-g",)),
        ("LDFLAGS", verilator_module.LDFLAGS + ("-s",)),
        ("MAKE_OPT_FLAGS", ("OPT_FAST=-O2", "OPT_SLOW=-O0", "OPT_GLOBAL=-O1")),
    ]
    keys = {base}
    for name, value in changes:
        monkeypatch.setattr(verilator_module, name, value)
        keys.add(_key(tool, source))
        monkeypatch.undo()
    monkeypatch.setattr(cxx, "BUILD_SETTINGS", cxx.BUILD_SETTINGS + ("bundle-bytes=1",))
    keys.add(_key(tool, source))
    monkeypatch.undo()
    # The runtime's sources are part of the key too (a Verilator upgrade in place).
    monkeypatch.setattr(verilator_module.cxx, "runtime_fingerprint", lambda root: "other runtime")
    keys.add(_key(tool, source))
    assert len(keys) == len(changes) + 3


def test_runtime_key_follows_its_compile_command(tmp_path):
    """Same design, different OPT_GLOBAL: a different prebuilt runtime."""
    tool = find_verilator()
    obj_dir = tmp_path / "obj"
    source = write_top(tmp_path / "src", inverter(1, 5))
    subprocess.run([tool.path, "--cc", "--prefix", "Vk", "-Mdir", str(obj_dir), str(source)],
                   check=True, capture_output=True, env=tool.environment())
    env = tool.environment()
    objects = ["verilated.o"]
    key = cxx._runtime_key(obj_dir, "Vk", env, ["OPT_GLOBAL=-O1"], objects, ("id",))
    assert key == cxx._runtime_key(obj_dir, "Vk", env, ["OPT_GLOBAL=-O1"], objects, ("id",))
    assert key != cxx._runtime_key(obj_dir, "Vk", env, ["OPT_GLOBAL=-O2"], objects, ("id",))
    assert key != cxx._runtime_key(obj_dir, "Vk", env, ["OPT_GLOBAL=-O1"], objects, ("id2",))


def test_small_files_are_bundled_and_large_ones_stand_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(cxx, "BUNDLE_BYTES", 100)
    sizes = {"a.cpp": 150, "b.cpp": 60, "c.cpp": 50, "d.cpp": 30, "e.cpp": 10}
    for name, size in sizes.items():
        (tmp_path / name).write_text("x" * size)
    standalone, bundles = cxx._bundle(tmp_path, list(sizes), "fast", dict(sizes))
    assert standalone == ["a.cpp"]
    texts = [(tmp_path / b).read_text() for b in bundles]
    assert all(t.splitlines()[1] == '#include "verilated.h"' for t in texts)  # first: the PCH
    included = [t.count('.cpp"') for t in texts]
    assert sorted(included) == [1, 3]  # 60+30+10 and 50
