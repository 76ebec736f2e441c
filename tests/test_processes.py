"""qonnx_c4ml.processes: a tool run with a deadline stops with everything it started."""
import os
import subprocess
import time

from qonnx_c4ml.processes import ToolProcess


def test_exit_status_is_returned(tmp_path):
    process = ToolProcess(["sh", "-c", "exit 3"], tmp_path, subprocess.DEVNULL, subprocess.DEVNULL)
    assert process.wait_until(time.monotonic() + 30) == 3 and process.poll() == 3


def test_deadline_stops_the_tool_and_its_children(tmp_path):
    pid_file = tmp_path / "child.pid"
    # a shell that starts a child (as make starts compilers) and waits for it
    script = f"sleep 60 & echo $! > {pid_file}; wait"
    process = ToolProcess(["sh", "-c", script], tmp_path, subprocess.DEVNULL, subprocess.DEVNULL)
    while not pid_file.exists() or not pid_file.read_text().strip():
        time.sleep(0.01)
    start = time.monotonic()
    assert process.wait_until(start + 0.2) is None
    assert time.monotonic() - start < 10
    child = int(pid_file.read_text())
    for _ in range(200):  # the killed child is reaped by init shortly after
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    else:
        raise AssertionError(f"the child {child} of the stopped tool still runs")
