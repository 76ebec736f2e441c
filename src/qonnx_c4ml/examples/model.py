"""The Brevitas model, training, pruning, evaluation and QONNX export of the training example.

torch and brevitas are imported inside the functions: importing this module needs neither;
calling a function without them raises a C4mlError naming the `train` extra.
"""
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from qonnx_c4ml.errors import C4mlError
from qonnx_c4ml.examples._deps import require, require_torch


def get_jets_model(bitwidth=4, in_features=16, hidden=(64, 32, 32), n_classes=5, input_bitwidth=8):
    """The jets MLP (16-64-32-32-5 by default) with power-of-two scales throughout.

    QuantIdentity (signed `input_bitwidth`-bit fixed point) on the input, then per hidden layer
    QuantLinear (`bitwidth`-bit fixed-point weights, Int16 bias) + QuantReLU (unsigned
    `bitwidth`-bit fixed point), and a last QuantLinear giving float logits. Power-of-two
    scales make qonnx's float32 execution exact, so the generated circuit must match it bit
    for bit. Returns a `torch.nn.Module`.
    """
    torch = require_torch("get_jets_model")
    if not 1 <= int(bitwidth) <= 16 or not 1 <= int(input_bitwidth) <= 16:
        raise C4mlError(f"bit widths must be 1..16, got bitwidth={bitwidth}, input_bitwidth={input_bitwidth}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import brevitas.nn as qnn
        from brevitas.quant import (Int8ActPerTensorFixedPoint, Int8WeightPerTensorFixedPoint, Int16Bias,
                                    Uint8ActPerTensorFixedPoint)

    layers = [qnn.QuantIdentity(act_quant=Int8ActPerTensorFixedPoint, bit_width=int(input_bitwidth),
                                return_quant_tensor=True)]
    width = int(in_features)
    for h in hidden:
        layers += [qnn.QuantLinear(width, int(h), bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                                   weight_bit_width=int(bitwidth), bias_quant=Int16Bias),
                   qnn.QuantReLU(act_quant=Uint8ActPerTensorFixedPoint, bit_width=int(bitwidth),
                                 return_quant_tensor=True)]
        width = int(h)
    layers.append(qnn.QuantLinear(width, int(n_classes), bias=True, weight_quant=Int8WeightPerTensorFixedPoint,
                                  weight_bit_width=int(bitwidth), bias_quant=Int16Bias))
    model = torch.nn.Sequential(*layers)
    model.input_shape = (1, int(in_features))
    return model


def _quant_linears(model):
    import brevitas.nn as qnn

    return [m for m in model.modules() if isinstance(m, qnn.QuantLinear)]


def prune_model(model, amount=0.5):
    """L1 (magnitude) pruning of each QuantLinear weight: torch.nn.utils.prune.l1_unstructured.

    The zeros stay zero in later training (the prune mask is applied in every forward);
    `make_pruning_permanent` bakes them into the weights."""
    require_torch("prune_model")
    from torch.nn.utils import prune

    for module in _quant_linears(model):
        if prune.is_pruned(module):
            prune.remove(module, "weight")
        prune.l1_unstructured(module, name="weight", amount=float(amount))
    return model


def make_pruning_permanent(model):
    """Replace every pruning reparametrization (weight_orig * weight_mask) by the masked weight."""
    require_torch("make_pruning_permanent")
    from torch.nn.utils import prune

    for module in model.modules():
        if prune.is_pruned(module) and hasattr(module, "weight_mask"):
            prune.remove(module, "weight")
    return model


def weight_sparsity(model):
    """Fraction of exactly-zero float weights over all QuantLinear layers."""
    require_torch("weight_sparsity")
    weights = [m.weight.detach().flatten() for m in _quant_linears(model)]
    total = sum(w.numel() for w in weights)
    return float(sum(int((w == 0).sum()) for w in weights) / max(total, 1))


def train_model(model, loader, epochs=1, prune_rate=0.0, lr=1e-2, seed=0, log=None):
    """Adam + cross-entropy for `epochs` passes over `loader`; optional magnitude pruning.

    With `prune_rate` > 0 the smallest `prune_rate` of each QuantLinear's weights are pruned
    (l1_unstructured) halfway through training, the rest is fine-tuned around the zeros, and
    the pruning is made permanent at the end, so exported weights contain the zeros.
    `log(message)` (e.g. `print`) receives one line per epoch. Seeds torch with `seed`
    (the loader's shuffling has its own generator, see `make_loaders`). Returns the model.
    """
    torch = require_torch("train_model")
    if not 0.0 <= prune_rate < 1.0:
        raise C4mlError(f"prune_rate must be in [0, 1), got {prune_rate}")
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    steps = max(1, int(epochs) * len(loader))
    prune_step = steps // 2 if prune_rate > 0 else None
    step = 0
    model.train()
    for epoch in range(int(epochs)):
        total, correct, loss_sum = 0, 0, 0.0
        for x, y in loader:
            if step == prune_step:
                # the Parameter object becomes `weight_orig`: the optimizer keeps tracking it
                prune_model(model, prune_rate)
            out = model(x)
            out = getattr(out, "value", out)  # a QuantTensor when the last layer returns one
            loss = loss_fn(out, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            loss_sum += loss.item() * len(y)
            total += len(y)
            correct += int((out.argmax(1) == y).sum())
        if log:
            log(f"epoch {epoch + 1}/{epochs}: loss {loss_sum / max(total, 1):.4f}, "
                f"train accuracy {correct / max(total, 1):.4f}")
    if prune_rate > 0:
        if prune_step is not None and step <= prune_step:  # no training step reached the midpoint
            prune_model(model, prune_rate)
        make_pruning_permanent(model)
    model.eval()
    return model


def eval_model(model, loader):
    """Accuracy (fraction of argmax == label) of `model` in eval mode over `loader`."""
    torch = require_torch("eval_model")
    was_training = model.training
    model.eval()
    total = correct = 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            out = getattr(out, "value", out)
            correct += int((out.argmax(1) == y).sum())
            total += len(y)
    model.train(was_training)
    return correct / max(total, 1)


def export_qonnx(model, path, input_shape=None):
    """Brevitas `export_qonnx` (TorchScript exporter, `dynamo=False`) + qonnx `cleanup_model`.

    The saved model has all shapes inferred, so it goes straight into `InferLBIR` /
    `Circuit` / `qonnx-c4ml compile`. `input_shape` defaults to `(1, in_features)` for models
    from `get_jets_model`; an int means `(1, n)`. Returns the qonnx ModelWrapper.
    """
    torch = require_torch("export_qonnx")
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    require("onnxoptimizer", purpose="Brevitas' QONNX export")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from brevitas.export import export_qonnx as brevitas_export_qonnx

    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
        if input_shape is None:
            raise C4mlError("export_qonnx needs input_shape, e.g. (1, 16)")
    if isinstance(input_shape, int):
        input_shape = (1, input_shape)
    make_pruning_permanent(model)
    was_training = model.training
    model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = os.path.join(tmp, "raw.onnx")
            example = torch.zeros(*input_shape, dtype=torch.float32)
            brevitas_export_qonnx(model, args=example, export_path=raw, dynamo=False)
            wrapper = cleanup_model(ModelWrapper(raw))
    finally:
        model.train(was_training)
    wrapper.save(str(path))
    return ModelWrapper(str(path))


def exported_weight_sparsity(qonnx_model, codes=False):
    """Fraction of exactly-zero weights of the MatMul/Gemm layers in an exported model.

    `codes=False`: zeros in the float weight initializers (what pruning wrote);
    `codes=True`: zero integer codes after the weight quantizer (pruned weights plus those
    the quantizer rounds to zero), i.e. the multiplications the circuit drops."""
    zeros = total = 0
    for node in qonnx_model.graph.node:
        if node.op_type not in ("Quant", "IntQuant", "BipolarQuant"):
            continue
        weights = qonnx_model.get_initializer(node.input[0])
        users = qonnx_model.find_consumers(node.output[0]) or []
        if weights is None or not any(u.op_type in ("MatMul", "Gemm") and u.input[1] == node.output[0]
                                      for u in users):
            continue
        values = np.asarray(weights, dtype=np.float64)
        if codes:
            values = np.round(values / np.asarray(qonnx_model.get_initializer(node.input[1]), dtype=np.float64))
        zeros += int(np.count_nonzero(values == 0))
        total += values.size
    return zeros / max(total, 1)
