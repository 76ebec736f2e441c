"""Reading models with errors a user can act on."""
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from qonnx.core.modelwrapper import ModelWrapper

from qonnx_c4ml.errors import C4mlError


def read_model(path):
    """Load an ONNX/QONNX file as a ModelWrapper; raise C4mlError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise C4mlError(f"{path}: no such file")
    try:
        proto = onnx.load(str(path))
    except (DecodeError, ValueError, OSError, RuntimeError) as error:
        raise C4mlError(f"{path}: not a readable ONNX model ({type(error).__name__}); "
                        "check the file is complete and was saved with onnx.save") from None
    if not proto.graph.node or not proto.graph.input or not proto.graph.output:
        raise C4mlError(f"{path}: not an ONNX model with a graph (no nodes, inputs or outputs)")
    return ModelWrapper(proto)
