"""sim/process.py: logged build steps with a deadline, error excerpts, the build lock."""
import sys
import threading
import time

import pytest

from qonnx_c4ml.sim.errors import BuildError, ToolNotFoundError
from qonnx_c4ml.sim.process import error_excerpt, exclusive_lock, run_logged


def run(tmp_path, command, seconds=30):
    log_path = tmp_path / "build.log"
    with open(log_path, "a") as log:
        run_logged(command, tmp_path, None, log, log_path, time.monotonic() + seconds, "test step")
    return log_path.read_text()


def test_successful_step_is_logged_with_its_command(tmp_path):
    text = run(tmp_path, [sys.executable, "-c", "print('hello from the step')"])
    assert text.startswith(f"$ {sys.executable} -c ")
    assert "hello from the step" in text


def test_failing_step_raises_with_the_error_lines(tmp_path):
    script = "import sys; print('compiling'); print('foo.cpp:3: error: bad'); sys.exit(3)"
    with pytest.raises(BuildError, match="exit status 3") as caught:
        run(tmp_path, [sys.executable, "-c", script])
    excerpt = str(caught.value).splitlines()[1:]  # the log's error lines (the command line names one too)
    assert excerpt[-1] == "foo.cpp:3: error: bad" and "compiling" not in excerpt
    assert caught.value.log_path == tmp_path / "build.log"


def test_deadline_stops_the_step(tmp_path):
    start = time.monotonic()
    with pytest.raises(BuildError, match="build time limit"):
        run(tmp_path, [sys.executable, "-c", "import time; time.sleep(30)"], seconds=0.5)
    assert time.monotonic() - start < 10


def test_missing_tool_names_what_to_install(tmp_path):
    with pytest.raises(ToolNotFoundError, match="install the build tools"):
        run(tmp_path, [str(tmp_path / "no-such-tool")])


def test_error_excerpt_prefers_error_lines_else_the_tail(tmp_path):
    log = tmp_path / "log"
    log.write_text("a\n%Error: x.v:1: syntax\nb\nError 2\n")
    assert error_excerpt(log) == "%Error: x.v:1: syntax\nError 2"
    log.write_text("\n".join(f"line {i}" for i in range(30)))
    assert error_excerpt(log, max_lines=3) == "line 27\nline 28\nline 29"


def test_exclusive_lock_serializes_holders(tmp_path):
    lock = tmp_path / "lock"
    inside, order = threading.Event(), []

    def second():
        inside.wait()
        with exclusive_lock(lock):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    with exclusive_lock(lock):
        inside.set()
        time.sleep(0.3)
        order.append("first")
    thread.join(10)
    assert order == ["first", "second"] and lock.exists()
