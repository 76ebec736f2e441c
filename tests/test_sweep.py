"""`qonnx-c4ml sweep`: grid configs, Dask scheduling (local cluster and a running scheduler),
failing points as rows, results on disk; and the synthetic model builder qonnx_c4ml.models."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import qonnx_c4ml
from qonnx_c4ml.cli import main
from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.models import random_mlp
from qonnx_c4ml.sweep import ROW_KEYS, format_table, load_config, run_sweep

SRC = Path(qonnx_c4ml.__file__).resolve().parents[1]
# Small enough for a few seconds of yosys per point; LUTs grow with the bit width
# (110 / 772 / 1,982 LUTs at 2 / 4 / 6 bit, generic-fast, seed 0).
SMALL = [16, 8, 4]


def write_config(path, text):
    path.write_text(text)
    return path


def small_config(tmp_path, bits="[2, 4, 6]", pipeline='["none"]', extra=""):
    return write_config(tmp_path / "sweep.toml", f"""
bits = {bits}
prune = [0.5]
pipeline = {pipeline}
{extra}
[[models]]
name = "small"
topology = {SMALL}
""")


def read_rows(out):
    return json.loads((out / "sweep.json").read_text())


# ----------------------------------------------------------------------------- a running Dask cluster

def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def _stop(process, timeout=10):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)


@pytest.fixture
def dask_scheduler(tmp_path):
    """A `dask scheduler` and two `dask worker --nthreads 1` processes on 127.0.0.1; yields the address."""
    scheduler_file = tmp_path / "scheduler.json"
    logs = tmp_path / "dask_logs"
    logs.mkdir()
    processes = []

    def start(name, args):
        log = open(logs / f"{name}.log", "w")
        processes.append(subprocess.Popen([sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT,
                                          env=_env(), cwd=tmp_path))
        log.close()

    try:
        start("scheduler", ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                            "--no-dashboard", "--scheduler-file", str(scheduler_file)])
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() or not scheduler_file.read_text().strip():
            if processes[0].poll() is not None or time.monotonic() > deadline:
                pytest.fail("dask scheduler did not start: " + (logs / "scheduler.log").read_text()[-2000:])
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written in one go, but be sure it is complete
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        for k in range(2):
            start(f"worker{k}", ["distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny",
                                 "--host", "127.0.0.1", "--no-dashboard", "--name", f"w{k}",
                                 "--local-directory", str(tmp_path / f"worker{k}")])
        yield address
    finally:
        for process in reversed(processes):  # workers first, then the scheduler
            _stop(process)


def _worker_count(address):
    from dask.distributed import Client

    with Client(address, timeout=10) as client:
        client.wait_for_workers(2, timeout=60)
        return len(client.scheduler_info()["workers"])


@pytest.mark.slow
def test_sweep_on_running_scheduler(tmp_path, dask_scheduler, capsys):
    assert _worker_count(dask_scheduler) == 2
    config = small_config(tmp_path)
    out = tmp_path / "out"
    assert main(["sweep", str(config), "-o", str(out), "--scheduler", dask_scheduler]) == 0
    printed = capsys.readouterr().out
    rows = read_rows(out)
    assert [(r["model"], r["bits"], r["prune"], r["pipeline"]) for r in rows] == \
        [("small", b, 0.5, "none") for b in (2, 4, 6)]
    for row in rows:
        assert set(row) == set(ROW_KEYS)
        assert row["error"] is None
        assert row["luts"] > 0 and row["depth"] > 0 and row["ffs"] == 0 and row["latency_cycles"] == 0
        assert row["adders"] > 0 and row["generate_s"] > 0 and row["synth_s"] > 0
    luts = [r["luts"] for r in rows]
    assert luts == sorted(luts) and len(set(luts)) == 3, luts  # strictly more logic per extra bit
    for name in ("sweep.csv", "sweep.json", "sweep.png", "sweep.md", "sweep.html"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((out / "sweep.csv").read_text().strip().splitlines()) == 4
    for row in rows:  # each point has its own directory with the model, Verilog and row
        point = out / "points" / f"small_b{row['bits']}_p0.5_pipe-none"
        assert (point / "model.onnx").is_file() and (point / "verilog" / "c4ml_top.v").is_file()
        assert json.loads((point / "row.json").read_text()) == row
    assert "small" in printed and f"{luts[-1]:,}" in printed and "3 points, 0 failed" in printed


def test_sweep_on_local_cluster(tmp_path):
    config = small_config(tmp_path, bits="[4]", pipeline='["none", "layer"]')
    rows = run_sweep(config, tmp_path / "out", workers=2, progress=False)
    assert [(r["bits"], r["pipeline"], r["error"]) for r in rows] == [(4, "none", None), (4, "layer", None)]
    none, layer = rows
    assert none["latency_cycles"] == 0 and layer["latency_cycles"] == 3  # registered input + 2 layers
    assert none["ffs"] == 0 and layer["ffs"] > 0
    assert none["luts"] > 0 and layer["luts"] > 0
    assert (tmp_path / "out" / "sweep.csv").is_file() and (tmp_path / "out" / "sweep.png").is_file()


def test_failing_points_are_rows(tmp_path, capsys):
    (tmp_path / "garbage.onnx").write_bytes(b"not an onnx model")
    config = write_config(tmp_path / "sweep.json", json.dumps({
        "bits": [2], "prune": [0.5], "synth": {"enabled": False},
        "models": [{"path": "missing.onnx"}, {"name": "small", "topology": SMALL}, {"path": "garbage.onnx"}],
    }))
    out = tmp_path / "out"
    assert main(["sweep", str(config), "-o", str(out), "--workers", "1"]) == 1  # ran, not all succeeded
    rows = read_rows(out)
    assert [r["model"] for r in rows] == ["missing", "small", "garbage"]
    missing, small, garbage = rows
    assert "missing.onnx: no such file" in missing["error"] and "\n" not in missing["error"]
    assert "not a readable ONNX model" in garbage["error"]
    assert missing["bits"] is None and missing["luts"] is None
    assert small["error"] is None and small["adders"] > 0 and small["luts"] is None  # synth off
    printed = capsys.readouterr().out
    assert "3 points, 2 failed" in printed and "error: model:" in printed
    # a non-empty output directory is refused without --force, and replaced with it
    assert main(["sweep", str(config), "-o", str(out), "--workers", "1"]) == 2
    assert "not empty" in capsys.readouterr().err
    (out / "points" / "stale").mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["sweep", str(config), "-o", str(out), "--workers", "1", "--force"]) == 1
    assert not (out / "points" / "stale").exists() and (out / "notes.txt").read_text() == "mine"


def test_unsupported_model_is_a_row(tmp_path, capsys):
    """A model the flow refuses (a float network: no quantizer) fails its point only."""
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], np.ones(8, np.float32).tolist())
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "float",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], initializer=[w])
    import onnx

    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "float.onnx"))
    config = write_config(tmp_path / "s.toml", """
