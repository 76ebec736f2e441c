"""qonnx_c4ml.output_dir: the refusal rule and the staged whole-or-nothing write."""
import os

import pytest

from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.output_dir import check_output_dir, staged, write_if_changed


def test_new_and_empty_directories_are_accepted(tmp_path):
    assert check_output_dir(tmp_path / "new") == (tmp_path / "new", False)
    (tmp_path / "empty").mkdir()
    assert check_output_dir(str(tmp_path / "empty")) == (tmp_path / "empty", False)


def test_a_file_is_refused_even_with_force(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(C4mlError, match="exists and is not a directory"):
        check_output_dir(tmp_path / "f", force=True)


def test_non_empty_needs_force_and_the_message_says_how(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "keep").write_text("x")
    with pytest.raises(C4mlError) as error:
        check_output_dir(tmp_path / "d", force_hint="--force (Python: overwrite=True)", replaces="the files in it")
    assert str(error.value) == (f"{tmp_path / 'd'} is not empty; choose a new directory or pass --force "
                                "(Python: overwrite=True) to replace the files in it")
    assert check_output_dir(tmp_path / "d", force=True) == (tmp_path / "d", True)
    assert (tmp_path / "d" / "keep").exists()  # checking never removes anything


def test_staged_replaces_the_directory_only_on_success(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("old")
    with pytest.raises(RuntimeError):
        with staged(out) as staging:
            (staging / "half").write_text("written")
            raise RuntimeError("stop")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and (out / "old").exists()
    with staged(out) as staging:
        assert staging.parent == tmp_path and staging.name.startswith(".out.")
        (staging / "new").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_staged_creates_missing_parents(tmp_path):
    with staged(tmp_path / "a" / "b" / "out") as staging:
        (staging / "x").write_text("1")
    assert (tmp_path / "a" / "b" / "out" / "x").read_text() == "1"


def test_write_if_changed_keeps_an_unchanged_file(tmp_path):
    path = tmp_path / "m.v"
    write_if_changed(path, "module m; endmodule\n")
    os.utime(path, (1, 1))
    write_if_changed(path, "module m; endmodule\n")
    assert path.stat().st_mtime == 1
    write_if_changed(path, "module m2; endmodule\n")
    assert path.read_text() == "module m2; endmodule\n" and path.stat().st_mtime > 1
    assert [p.name for p in tmp_path.iterdir()] == ["m.v"]  # no temporary file left
