"""Optional dependencies of the training example, imported only when a function needs them."""
import importlib

from qonnx_c4ml.errors import C4mlError

TRAIN_HINT = "install the training extra: pip install 'qonnx-c4ml[train]' (torch==2.13.0, brevitas==0.13.4, ...)"


def require(*modules, purpose="the training example"):
    """Import `modules` (dotted names) and return them; a missing one raises one clear C4mlError."""
    loaded = []
    for name in modules:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError as error:  # also covers sys.modules[name] = None
            missing = getattr(error, "name", None) or name
            raise C4mlError(f"{purpose} needs the Python package '{missing.split('.')[0]}', which is not "
                            f"installed; {TRAIN_HINT}") from None
    return loaded[0] if len(loaded) == 1 else loaded


def require_torch(purpose="the training example"):
    """torch and brevitas (both needed to build, train and export the Brevitas models)."""
    torch, _ = require("torch", "brevitas", purpose=purpose)
    return torch
