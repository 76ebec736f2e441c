"""`qonnx-c4ml demo --train` and examples/walkthrough.py, end to end."""
import subprocess
import sys
from pathlib import Path

import pytest

from qonnx_c4ml.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(*args, timeout=600):
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    return result.returncode, result.stdout, result.stderr


def test_demo_train_without_the_train_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "brevitas", None)
    assert main(["demo", "--train", "-o", str(tmp_path / "demo")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "torch" in err[0] and "pip install 'qonnx-c4ml[train]'" in err[0]
    assert not (tmp_path / "demo").exists()


@pytest.mark.slow
def test_demo_train(tmp_path, record_property):
    pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    code, stdout, stderr = run("-m", "qonnx_c4ml.cli", "demo", "--train", "-o", tmp_path / "demo")
    assert code == 0, stderr
    assert "demo --train: jets_w4_trained.onnx" in stdout
    assert "rtl vs qonnx      100.00 % bit-exact" in stdout
    assert (tmp_path / "demo" / "jets_w4_trained.onnx").is_file()
    accuracy = float(stdout.split("accuracy (RTL)")[1].split("%")[0])
    assert accuracy > 60.0
    record_property("c4ml_summary", f"demo --train: accuracy (RTL) {accuracy:.2f} %, RTL bit-exact with qonnx")


@pytest.mark.slow
def test_walkthrough_script(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("brevitas")
    code, stdout, stderr = run(ROOT / "examples" / "walkthrough.py", "--epochs", "1", "-o", tmp_path / "wt")
    assert code == 0, stderr
    assert "bit-exact with qonnx" in stdout
    assert "7. Verilog: " in stdout and (tmp_path / "wt" / "verilog" / "c4ml_top.v").is_file()
