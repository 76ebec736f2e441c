"""`qonnx-c4ml show MODEL`: look at a model in netron, by default as the LBIR graph.

    served = serve_model("model.onnx", port=0)   # InferLBIR -> temp file -> netron on 127.0.0.1
    print(served.url); ...; served.stop()
    show("model.onnx")                           # the same, until Ctrl-C (the CLI command)

Views (`view`):
    "auto"     : a QONNX model (it has quantizers) is shown after InferLBIR, so the QDense nodes
                 with their weights, thresholds, in/out dtypes and requantization style are visible;
                 a model that is already LBIR, or has no quantizers, is shown as it is.
    "lbir"     : always InferLBIR (errors as `compile` would report them).
    "original" : the file as it is.

The model served is always a copy in a private temporary directory (mode 0700), removed on
exit: nothing is written next to the user's file, and netron, which serves every file in the
directory of the model it shows under /data/, sees only that copy. The server listens on
127.0.0.1 only. netron's page loads the model from `/data/<name>` (the `<meta name="file">`
of its index.html).
"""
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import webbrowser
from dataclasses import dataclass
from pathlib import Path

from qonnx_c4ml.errors import C4mlError

HOST = "127.0.0.1"
VIEWS = ("auto", "lbir", "original")


@dataclass
class Served:
    url: str
    address: tuple
    model_file: Path  # the served copy
    view: str  # "lbir" or "original": what is actually shown
    note: str = ""
    _tmp_dir: Path = None

    def stop(self):
        import netron

        netron.stop(self.address)
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            self._tmp_dir = None

    def alive(self):
        import netron

        return netron.status(self.address)


def _safe_name(stem):
    return re.sub(r"[^A-Za-z0-9._-]", "_", stem) or "model"


def prepare(model_path, view="auto", work_dir=None, input_datatype=None):
    """Write the model to show into `work_dir`; returns (path, view shown, note).
    `input_datatype`: InferLBIR's, for a model without an input quantizer."""
    from qonnx_c4ml.io import read_model
    from qonnx_c4ml.lbir import DOMAIN
    from qonnx_c4ml.transformations.constants import QUANTIZER_OPS

    if view not in VIEWS:
        raise C4mlError(f"view={view!r} is not one of {', '.join(VIEWS)}")
    model_path = Path(model_path)
    model = read_model(model_path)
    stem = _safe_name(model_path.stem)
    is_lbir = any(n.domain == DOMAIN for n in model.graph.node)
    has_quantizers = any(n.op_type in QUANTIZER_OPS for n in model.graph.node)
    note = ""
    if view == "auto":
        if is_lbir:
            view, note = "original", "the model is already an LBIR model"
        elif has_quantizers:
            view = "lbir"
        else:
            view, note = "original", "no quantizers (not a QONNX model), shown as it is"
    if view == "lbir" and not is_lbir:
        from qonnx_c4ml.transformations import InferLBIR

        model = model.transform(InferLBIR(input_datatype=input_datatype))
        path = Path(work_dir) / f"{stem}_lbir.onnx"
    else:
        path = Path(work_dir) / f"{stem}.onnx"
    model.save(str(path))
    return path, view, note


def serve_model(model_path, view="auto", port=None, browse=False, input_datatype=None):
    """Serve `model_path` (see module doc) with netron on 127.0.0.1; returns a `Served`.

    `port`: None lets netron choose (8080, 8081 or a random free port), 0 any free port."""
    import netron

    tmp_dir = Path(tempfile.mkdtemp(prefix="qonnx_c4ml_show_"))
    try:
        path, shown, note = prepare(model_path, view, tmp_dir, input_datatype)
        # netron logs "Serving ..." at INFO (configuring the root logger if nobody has); we print our own line
        logging.getLogger("netron").setLevel(logging.WARNING)
        try:
            address = netron.serve(str(path), None, address=(HOST, port), browse=False)
        except OSError as error:
            raise C4mlError(f"cannot serve on {HOST}:{port}: {error.strerror or error}; "
                            "choose another --port (0 = any free port)") from None
        except ValueError as error:
            raise C4mlError(f"cannot serve on {HOST}:{port}: {error}") from None
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    url = f"http://{address[0]}:{address[1]}/"
    if browse and _has_browser():
        try:
            webbrowser.open(url)
        except Exception:  # noqa: BLE001 - the URL is printed anyway
            pass
    return Served(url, tuple(address), path, shown, note, tmp_dir)


def _has_browser():
    """A graphical browser is likely (never start a text-mode browser inside the terminal)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def show(model_path, view="auto", port=None, browse=True, out=None, input_datatype=None):
    """Serve until Ctrl-C or SIGTERM (clean exit); returns 0. The CLI's `show`."""
    out = out or sys.stdout
    served = serve_model(model_path, view, port, browse, input_datatype)
    what = "the LBIR graph (after InferLBIR)" if served.view == "lbir" else "the model as it is"
    previous = None

    def stop_on_term(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, stop_on_term)
    try:
        print(f"netron: {what} of {model_path}{f' ({served.note})' if served.note else ''} at {served.url}"
              " (Ctrl-C to stop)", file=out, flush=True)
        while served.alive():
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        served.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print("stopped", file=out, flush=True)
    return 0
