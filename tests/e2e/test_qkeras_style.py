"""A QKeras-style jet tagger (what qonnx's Keras converter writes: input normalization, MatMul
+ Add + Relu + Quant layers, Softmax) through the product path, RTL against qonnx.

TensorFlow/QKeras cannot be installed here, so the graph is built in that shape by hand
(tests/qonnx_builder.py); the host keeps the normalization and the Softmax.
"""
from qonnx_builder import LayerSpec, MLPSpec, build_mlp

from qonnx_c4ml.verify import verify

L = LayerSpec


def test_qkeras_style_jet_tagger_rtl_is_bit_exact(tmp_path):
    spec = MLPSpec(16, [L(64, zero_fraction=0.5), L(32, zero_fraction=0.5), L(32, zero_fraction=0.5),
                        L(5, quantizer="none", relu=False)], normalize=True, softmax=True, seed=7)
    model = build_mlp(spec)
    assert [n.op_type for n in model.graph.node][-1] == "Softmax"
    report = verify(model, samples=1000, seed=1, build_dir=tmp_path / "build")
    print(report.table())
    assert report.all_exact
    assert {c.stage for c in report.comparisons if not c.skipped} == {"qcdq", "lbir", "rtl"}
