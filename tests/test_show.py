"""`qonnx-c4ml show`: netron serves the LBIR graph on 127.0.0.1, stops cleanly on Ctrl-C/SIGTERM,
and writes nothing next to the user's file. Every wait has a timeout."""
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

pytest.importorskip("netron")

DEMO_MODEL = Path(__file__).resolve().parents[1] / "src" / "qonnx_c4ml" / "data" / "digits_w4a4.onnx"
TIMEOUT_S = 60


class ShowProcess:
    """`qonnx-c4ml show ... --port 0 --no-browser` in a subprocess, stdout read by a thread."""

    def __init__(self, *args):
        self.process = subprocess.Popen([sys.executable, "-m", "qonnx_c4ml.cli", "show", *map(str, args),
                                         "--port", "0", "--no-browser"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def url(self):
        line = self.lines.get(timeout=TIMEOUT_S)
        assert line is not None, self.process.stderr.read()
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        return match.group(1)

    def stop(self, sig):
        self.process.send_signal(sig)
        self.process.wait(timeout=TIMEOUT_S)
        rest = []
        while (line := self.lines.get(timeout=TIMEOUT_S)) is not None:
            rest.append(line)
        return self.process.returncode, "".join(rest), self.process.stderr.read()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=TIMEOUT_S)


def fetch(url):
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        return response.status, response.read()


def served_model(base_url):
    """netron's page names the model it loads in <meta name="file" content="/data/NAME">."""
    status, page = fetch(base_url)
    assert status == 200
    page = page.decode("utf-8")
    assert "<title>Netron</title>" in page
    path = re.search(r'<meta name="file" content="([^"]+)">', page).group(1)
    served_as = re.search(r'<meta name="name" content="([^"]+)">', page).group(1)
    status, data = fetch(base_url.rstrip("/") + path)
    assert status == 200
    return onnx.load_from_string(data), Path(served_as)


@pytest.fixture
def user_model(tmp_path):
    folder = tmp_path / "user"
    folder.mkdir()
    shutil.copyfile(DEMO_MODEL, folder / "digits.onnx")
    (folder / "secret.txt").write_text("not for the web\n")
    return folder / "digits.onnx"


def test_show_serves_lbir_graph_and_stops_on_ctrl_c(user_model):
    show = ShowProcess(user_model)
    try:
        url = show.url()
        model, served_as = served_model(url)
        qdense = [n for n in model.graph.node if n.op_type == "QDense"]
        assert len(qdense) == 4
        attributes = {a.name for n in qdense for a in n.attribute}
        assert {"weights", "thresholds", "in_dtype", "out_dtype", "requant"} <= attributes
        assert served_as.parent != user_model.parent  # a private copy, not the user's directory
        # netron serves files beside the model under /data/: nothing of the user's directory is there
        with pytest.raises(urllib.error.HTTPError):
            fetch(url + "data/secret.txt")
        code, stdout, stderr = show.stop(signal.SIGINT)
    finally:
        show.kill()
    assert code == 0, stderr
    assert "Traceback" not in stderr and "stopped" in stdout
    assert sorted(p.name for p in user_model.parent.iterdir()) == ["digits.onnx", "secret.txt"]
    assert not served_as.exists() and not served_as.parent.exists()  # temp copy removed


def test_show_original_and_sigterm(user_model):
    show = ShowProcess(user_model, "--original")
    try:
        model, _ = served_model(show.url())
        original = onnx.load(str(user_model))
        assert [n.op_type for n in model.graph.node] == [n.op_type for n in original.graph.node]
        code, stdout, stderr = show.stop(signal.SIGTERM)
    finally:
        show.kill()
    assert code == 0, stderr
    assert "Traceback" not in stderr and "stopped" in stdout


def run_show(*args):
    result = subprocess.run([sys.executable, "-m", "qonnx_c4ml.cli", "show", *map(str, args), "--no-browser"],
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    return result.returncode, result.stderr


def assert_one_line_error(code, stderr, *fragments):
    assert code == 2, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr, stderr
    for fragment in fragments:
        assert fragment in stderr, stderr


def test_show_errors(tmp_path):
    assert_one_line_error(*run_show(tmp_path / "nope.onnx"), "no such file")
    w = helper.make_tensor("w", 1, [4, 3], np.ones(12).tolist())
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="dense")], "float",
                              [helper.make_tensor_value_info("x", 1, [1, 4])],
                              [helper.make_tensor_value_info("y", 1, [1, 3])], initializer=[w])
    path = tmp_path / "float.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert_one_line_error(*run_show(path, "--lbir"), "no quantizers")
    with socket.socket() as busy:  # a port someone else is listening on
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert_one_line_error(*run_show(DEMO_MODEL, "--port", busy.getsockname()[1]), "cannot serve", "--port")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["float.onnx"]


def test_show_prepare_takes_the_input_type(tmp_path):
    """A model without input quantizer (QKeras style) is shown as LBIR with its input type."""
    from wild_models import qkeras_mlp

    from qonnx_c4ml.errors import UnsupportedModelError
    from qonnx_c4ml.show import prepare

    path = tmp_path / "qkeras.onnx"
    qkeras_mlp().save(str(path))
    work = tmp_path / "work"
    work.mkdir()
    shown, view, _ = prepare(path, "lbir", work, input_datatype="FIXED<16,6>")
    assert view == "lbir" and any(n.op_type == "QDense" for n in onnx.load(str(shown)).graph.node)
    with pytest.raises(UnsupportedModelError, match="input_datatype"):
        prepare(path, "lbir", work)
