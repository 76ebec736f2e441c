"""Output directories: the refusal rule and the whole-or-nothing write.

One rule for `compile`, `package` and `sweep`: a path that is a file is refused; a non-empty
directory is refused unless the caller asked to replace it (`--force` / `overwrite=True`);
nothing the user did not ask to replace is removed. `staged` writes a directory whole or not
at all: into a temporary sibling, renamed over the destination only when everything is written.
`write_if_changed` writes one generated file, atomically, and only when its text changed.
"""
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from qonnx_c4ml.errors import C4mlError


def check_output_dir(path, force=False, force_hint="--force", replaces="it"):
    """(Path, whether it is a non-empty directory) if `path` may be written, else C4mlError.

    `force_hint` and `replaces` finish the message: "... or pass {force_hint} to replace {replaces}"."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise C4mlError(f"{path} exists and is not a directory")
    non_empty = path.exists() and any(path.iterdir())
    if non_empty and not force:
        raise C4mlError(f"{path} is not empty; choose a new directory or pass {force_hint} to replace {replaces}")
    return path, non_empty


@contextmanager
def staged(output_dir):
    """Yield a new temporary directory beside `output_dir`; when the block ends without an
    exception it replaces `output_dir` (removed first if it exists), else it is deleted.
    The caller has checked `output_dir` (check_output_dir) before."""
    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    try:
        yield staging
        if output_dir.exists():
            shutil.rmtree(output_dir)
        os.replace(staging, output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_if_changed(path, text):
    """Write `text` unless the file already holds exactly it (keeps mtimes and caches stable)."""
    path = Path(path)
    if path.exists() and path.read_text() == text:
        return
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
