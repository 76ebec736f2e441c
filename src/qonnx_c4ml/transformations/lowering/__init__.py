"""InferLBIR's lowerings: QONNX patterns -> LBIR nodes, one module per op family.

The walk (driver.py) starts at the input quantizer (host.py writes the host nodes giving its
integer codes) and visits the integer tensors breadth first.  Each consumer of an integer
tensor is offered to a table of rules (registry.py); the first that takes it returns the
integer tensors it produced, as `Activation`s (activation.py).  A consumer no rule takes
stays on the host; the host recomputes the float value of the one integer tensor it reads
(host.py), and assemble.py writes the new graph.

    module         QONNX pattern in                                    LBIR node out
    layout.py      Transpose/Reshape/Flatten/Squeeze/Unsqueeze/Identity  none (permutes the index)
    conv.py        [Pad ->] Conv                                       QConv2D
    dense.py       MatMul / Gemm                                       QDense
    pool.py        MaxPool; AveragePool / GlobalAveragePool            QMaxPool2D; depthwise QConv2D
    add.py         Add of two integer tensors                          QAdd
    quantizers.py  [glue] -> [Relu] -> Q after a layer (or alone)      thresholds (an identity QDense)
    host.py        input quantizer; the circuit's output               host nodes (Div/Quant, Mul/Add)

Shared: context.py (`LoweringContext`: the walk's state and graph helpers), layer.py
(`Layer` and the QDense/QConv2D/QAdd node it becomes), image.py (image geometry).

Adding an op family
-------------------
Write a module with a function `lower(ctx, node, act) -> [Activation, ...]` and register it:

    from qonnx_c4ml.transformations.lowering import register
    from qonnx_c4ml.transformations.lowering.layer import Layer
    from qonnx_c4ml.transformations.lowering.quantizers import finish_layer

    @register("MatrixVectorActivation", order=80)      # op types; order: lower is tried first
    def lower_mvau(ctx, node, act):
        layer = Layer(ctx.fresh_name(node.name), node, act, weights, alpha, beta, [node.name], [])
        return finish_layer(ctx, layer, node.output[0])  # glue -> Q -> thresholds

`when=` takes a condition `(ctx, node, tensor) -> bool` (default `registry.first_input`:
the integer tensor is the node's first input).  Rules are tried by ascending `order`, then
registration order; built-in families use 10..70 and the catch-all requantization of a
quantizer on an integer tensor (quantizers.identity_layer) 1000.  A lowering that emits its
own node calls `ctx.emit(node, out_codes, dtype)`, marks the original nodes it replaces in
`ctx.removed` and returns the activation of its output codes.  Registration happens at
import: import the module before InferLBIR runs (the built-in families are imported below).
`registry.rules()` lists the table in the order the walk tries it.

Reading a lowered graph: `circuit_boundary(lbir_model)` (assemble.py) says which tensor
carries the circuit's input codes, which its output codes, and where the host tail starts.
"""
from qonnx_c4ml.transformations.lowering.registry import LoweringRule, first_input, register, rules

from qonnx_c4ml.transformations.lowering import add, affine, conv, dense, layout, pool, quantizers  # noqa: E402
from qonnx_c4ml.transformations.lowering.activation import Activation  # noqa: E402
from qonnx_c4ml.transformations.lowering.assemble import CircuitBoundary, circuit_boundary  # noqa: E402
from qonnx_c4ml.transformations.lowering.driver import lower_prepared  # noqa: E402
from qonnx_c4ml.transformations.lowering.layer import Layer  # noqa: E402

BUILTIN_FAMILIES = (layout, conv, dense, pool, add, quantizers, affine)  # importing them registered their rules

__all__ = ["Activation", "CircuitBoundary", "Layer", "LoweringRule", "circuit_boundary", "first_input",
           "lower_prepared", "register", "rules"]