pipeline = ["none", "layer"]
[synth]
enabled = false
[[models]]
path = "float.onnx"
""")
    rows = run_sweep(config, tmp_path / "out", workers=1, progress=True)
    assert [r["pipeline"] for r in rows] == ["none", "layer"]
    assert all(r["error"] and r["error"].startswith("generate: ") for r in rows)
    assert "sweep: 100%" in capsys.readouterr().err  # the tqdm bar (a terminal gets it by default)


@pytest.mark.parametrize("text, message", [
    ("bits = [4]\n[[models]]\ntopology = [4, 2]\nsize = 3\n", "unknown key 'size' in models[0]"),
    ("bitz = [4]\n[[models]]\ntopology = [4, 2]\n", "unknown key 'bitz' in the top level"),
    ("bits = [0]\n[[models]]\ntopology = [4, 2]\n", "bits = 0 is not an integer from 1 to 16"),
    ("prune = [1.5]\n[[models]]\ntopology = [4, 2]\n", "prune = 1.5 is not a fraction"),
    ("pipeline = ['fast']\n[[models]]\ntopology = [4, 2]\n", "pipeline = 'fast' is not"),
    ("[synth]\nflow = 'vivado'\n[[models]]\ntopology = [4, 2]\n", "synth.flow = 'vivado' is not one of"),
    ("[[models]]\ntopology = [4]\n", "topology = [4] is not a list of at least two"),
    ("[[models]]\ntopology = [4, 2]\npath = 'a.onnx'\n", "exactly one of topology"),
    ("[[models]]\npath = 'a.onnx'\nbits = [4]\n", "bits does not apply to a model file"),
    ("[[models]]\ntopology = [4, 2]\n[[models]]\ntopology = [4, 2]\n", "two models are named 'mlp-4-2'"),
    ("bits = [4]\n", "no models"),
    ("[[models]]\npath = 'a.onnx'\ninput_type = 'FLOAT<3>'\n", "models[0].input_type: input type 'FLOAT<3>'"),
    ("[[models]]\ntopology = [4, 2]\ninput_type = 'INT8'\n", "input_type does not apply to a topology"),
    ("bits = [4\n", "not valid TOML"),
])
def test_bad_config(tmp_path, capsys, text, message):
    config = write_config(tmp_path / "bad.toml", text)
    assert main(["sweep", str(config), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qonnx-c4ml sweep: error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # nothing started, nothing written


def test_bad_config_file(tmp_path):
    with pytest.raises(C4mlError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(C4mlError, match="must be a .toml or .json"):
        load_config(write_config(tmp_path / "c.yaml", "bits: [4]\n"))
    with pytest.raises(C4mlError, match="not valid JSON"):
        load_config(write_config(tmp_path / "c.json", "{"))


def test_unreachable_scheduler(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(C4mlError, match=rf"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 2 s"):
        run_sweep(small_config(tmp_path), tmp_path / "out", scheduler=f"tcp://127.0.0.1:{port}", connect_timeout=2)
    assert time.monotonic() - start < 30
    assert not (tmp_path / "out").exists()  # nothing written when the cluster is not there
    with pytest.raises(C4mlError, match="not a Dask scheduler address"):
        run_sweep(small_config(tmp_path), tmp_path / "out", scheduler="localhost")


def test_grid_expansion(tmp_path):
    config = write_config(tmp_path / "grid.toml", """
