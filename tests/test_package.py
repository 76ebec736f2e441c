"""`Circuit.package` / `qonnx-c4ml package`: the hand-off directory's testbench runs in Icarus
Verilog (iverilog + vvp, real tools) and passes, fails on a corrupted vector, and no user file
is ever replaced without overwrite. Verilator builds go through the shared content-hash cache,
as in test_cli/test_report (safe under xdist)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qonnx_builder import LayerSpec, MLPSpec, build_mlp

from qonnx_c4ml.circuit import Circuit
from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.sim import unpack_codes

DEMO_MODEL = Path(__file__).resolve().parents[1] / "src" / "qonnx_c4ml" / "data" / "digits_w4a4.onnx"
VECTORS = 60


def run_testbench(pkg_dir, description):
    """Compile and run tb_<top> with iverilog/vvp in `pkg_dir`; returns the vvp CompletedProcess."""
    sources = [f"tb_{description.top}.v", *description.files]
    compiled = subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", *sources], cwd=pkg_dir,
                              capture_output=True, text=True, timeout=300)
    assert compiled.returncode == 0, compiled.stderr
    return subprocess.run(["vvp", "-n", "tb.vvp"], cwd=pkg_dir, capture_output=True, text=True, timeout=300)


def read_hex(path, port):
    """Codes (N, elements) from a $readmemh file written by the package."""
    words = []
    for line in Path(path).read_text().splitlines():
        line = line.split("//")[0].strip()
        if line:
            value = int(line, 16)
            n_words = -(-port.width // 32)
            words.append([(value >> (32 * k)) & 0xFFFFFFFF for k in range(n_words)])
    return unpack_codes(np.array(words, dtype=np.uint32), port.elements, port.bits, port.signed)


@pytest.fixture(scope="module", params=["none", "layer"])
def demo_package(request, tmp_path_factory):
    circuit = Circuit(DEMO_MODEL, pipeline=request.param)
    out = tmp_path_factory.mktemp(f"package_{request.param}") / "pkg"
    result = circuit.package(out, vectors=VECTORS)
    return circuit, out, result


def test_testbench_passes_in_iverilog(demo_package):
    circuit, out, result = demo_package
    description = circuit.description
    top = description.top
    expected_files = {*description.files, description.registered_wrapper, f"tb_{top}.v", f"{top}_inputs.hex",
                      f"{top}_expected.hex", "report.json", "README.md", "vivado_synth.tcl"}
    assert expected_files <= set(result["files"])
    run = run_testbench(out, description)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"PASS: {VECTORS} vectors, 0 mismatches, latency {description.latency_cycles} cycles" in run.stdout
    assert "FAIL" not in run.stdout and "MISMATCH" not in run.stdout

    # the vector files are the circuit's own input -> output codes, packed element 0 in the LSBs
    inputs = read_hex(out / f"{top}_inputs.hex", description.inp)
    expected = read_hex(out / f"{top}_expected.hex", description.out)
    assert inputs.shape == (VECTORS, description.inp.elements)
    np.testing.assert_array_equal(expected, circuit.run_codes(inputs))
    lo, hi = 0, (1 << description.inp.bits) - 1  # the demo's input port is unsigned
    assert (inputs[0] == lo).all() and (inputs[1] == hi).all()  # corners first
    assert len(np.unique(inputs[2:])) > 100  # then random codes over the whole range

    report = json.loads((out / "report.json").read_text())
    assert report["latency_cycles"] == description.latency_cycles
    readme = (out / "README.md").read_text()
    for fragment in (f"{top} u_{top} (", f"| `in_data` | in | {description.inp.width} |",
                     f"| `out_data` | out | {description.out.width} |", "iverilog -g2012", "verilator --binary",
                     "vivado -mode batch -source vivado_synth.tcl", "yosys -p",
                     f"latency **{description.latency_cycles}**"):
        assert fragment in readme, fragment


def test_corrupted_expected_vector_fails(demo_package, tmp_path):
    circuit, out, _ = demo_package
    description = circuit.description
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    path = broken / f"{description.top}_expected.hex"
    lines = path.read_text().splitlines()
    index = 7  # line 0 is the header comment: this is vector 6
    lines[index] = f"{int(lines[index], 16) ^ 1:0{len(lines[index])}x}"  # flip bit 0 of element 0
    path.write_text("\n".join(lines) + "\n")
    run = run_testbench(broken, description)
    assert run.returncode != 0, run.stdout
    assert "FAIL: 1 mismatches, 0 protocol errors" in run.stdout, run.stdout
    assert "MISMATCH vector 6:" in run.stdout
    assert "PASS" not in run.stdout


def test_refuses_non_empty_directory(demo_package, tmp_path):
    circuit, _, _ = demo_package
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.v").write_text("// a user's file\n")
    with pytest.raises(C4mlError, match="not empty.*--force"):
        circuit.package(out, vectors=4)
    assert sorted(p.name for p in out.iterdir()) == ["notes.v"]
    assert (out / "notes.v").read_text() == "// a user's file\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mine")]  # no staging left behind
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(C4mlError, match="not a directory"):
        circuit.package(a_file, vectors=4)
    with pytest.raises(C4mlError, match="own Verilog"):
        circuit.package(circuit.verilog_dir, vectors=4, overwrite=True)
    result = circuit.package(out, vectors=4, overwrite=True)  # explicit: replaces the directory
    assert "notes.v" not in result["files"] and "README.md" in result["files"]


def test_user_inputs_signed_ports_and_pipeline_n(tmp_path):
    """Signed 5-bit inputs (two's complement in the hex words, odd element width) with the caller's
    codes, and a pipeline=N circuit whose latency the testbench must see exactly."""
    model = tmp_path / "mlp.onnx"
    build_mlp(MLPSpec(6, [LayerSpec(7, signed=True), LayerSpec(3, quantizer="none", relu=False)], in_bits=5), model)
    circuit = Circuit(model, pipeline="2")
    description = circuit.description
    assert description.inp.signed and description.inp.bits == 5 and description.latency_cycles > 1
    codes = np.array([[-16, 15, -1, 0, 7, -8], [-16] * 6, [15] * 6, [-1, 1, -2, 2, -3, 3]], dtype=np.int64)
    result = circuit.package(tmp_path / "pkg", inputs=codes)
    assert result["vectors"] == len(codes)
    np.testing.assert_array_equal(read_hex(tmp_path / "pkg" / "c4ml_top_inputs.hex", description.inp), codes)
    assert "the caller's input codes" in (tmp_path / "pkg" / "README.md").read_text()
    run = run_testbench(tmp_path / "pkg", description)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"PASS: 4 vectors, 0 mismatches, latency {description.latency_cycles} cycles" in run.stdout
    with pytest.raises(C4mlError, match="does not fit"):
        circuit.package(tmp_path / "bad", inputs=np.full((2, 6), 16))
    with pytest.raises(C4mlError, match=r"shape \(N, 6\)"):
        circuit.package(tmp_path / "bad", inputs=np.zeros((2, 5), dtype=np.int64))
    assert not (tmp_path / "bad").exists()


def run_cli(*args):
    result = subprocess.run([sys.executable, "-m", "qonnx_c4ml.cli", *map(str, args)],
                            capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout, result.stderr


def test_package_command(tmp_path):
    out = tmp_path / "pkg"
    code, stdout, stderr = run_cli("package", DEMO_MODEL, "-o", out, "--pipeline", "layer", "--vectors", "12")
    assert code == 0, stderr
    assert "testbench tb_c4ml_top.v with 12 vectors" in stdout
    report = json.loads((out / "report.json").read_text())  # the compile report, copied
    assert report["pipeline"] == "layer" and report["model"].endswith("digits_w4a4.onnx")
    readme = (out / "README.md").read_text()
    assert "digits_w4a4.onnx" in readme and "latency **5**" in readme
    sources = ["tb_c4ml_top.v", *report["verilog_files"]]
    subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", *sources], cwd=out, check=True, timeout=300)
    run = subprocess.run(["vvp", "-n", "tb.vvp"], cwd=out, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "PASS: 12 vectors, 0 mismatches, latency 5 cycles" in run.stdout, run.stdout

    before = sorted(p.name for p in out.iterdir())
    code, _, stderr = run_cli("package", DEMO_MODEL, "-o", out)
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert "not empty" in stderr and "--force" in stderr
    assert sorted(p.name for p in out.iterdir()) == before
    code, _, stderr = run_cli("package", DEMO_MODEL, "-o", out, "--force", "--vectors", "3")
    assert code == 0, stderr
    assert "c4ml_top_inputs.hex" in [p.name for p in out.iterdir()] and not (out / "tb.vvp").exists()


def test_streaming_package_runs_in_iverilog(tmp_path):
    """A streaming circuit's package: the testbench sends pixels with gaps, stalls out_ready,
    and checks every frame in Icarus (a second simulator next to Verilator); a corrupted
    expected frame fails it."""
    cnn = Path(__file__).resolve().parent / "fixtures" / "cnn" / "chisel4ml_cnn.onnx"
    circuit = Circuit(cnn, output_dir=tmp_path / "verilog", style="streaming")
    description = circuit.description
    assert description.style == "streaming"
    out = tmp_path / "package"
    circuit.package(out, vectors=24)
    run = run_testbench(out, description)
    assert run.returncode == 0 and "PASS: 24 frames, 0 mismatches" in run.stdout, run.stdout + run.stderr
    readme = (out / "README.md").read_text()
    assert "streaming style" in readme and f"{description.stream['ii_cycles']} cycles per frame" in readme
    path = out / f"{description.top}_expected.hex"
    lines = path.read_text().splitlines()
    lines[3] = f"{int(lines[3], 16) ^ 1:0{len(lines[3])}x}"  # frame 2, bit 0
    path.write_text("\n".join(lines) + "\n")
    run = run_testbench(out, description)
    assert run.returncode != 0 and "MISMATCH frame 2" in run.stdout and "PASS" not in run.stdout, run.stdout


def test_folded_package_runs_in_iverilog(tmp_path):
    """A folded circuit (style="folded": one vector per frame, R cycles each) packages as a
    streaming circuit: the testbench's gaps and out_ready stalls pass in Icarus."""
    from qonnx_c4ml.io import read_model
    from qonnx_c4ml.transformations import GenerateChiselCircuit, InferLBIR

    jets = Path(__file__).resolve().parent / "fixtures" / "jets_w2a2_po2.onnx"
    model = read_model(jets).transform(InferLBIR()).transform(
        GenerateChiselCircuit(tmp_path / "verilog", style="folded", reuse_factor=8))
    circuit = Circuit(model)
    description = circuit.description
    assert description.style == "streaming" and description.stream["ii_cycles"] == 8
    out = tmp_path / "package"
    circuit.package(out, vectors=30)
    run = run_testbench(out, description)
    assert run.returncode == 0 and "PASS: 30 frames, 0 mismatches" in run.stdout, run.stdout + run.stderr
    expected = read_hex(out / f"{description.top}_expected.hex", description.out)
    inputs = read_hex(out / f"{description.top}_inputs.hex", description.inp)
    np.testing.assert_array_equal(expected, circuit.run_codes(inputs))
    readme = (out / "README.md").read_text()  # a folded dense chain takes whole samples, not pixels
    assert "whose dense layers are folded" in readme and "one sample: 16 x 8-bit signed" in readme, readme
    assert "(folded style)" in readme and "pixel" not in readme, readme
