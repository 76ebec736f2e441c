"""Running an external tool (Verilator's make, yosys) with a deadline.

Each tool runs in a session of its own with stdin closed, so stopping it stops everything it
started (make's compilers, yosys-abc): `stop()` kills the whole process group.  The callers
(sim/process.py, synth/yosys.py) turn a missing tool, a failure or a timeout into their own
errors.
"""
import os
import signal
import subprocess
import time


class ToolProcess:
    """One started tool; raises OSError (from Popen) when the command cannot be run."""

    def __init__(self, command, cwd, stdout, stderr, env=None):
        self.command = list(command)
        self._process = subprocess.Popen(self.command, cwd=cwd, env=env, stdout=stdout, stderr=stderr,
                                         stdin=subprocess.DEVNULL, start_new_session=True)

    def poll(self):
        """The exit status, or None while it runs."""
        return self._process.poll()

    def wait_until(self, deadline):
        """The exit status, or None (the tool stopped) once `deadline` (a time.monotonic()
        value) has passed."""
        try:
            return self._process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.stop()
            return None

    def stop(self):
        """Kill the tool and whatever it started, if it still runs."""
        if self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
