"""chisel/fold/stage.py: the valid/ready stage of one folded layer: its registers and
handshake in the text, lint-clean in Verilator for one step and for several."""
import shutil
import subprocess

import pytest

from qonnx_c4ml.chisel.fold.stage import stage_verilog


def unit_stub(name, in_width, unit_width, steps):
    step = f"  input wire [{max(1, (steps - 1).bit_length()) - 1}:0] step,\n" if steps > 1 else ""
    body = f"assign out_data = in_data[{unit_width - 1}:0]" + (" ^ {{" + str(unit_width) + "{step[0]}}}" if steps > 1 else "")
    return ("/* verilator lint_off UNUSEDSIGNAL */\n" f"module {name} (\n  input wire [{in_width - 1}:0] in_data,\n{step}"
            f"  output wire [{unit_width - 1}:0] out_data\n);\n  {body};\nendmodule\n")


def test_stage_text():
    text = stage_verilog("layer", "layer_unit", 12, 6, 14, 3)
    assert "module layer (" in text and "layer_unit u_unit (.in_data(x_q), .step(step), .out_data(unit_out));" in text
    assert "reg [1:0] step;" in text and "reg [11:0] partial;" in text  # steps 0 and 1 kept, 2 goes straight out
    assert "assign in_ready = !busy || finish;" in text
    assert "wire finish = busy && last && (!result_valid || out_ready);" in text
    assert "if (finish) result <= codes[13:0];" in text
    one = stage_verilog("layer", "layer_unit", 12, 6, 6, 1)
    assert "step" not in one and "partial" not in one and "wire last = 1'b1;" in one


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator is installed by scripts/setup.sh")
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_stage_is_lint_clean(steps, tmp_path):
    unit_width, out_width = 4, 4 * steps - 2 if steps > 1 else 4
    (tmp_path / "u.v").write_text(unit_stub("u", 8, unit_width, steps))
    (tmp_path / "s.v").write_text("/* verilator lint_off UNUSEDSIGNAL */\n"
                                  + stage_verilog("s", "u", 8, unit_width, out_width, steps))
    result = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "s", str(tmp_path / "s.v"),
                             str(tmp_path / "u.v")], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_stage_with_a_weight_rom_reads_the_next_steps_word():
    text = stage_verilog("layer", "layer_unit", 12, 6, 14, 3, rom=(5, [1, 2, 3], False))
    assert "wire [1:0] step_next = reset || take || finish ? 2'h0 : busy && !last ? step + 2'h1 : step;" in text
    assert "    case (step_next)" in text and "      2'h1: w_q <= 5'h2;" in text
    assert "layer_unit u_unit (.in_data(x_q), .w_data(w_q), .out_data(unit_out));" in text
    slots = stage_verilog("layer", "layer_unit", 12, 6, 14, 3, rom=(5, [1, 2, 3], True))
    assert "layer_unit u_unit (.in_data(x_q), .step(step), .w_data(w_q), .out_data(unit_out));" in slots
    empty = stage_verilog("layer", "layer_unit", 12, 6, 14, 3, rom=(0, [0, 0, 0], False))
    assert "w_q" not in empty and "layer_unit u_unit (.in_data(x_q), .out_data(unit_out));" in empty


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator is installed by scripts/setup.sh")
def test_stage_with_a_weight_rom_is_lint_clean(tmp_path):
    unit = ("/* verilator lint_off UNUSEDSIGNAL */\nmodule u (\n  input wire [7:0] in_data,\n"
            "  input wire [4:0] w_data,\n  output wire [3:0] out_data\n);\n"
            "  assign out_data = in_data[3:0] ^ w_data[3:0];\nendmodule\n")
    (tmp_path / "u.v").write_text(unit)
    (tmp_path / "s.v").write_text("/* verilator lint_off UNUSEDSIGNAL */\n"
                                  + stage_verilog("s", "u", 8, 4, 18, 5, rom=(5, [1, 2, 3, 4, 5], False)))
    result = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", "s", str(tmp_path / "s.v"),
                             str(tmp_path / "u.v")], capture_output=True, text=True)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_partial_results_shift_in_at_the_top():
    text = stage_verilog("layer", "layer_unit", 12, 6, 20, 4)
    assert "    if (busy && !last) partial <= {unit_out, partial[17:6]};" in text  # steps 0..2 kept
    assert "step == 2'h0" not in text