bits = [2, 4]
prune = [0.0, 0.5]
pipeline = ["none", "layer", 2]
seed = 7
[synth]
flow = "xilinx"
[[models]]
name = "a"
topology = [4, 3, 2]
[[models]]
name = "b"
topology = [4, 2]
bits = [8]
seed = 1
[[models]]
path = "sub/m.onnx"
""")
    points = load_config(config)
    assert len(points) == 2 * 2 * 3 + 1 * 2 * 3 + 3
    assert {p["pipeline"] for p in points} == {"none", "layer", "2"}
    assert all(p["flow"] == "xilinx" and p["synth"] for p in points)
    assert {(p["bits"], p["seed"]) for p in points if p["model"] == "b"} == {(8, 1)}
    assert {p["seed"] for p in points if p["model"] == "a"} == {7}
    files = [p for p in points if p["model"] == "m"]
    assert [p["path"] for p in files] == [str((tmp_path / "sub" / "m.onnx").resolve())] * 3
    assert all(p["bits"] is None and p["prune"] is None for p in files)
    names = [p["name"] for p in points]
    assert len(set(names)) == len(names) and "a_b2_p0.5_pipe-layer" in names
    for p in points:  # the job's arguments are plain data (they cross process boundaries)
        json.dumps(p)


def test_format_table():
    rows = [dict(dict.fromkeys(ROW_KEYS), model="jets", bits=4, prune=0.5, pipeline="none", luts=12345, ffs=0,
                 depth=30, latency_cycles=0, generate_s=0.0412, synth_s=61.23, adders=999),
            dict(dict.fromkeys(ROW_KEYS), model="broken", pipeline="layer", error="model: x.onnx: no such file")]
    lines = format_table(rows).splitlines()
    assert lines[0].split() == ["model", "bits", "prune", "pipeline", "luts", "ffs", "depth", "latency",
                                "gen", "[s]", "synth", "[s]", "adders"]
    assert set(lines[1]) == {"-"}
    assert lines[2].split() == ["jets", "4", "0.5", "none", "12,345", "0", "30", "0", "0.041", "61.2", "999"]
    assert lines[3].endswith("error: model: x.onnx: no such file")
    assert len({len(line) for line in lines[:3]}) == 1  # aligned


# ----------------------------------------------------------------------------- qonnx_c4ml.models

def test_random_mlp_is_deterministic():
    a = random_mlp([16, 8, 4], 4, prune=0.5, seed=3).model.SerializeToString()
    assert a == random_mlp([16, 8, 4], 4, prune=0.5, seed=3).model.SerializeToString()
    assert a != random_mlp([16, 8, 4], 4, prune=0.5, seed=4).model.SerializeToString()
    assert a != random_mlp([16, 8, 4], 4, prune=0.0, seed=3).model.SerializeToString()


def test_random_mlp_structure_and_pruning():
    model = random_mlp([16, 64, 32, 5], 3, prune=0.5, seed=0)
    ops = [n.op_type for n in model.graph.node]
    assert ops[0] == "Quant" and ops.count("MatMul") == 3 and ops.count("Relu") == 2 and ops[-1] == "Add"
    assert ops.count("Quant") == 1 + 3 + 2  # input, weights, hidden activations; the last layer is float
    assert model.get_tensor_shape(model.graph.output[0].name) == [1, 5]
    for node in model.graph.node:
        if node.op_type == "Quant":
            scale = float(model.get_initializer(node.input[1]))
            assert np.log2(scale) == round(np.log2(scale))  # power-of-two scales
            assert float(model.get_initializer(node.input[3])) == 3
    weights = [model.get_initializer(n.input[0]) / model.get_initializer(n.input[1])
               for n in model.graph.node if n.name.endswith("_weight_quant")]
    zeros = np.mean(np.concatenate([np.round(w).ravel() == 0 for w in weights]))
    assert 0.5 < zeros < 0.65  # 50 % pruned, plus the codes drawn as 0
    with pytest.raises(C4mlError, match="bits=0"):
        random_mlp([4, 2], 0)
    with pytest.raises(C4mlError, match="topology"):
        random_mlp([4], 4)


def test_random_mlp_equals_the_test_builder():
    """The same graph tests/qonnx_builder.py builds (so benchmarks keep their numbers)."""
    from qonnx_builder import LayerSpec, MLPSpec, build_mlp

    topology, bits = [16, 64, 32, 32, 5], 4
    layers = [LayerSpec(n, w_bits=bits, a_bits=bits, zero_fraction=0.5) for n in topology[1:-1]]
    layers.append(LayerSpec(topology[-1], w_bits=bits, zero_fraction=0.5, quantizer="none", relu=False))
    spec = MLPSpec(n_in=topology[0], layers=layers, in_bits=bits, po2=True, seed=0)
    assert build_mlp(spec).model.SerializeToString() == random_mlp(topology, bits, 0.5, 0).model.SerializeToString()


@pytest.mark.parametrize("topology, bits, prune", [([16, 16, 5], 2, 0.0), ([16, 8, 4], 6, 0.5),
                                                   ([12, 10, 6, 3], 4, 0.8)])
def test_random_mlp_verifies_bit_exact(topology, bits, prune):
    from qonnx_c4ml.verify import verify

    report = verify(random_mlp(topology, bits, prune, seed=1), samples=200, rtl=False)
    assert report.all_exact, report.table()


def test_model_file_without_input_quantizer_takes_input_type(tmp_path):
    """A QKeras-style file (MatMul(global_in, Quant(W))) swept with its input type."""
    from wild_models import qkeras_mlp

    from qonnx_c4ml.sweep import run_point

    qkeras_mlp().save(str(tmp_path / "qkeras.onnx"))
    config = write_config(tmp_path / "c.toml", "[synth]\nenabled = false\n[[models]]\npath = 'qkeras.onnx'\n"
                                                "input_type = 'FIXED<16,6>'\n")
    point = load_config(config)[0]
    assert point["input_type"] == "FIXED<16,6>"
    row = run_point(point, tmp_path / "point")
    assert row["error"] is None and row["adders"] > 0
    row = run_point(dict(point, input_type=None), tmp_path / "point")
    assert "no input quantizer" in row["error"]
