"""FINN's front end (finn-plus 1.6.1, its passes run for real) in the tutorial order, stage by stage.

`finn_stages(model)` yields (stage name, model after that stage):
  cleanup (qonnx cleanup_model) -> qonnx_to_finn (ConvertQONNXtoFINN) -> tidy_up (GiveUniqueNodeNames,
  GiveReadableTensorNames, InferShapes, FoldConstants, InferDataTypes, RemoveStaticGraphInputs)
  -> streamline (AbsorbScalarBiasIntoMultiThreshold + Streamline) -> xnor_round
  (ConvertBipolarMatMulToXnorPopcount, AbsorbAddIntoMultiThreshold, AbsorbMulIntoMultiThreshold,
  RoundAndClipThresholds, InferDataTypes) -> mvau (InferBinaryMatrixVectorActivation,
  InferQuantizedMatrixVectorActivation) -> thresholding (InferThresholdingLayer)
each a deep copy; with `lower_convs=True` the streamline stage is FINN's step_streamline for a CNN
(`streamline_lowering_convs`: Conv -> Transpose + Im2Col + MatMul, MaxPool -> MaxPoolNHWC,
MultiThresholds channels-last), so the later stages see Im2Col, 4-D MVAUs and 4-D Thresholding.
`finn_outputs(model, x)` is qonnx execute_onnx of a FINN graph, one sample at a
time (FINN's hw ops are built for batch 1), with FINN's custom ops registered by their domain.
"""
import copy

import numpy as np

import finn.transformation.streamline.absorb as absorb
from finn.transformation.fpgadataflow.convert_to_hw.binary_matrix_vector_activation import \
    InferBinaryMatrixVectorActivation
from finn.transformation.fpgadataflow.convert_to_hw.quantized_matrix_vector_activation import \
    InferQuantizedMatrixVectorActivation
from finn.transformation.fpgadataflow.convert_to_hw.thresholding import InferThresholdingLayer
from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
from finn.transformation.streamline import Streamline
from finn.transformation.streamline.round_thresholds import RoundAndClipThresholds
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.transformation.bipolar_to_xnor import ConvertBipolarMatMulToXnorPopcount
from qonnx.transformation.fold_constants import FoldConstants
from qonnx.transformation.general import GiveReadableTensorNames, GiveUniqueNodeNames, RemoveStaticGraphInputs
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.cleanup import cleanup_model

STAGES = ["cleanup", "qonnx_to_finn", "tidy_up", "streamline", "xnor_round", "mvau", "thresholding"]


def tidy_up(model):
    for t in [GiveUniqueNodeNames(), GiveReadableTensorNames(), InferShapes(), FoldConstants(),
              InferDataTypes(), RemoveStaticGraphInputs()]:
        model = model.transform(t)
    return model


def streamline(model):
    return model.transform(absorb.AbsorbScalarBiasIntoMultiThreshold()).transform(Streamline())


def streamline_lowering_convs(model):
    """FINN's step_streamline (finn-plus 1.6.1 build_dataflow_steps): with Conv nodes, they are
    lowered to Im2Col + MatMul and MaxPool made NHWC between the two Streamline runs."""
    from finn.transformation.streamline.reorder import MakeMaxPoolNHWC
    from qonnx.transformation.general import RemoveUnusedTensors
    from qonnx.transformation.infer_data_layouts import InferDataLayouts
    from qonnx.transformation.lower_convs_to_matmul import LowerConvsToMatMul
    passes = [absorb.AbsorbScalarBiasIntoMultiThreshold(), Streamline()]
    if any(n.op_type == "Conv" for n in model.graph.node):
        passes += [LowerConvsToMatMul(), MakeMaxPoolNHWC(), absorb.AbsorbTransposeIntoMultiThreshold(),
                   MakeMaxPoolNHWC(), absorb.AbsorbConsecutiveTransposes()]
    passes += [ConvertBipolarMatMulToXnorPopcount(), Streamline(), absorb.AbsorbScalarMulAddIntoTopK(),
               InferDataLayouts(), RemoveUnusedTensors()]
    for t in passes:
        model = model.transform(t)
    return model


def xnor_round(model):
    for t in [ConvertBipolarMatMulToXnorPopcount(), absorb.AbsorbAddIntoMultiThreshold(),
              absorb.AbsorbMulIntoMultiThreshold(), RoundAndClipThresholds(), InferDataTypes()]:
        model = model.transform(t)
    return model


def to_mvau(model):
    return model.transform(InferBinaryMatrixVectorActivation()).transform(InferQuantizedMatrixVectorActivation())


def to_thresholding(model):
    return model.transform(InferThresholdingLayer())


PASSES = {"cleanup": cleanup_model, "qonnx_to_finn": lambda m: m.transform(ConvertQONNXtoFINN()),
          "tidy_up": tidy_up, "streamline": streamline, "xnor_round": xnor_round, "mvau": to_mvau,
          "thresholding": to_thresholding}


def step_qonnx_to_finn(model, cfg):
    """FINN's step_qonnx_to_finn (finn-plus 1.6.1 build_dataflow_steps): cleanup + ConvertQONNXtoFINN
    with the config's MultiThreshold bit-width filter."""
    from finn.transformation.qonnx.convert_qonnx_to_finn import default_filter_function_generator
    return cleanup_model(model).transform(ConvertQONNXtoFINN(filter_function=default_filter_function_generator(
        max_multithreshold_bit_width=cfg.max_multithreshold_bit_width)))


def step_tidy_up(model, cfg):
    """FINN's step_tidy_up."""
    from finn.transformation.qonnx.give_unique_node_names_recursive import GiveUniqueNodeNamesRecursive
    for t in [InferShapes(), FoldConstants(), GiveUniqueNodeNamesRecursive(), GiveReadableTensorNames(),
              InferDataTypes(), RemoveStaticGraphInputs()]:
        model = model.transform(t)
    return model


def step_streamline(model, cfg):
    """FINN's step_streamline (for a CNN it also lowers Conv to Im2Col)."""
    return streamline_lowering_convs(model)


def finn_stages(model, until="thresholding", lower_convs=False):
    model = ModelWrapper(copy.deepcopy(model.model))
    passes = {**PASSES, "streamline": streamline_lowering_convs} if lower_convs else PASSES
    for stage in STAGES:
        model = passes[stage](model)
        yield stage, ModelWrapper(copy.deepcopy(model.model))
        if stage == until:
            return


def finn_stage(model, stage, lower_convs=False):
    return dict(finn_stages(model, until=stage, lower_convs=lower_convs))[stage]


def finn_outputs(model, x):
    name, out = model.graph.input[0].name, model.graph.output[0].name
    return np.concatenate([execute_onnx(model, {name: x[i:i + 1]})[out] for i in range(x.shape[0])])
