"""Small random QDense CustomOps for the chisel/fold/ unit tests."""
import numpy as np
from onnx import TensorProto, helper

from qonnx.custom_op.registry import getCustomOp

from qonnx_c4ml.lbir import DOMAIN
from qonnx_c4ml.lbir.dense import dense_forward


def int_tensor(name, values):
    values = np.asarray(values, dtype=np.int64)
    return helper.make_tensor(name, TensorProto.INT64, values.shape, values.flatten().tolist())


def dense_op(weights, thresholds, in_dtype, out_dtype, name, out_base=0, requant="thresholds", inp="x", out="y"):
    return getCustomOp(helper.make_node(
        "QDense", [inp], [out], name=name, domain=DOMAIN, weights=int_tensor("weights", weights),
        in_shape=[int(np.asarray(weights).shape[1])], in_dtype=in_dtype, out_dtype=out_dtype, requant=requant,
        thresholds=int_tensor("thresholds", thresholds), out_base=out_base))


def random_chain(seed, sizes=(6, 7, 5, 3)):
    """QDense ops K0 -> K1 -> ... (UINT3 in, UINT2 between, INT10 accumulators out)."""
    rng = np.random.default_rng(seed)
    ops = []
    for i, (k, m) in enumerate(zip(sizes, sizes[1:])):
        weights = rng.integers(-2, 3, size=(m, k))
        last = i == len(sizes) - 2
        thresholds = np.zeros((0, 0), dtype=np.int64) if last else np.sort(rng.integers(-6, 8, size=(m, 3)), axis=1)
        ops.append(dense_op(weights, thresholds, "UINT3" if i == 0 else "UINT2", "INT10" if last else "UINT2",
                            f"dense{i}", requant="none" if last else "thresholds", inp=f"t{i}", out=f"t{i + 1}"))
    return ops


def chain_reference(ops, codes):
    for op in ops:
        codes = dense_forward(codes, op.weight_codes(), op.get_nodeattr("requant"), op.threshold_codes(),
                              op.get_nodeattr("out_base"))
    return codes
