"""Running the build's tools: logged subprocesses with a deadline, and a file lock."""
import contextlib
import fcntl
import re
import subprocess
from pathlib import Path

from qonnx_c4ml.processes import ToolProcess
from qonnx_c4ml.sim.errors import BuildError, ToolNotFoundError


@contextlib.contextmanager
def exclusive_lock(lock_path):
    """Hold an flock on `lock_path`; the kernel drops it if the holder dies."""
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def error_excerpt(log_path, max_lines=10):
    lines = Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines()
    errors = [line for line in lines if re.search(r"%Error|\berror\b|Error \d", line)]
    return "\n".join((errors or lines[-max_lines:])[:max_lines])


def run_logged(command, cwd, env, log, log_path, deadline, step):
    """Run one build step with output appended to the log; kill its process group at the
    deadline (`time.monotonic()` value)."""
    log.write("$ " + " ".join(command) + "\n")
    log.flush()
    try:
        process = ToolProcess(command, cwd, log, subprocess.STDOUT, env)
    except OSError as error:
        raise ToolNotFoundError(
            f"cannot run {command[0]} for the {step}: {error}; install the build tools "
            "(`apt-get install make g++`)"
        ) from error
    try:
        returncode = process.wait_until(deadline)
    finally:
        process.stop()  # make and the compilers it started share the session: stop them all
    if returncode is None:
        raise BuildError(
            f"{step} was stopped at the build time limit (build_library's timeout_s). "
            f"Log: {log_path}", log_path
        )
    if returncode != 0:
        log.flush()
        raise BuildError(
            f"{step} failed (exit status {returncode}). Log: {log_path}\n"
            + error_excerpt(log_path),
            log_path,
        )
