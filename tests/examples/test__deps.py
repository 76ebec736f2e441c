"""examples/_deps.py: optional dependencies are imported on demand, a missing one is one clear
C4mlError naming the package and the extra to install."""
import sys

import pytest

from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.examples._deps import TRAIN_HINT, require, require_torch


def test_present_modules_are_returned():
    import json
    import os.path
    assert require("json") is json
    assert require("json", "os.path") == [json, os.path]


def test_a_missing_module_names_its_top_level_package():
    with pytest.raises(C4mlError, match="the demo needs the Python package 'no_such_pkg_c4ml'") as caught:
        require("json", "no_such_pkg_c4ml.sub", purpose="the demo")
    assert TRAIN_HINT in str(caught.value)


def test_a_blocked_module_counts_as_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if it were not installed
    with pytest.raises(C4mlError, match="the training example needs the Python package 'torch'"):
        require_torch()
