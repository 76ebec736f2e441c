"""Review of the convolutional lowering: small hand-built QONNX graphs (qonnx Quant/Trunc/
MultiThreshold nodes written with onnx.helper) checked with `verify` against qonnx's
execute_onnx.  The bugs it found are fixed; every case is a regression test."""
import numpy as np
import pytest
from onnx import TensorProto, helper

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.channels_last import ConvertToChannelsLastAndClean
from qonnx.transformation.infer_shapes import InferShapes

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.verify import verify

Q = "qonnx.custom_op.general"


class G:
    """A tiny graph writer: every node gets a unique name, constants become initializers."""

    def __init__(self, seed=0):
        self.nodes, self.inits, self.k, self.kernels = [], [], 0, {}
        self.rng = np.random.default_rng(seed)

    def c(self, v, dtype=np.float32):
        self.k += 1
        name, v = f"c{self.k}", np.asarray(v, dtype=dtype)
        tp = TensorProto.FLOAT if dtype == np.float32 else TensorProto.INT64
        self.inits.append(helper.make_tensor(name, tp, v.shape, v.ravel().tolist()))
        return name

    def n(self, op, ins, domain="", **attrs):
        self.k += 1
        name = f"{op}_{self.k}"
        self.nodes.append(helper.make_node(op, ins, [name + "_out"], name=name, domain=domain, **attrs))
        return name + "_out"

    def quant(self, x, scale, bits, signed=True, narrow=False, rounding="ROUND"):
        return self.n("Quant", [x, self.c(scale), self.c(0.0), self.c(float(bits))], Q,
                      signed=int(signed), narrow=int(narrow), rounding_mode=rounding)

    def trunc(self, x, scale, in_bits, out_scale, out_bits, signed=True, rounding="FLOOR"):
        return self.n("Trunc", [x, self.c(scale), self.c(0.0), self.c(float(in_bits)), self.c(out_scale),
                                self.c(float(out_bits))], Q, signed=int(signed), narrow=0, rounding_mode=rounding)

    def wconv(self, o, c, k, bits=4, scale=None, per_channel=False):
        """Quantized conv weights (O, C, k, k): integer codes times the scale, through a Quant."""
        if scale is None:
            scale = 2.0 ** self.rng.integers(-4, -1, size=(o, 1, 1, 1)) if per_channel else 2.0 ** -3
        top = 2 ** (bits - 1)
        codes = self.rng.integers(-top, top, size=(o, c, k, k))
        out = self.quant(self.c(codes * np.asarray(scale)), scale, bits)
        self.kernels[out] = [k, k]
        return out

    def wdense(self, n_in, n_out):
        return self.quant(self.c(self.rng.integers(-4, 4, (n_in, n_out)) * 0.25), 0.25, 3)

    def conv(self, x, w, b=None, **attrs):
        # qonnx's channels-last Conv wants every attribute spelled out
        attrs = {"kernel_shape": self.kernels[w], "strides": [1, 1], "dilations": [1, 1], "pads": [0, 0, 0, 0],
                 "group": 1, **attrs}
        return self.n("Conv", [x, w] + ([b] if b is not None else []), **attrs)

    def model(self, x_shape, out):
        graph = helper.make_graph(
            self.nodes, "review", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, *x_shape])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(Q, 2)])
        return ModelWrapper(model).transform(InferShapes())


def exact(model, samples=200, **kwargs):
    report = verify(model, samples=samples, rtl=False, **kwargs)
    assert report.all_exact, report.table()
    return report


# -- graphs ------------------------------------------------------------------------------------

def conv_per_channel_bn_negative_gamma():
    g = G(1)
    x = g.quant("inp", 2.0 ** -3, 4)
    y = g.conv(x, g.wconv(4, 2, 3, per_channel=True), pads=[1, 1, 1, 1])  # no bias
    y = g.n("BatchNormalization", [y, g.c([1.5, -0.75, -2.0, 0.5]), g.c([0.1, -0.2, 0.3, 0.0]),
                                   g.c([0.05, 0.1, -0.1, 0.2]), g.c([1.0, 2.0, 0.5, 1.5])])
    y = g.n("Flatten", [g.quant(y, 2.0 ** -2, 4)], axis=1)
    y = g.n("MatMul", [y, g.wdense(4 * 5 * 5, 3)])
    return g.model((2, 5, 5), g.quant(y, 2.0 ** -1, 6))


def conv_no_bias_relu_stride():
    g = G(2)
    x = g.quant("inp", 2.0 ** -2, 3)
    y = g.n("Relu", [g.conv(x, g.wconv(3, 2, 2), strides=[2, 2])])
    return g.model((2, 6, 6), g.quant(y, 2.0 ** -1, 3, signed=False))


def maxpool_padded_after_signed():
    g = G(3)
    x = g.quant("inp", 2.0 ** -2, 4)
    y = g.quant(g.conv(x, g.wconv(2, 1, 3), g.c([0.25, -0.5])), 2.0 ** -1, 4, signed=True)
    y = g.n("MaxPool", [y], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    y = g.n("MatMul", [g.n("Flatten", [y], axis=1), g.wdense(8, 2)])
    return g.model((1, 6, 6), g.quant(y, 2.0 ** -1, 5))


def maxpool_asymmetric_pad_is_output():
    g = G(4)
    x = g.quant("inp", 2.0 ** -2, 4)
    y = g.quant(g.conv(x, g.wconv(2, 1, 3), g.c([0.25, -0.5])), 2.0 ** -1, 4, signed=True)
    return g.model((1, 5, 5), g.n("MaxPool", [y], kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 1, 1]))


def quantized_conv_two_consumers_add():
    g = G(5)
    x = g.quant("inp", 2.0 ** -2, 4)
    a = g.quant(g.conv(x, g.wconv(2, 2, 3), pads=[1, 1, 1, 1]), 2.0 ** -2, 4)
    b1 = g.quant(g.conv(a, g.wconv(2, 2, 3), pads=[1, 1, 1, 1]), 2.0 ** -2, 4)
    b2 = g.quant(g.conv(a, g.wconv(2, 2, 1)), 2.0 ** -3, 4)
    return g.model((2, 4, 4), g.quant(g.n("Add", [b1, b2]), 2.0 ** -1, 5))


def add_with_input_quantizer(input_first):
    g = G(6 if input_first else 7)
    x = g.quant("inp", 2.0 ** -2, 4)
    a = g.quant(g.conv(x, g.wconv(2, 2, 3), pads=[1, 1, 1, 1]), 2.0 ** -3, 4)
    return g.model((2, 4, 4), g.quant(g.n("Add", [x, a] if input_first else [a, x]), 2.0 ** -1, 5))


def add_per_channel_scales():
    g = G(8)
    x = g.quant("inp", 2.0 ** -2, 4)
    a = g.quant(g.conv(x, g.wconv(2, 2, 3), pads=[1, 1, 1, 1]), np.array([2.0 ** -3, 2.0 ** -1]).reshape(1, 2, 1, 1), 4)
    b = g.quant(g.conv(x, g.wconv(2, 2, 1)), np.array([2.0 ** -2, 0.375]).reshape(1, 2, 1, 1), 4)
    return g.model((2, 4, 4), g.quant(g.n("Add", [a, b]), np.array([0.25, 0.5]).reshape(1, 2, 1, 1), 5))


def trunc_after_pool(mode, pool):
    """Brevitas' TruncAvgPool pattern: pool -> Mul(window) -> Trunc, on signed codes."""
    g = G(10)
    x = g.quant("inp", 2.0 ** -2, 4)
    y = g.quant(g.conv(x, g.wconv(2, 1, 3), pads=[1, 1, 1, 1]), 2.0 ** -2, 4, signed=True)
    if pool == "AveragePool":
        y = g.n("Mul", [g.n("AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2]), g.c(4.0)])
        y = g.trunc(y, 2.0 ** -2, 6, 2.0 ** -2 * 4, 4, signed=True, rounding=mode)
    else:
        y = g.n("Mul", [g.n("GlobalAveragePool", [y]), g.c(16.0)])
        y = g.trunc(y, 2.0 ** -2, 8, 2.0 ** -2 * 16, 4, signed=True, rounding=mode)
    return g.model((1, 4, 4), y)


def trunc_straight_after_avgpool():
    g = G(11)
    x = g.quant("inp", 2.0 ** -2, 4)
    y = g.quant(g.conv(x, g.wconv(2, 1, 3), pads=[1, 1, 1, 1]), 2.0 ** -2, 4)
    y = g.n("AveragePool", [y], kernel_shape=[2, 2], strides=[2, 2])
    return g.model((1, 4, 4), g.trunc(y, 2.0 ** -4, 8, 2.0 ** -2, 4, signed=True, rounding="FLOOR"))


def avgpool_3x3(out_scale, pads=(0, 0, 0, 0), strides=(1, 1)):
    g = G(12)
    x = g.quant("inp", 2.0 ** -2, 4)
    y = g.quant(g.conv(x, g.wconv(2, 1, 3), pads=[1, 1, 1, 1]), 2.0 ** -2, 4)
    y = g.n("AveragePool", [y], kernel_shape=[3, 3], strides=list(strides), pads=list(pads), count_include_pad=1)
    return g.model((1, 5, 5), g.quant(y, out_scale, 6))


def global_avgpool_signed(out_scale):
    g = G(14)
    x = g.quant("inp", 2.0 ** -2, 4)
    y = g.quant(g.conv(x, g.wconv(3, 1, 3), pads=[1, 1, 1, 1]), 2.0 ** -2, 4)
    y = g.n("Flatten", [g.quant(g.n("GlobalAveragePool", [y]), out_scale, 6)], axis=1)
    return g.model((1, 3, 3), g.quant(g.n("MatMul", [y, g.wdense(3, 2)]), 2.0 ** -1, 5))


def global_avgpool_on_input():
    g = G(15)
    x = g.quant("inp", 2.0 ** -2, 4)
    return g.model((2, 3, 3), g.quant(g.n("GlobalAveragePool", [x]), 2.0 ** -4, 6))


def stride_greater_than_kernel():
    g = G(16)
    x = g.quant("inp", 2.0 ** -2, 4)
    y = g.quant(g.conv(x, g.wconv(2, 2, 2), strides=[3, 3], pads=[0, 1, 1, 0]), 2.0 ** -2, 4)
    return g.model((2, 7, 7), g.n("MaxPool", [y], kernel_shape=[1, 1], strides=[2, 2]))


def one_by_one_image():
    g = G(17)
    x = g.quant("inp", 2.0 ** -2, 4)
    y = g.quant(g.conv(x, g.wconv(3, 2, 1), g.c([0.5, -0.25, 0.125])), 2.0 ** -2, 4)
    y = g.n("GlobalAveragePool", [g.n("MaxPool", [y], kernel_shape=[1, 1])])
    return g.model((2, 1, 1), g.quant(y, 2.0 ** -2, 4))


def one_by_one_image_padded_3x3():
    g = G(18)
    x = g.quant("inp", 2.0 ** -2, 4)
    return g.model((2, 1, 1), g.quant(g.conv(x, g.wconv(2, 2, 3), pads=[1, 1, 1, 1]), 2.0 ** -2, 4))


def reshape_before_dense(gemm):
    g = G(19)
    x = g.quant("inp", 2.0 ** -2, 4)
    y = g.quant(g.conv(x, g.wconv(2, 1, 3)), 2.0 ** -2, 4, signed=False)
    if gemm:
        y = g.n("Reshape", [y, g.c([1, -1], np.int64)])
        w = g.quant(g.c(g.rng.integers(-4, 4, (3, 8)) * 0.25), 0.25, 3)
        return g.model((1, 4, 4), g.quant(g.n("Gemm", [y, w, g.c([0.5, 0.25, -0.75])], transB=1), 2.0 ** -1, 5))
    y = g.n("Reshape", [y, g.c([0, -1], np.int64)])
    return g.model((1, 4, 4), g.n("MatMul", [y, g.wdense(8, 3)]))  # float output


def transpose_after_last_conv():
    g = G(21)
    x = g.quant("inp", 2.0 ** -2, 4)
    y = g.quant(g.conv(x, g.wconv(3, 2, 3), pads=[1, 0, 1, 0]), np.array([0.25, 0.5, 0.125]).reshape(1, 3, 1, 1), 4)
    return g.model((2, 4, 5), g.n("Transpose", [y], perm=[0, 2, 3, 1]))


def conv_is_last_layer(bipolar=False):
    g = G(22)
    x = g.quant("inp", 2.0 ** -2, 4)
    y = g.conv(x, g.wconv(3, 2, 2), g.c([0.1, 0.2, -0.3]), strides=[1, 2])
    y = g.n("BipolarQuant", [y, g.c(0.5)], Q) if bipolar else g.quant(y, 2.0 ** -2, 4)
    return g.model((2, 4, 5), y)


def multithreshold_after(where):
    g = G(30)
    x = g.quant("inp", 2.0 ** -2, 4)
    if where == "conv":
        y = g.conv(x, g.wconv(2, 2, 3), pads=[1, 1, 1, 1])
    elif where == "add":
        a = g.quant(g.conv(x, g.wconv(2, 2, 3), pads=[1, 1, 1, 1]), 2.0 ** -2, 4)
        b = g.quant(g.conv(x, g.wconv(2, 2, 1)), 2.0 ** -3, 4)
        y = g.n("Add", [a, b])
    else:  # maxpool
        a = g.quant(g.conv(x, g.wconv(2, 2, 3), pads=[1, 1, 1, 1]), 2.0 ** -2, 4)
        y = g.n("MaxPool", [a], kernel_shape=[2, 2], strides=[1, 1])
    t = np.sort(g.rng.normal(0, 1, (2, 3)), axis=1)  # per-channel thresholds (C, levels), NCHW
    y = g.n("MultiThreshold", [y, g.c(t)], Q, out_dtype="UINT2", out_scale=0.5, out_bias=0.0)
    return g.model((2, 3, 3), y)


def negative_per_channel_mul_after_maxpool():
    g = G(33)
    x = g.quant("inp", 2.0 ** -2, 4)
    a = g.quant(g.conv(x, g.wconv(2, 2, 3), pads=[1, 1, 1, 1]), 2.0 ** -2, 4)
    p = g.n("MaxPool", [a], kernel_shape=[2, 2], strides=[1, 1])
    p = g.n("Mul", [p, g.c(np.array([-1.5, 0.75]).reshape(1, 2, 1, 1))])
    return g.model((2, 3, 3), g.quant(p, 2.0 ** -2, 5))


def batchnorm_after_add():
    g = G(34)
    x = g.quant("inp", 2.0 ** -2, 4)
    a = g.quant(g.conv(x, g.wconv(2, 2, 3), pads=[1, 1, 1, 1]), 2.0 ** -2, 4)
    b = g.quant(g.conv(x, g.wconv(2, 2, 1)), 2.0 ** -3, 4)
    s = g.n("BatchNormalization", [g.n("Add", [a, b]), g.c([1.5, -0.5]), g.c([0.1, -0.2]), g.c([0.05, 0.1]),
                                   g.c([1.0, 2.0])])
    return g.model((2, 3, 3), g.quant(s, 2.0 ** -2, 4))


def maxpool_on_input(then_conv):
    g = G(36)
    x = g.quant("inp", 2.0 ** -2, 4)
    y = g.n("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    if then_conv:
        y = g.quant(g.conv(y, g.wconv(2, 2, 3), pads=[1, 1, 1, 1]), 2.0 ** -2, 4)
    return g.model((2, 4, 4), y)


def add_of_transposed_operands():
    g = G(37)
    x = g.quant("inp", 2.0 ** -2, 4)
    a = g.n("Transpose", [g.quant(g.conv(x, g.wconv(2, 2, 3), pads=[1, 1, 1, 1]), 2.0 ** -2, 4)], perm=[0, 2, 3, 1])
    b = g.n("Transpose", [g.quant(g.conv(x, g.wconv(2, 2, 1)), 2.0 ** -3, 4)], perm=[0, 2, 3, 1])
    return g.model((2, 3, 4), g.quant(g.n("Add", [a, b]), np.array([0.25, 0.5]).reshape(1, 1, 1, 2), 5))


def depthwise_multiplier_2_per_channel():
    g = G(40)
    x = g.quant("inp", 2.0 ** -2, 4)
    a = g.quant(g.conv(x, g.wconv(2, 2, 3), pads=[1, 1, 1, 1]), np.array([0.25, 0.5]).reshape(1, 2, 1, 1), 4)
    y = g.conv(a, g.wconv(4, 1, 3, per_channel=True), group=2, pads=[0, 1, 2, 1])
    return g.model((2, 4, 4), g.quant(y, 2.0 ** -2, 4))


def conv_output_to_two_quantizers():
    g = G(43)
    x = g.quant("inp", 2.0 ** -2, 4)
    c = g.conv(x, g.wconv(2, 2, 3), pads=[1, 1, 1, 1])
    a, b = g.quant(c, 2.0 ** -2, 4), g.quant(c, 2.0 ** -3, 6)
    return g.model((2, 3, 3), g.quant(g.n("Add", [a, b]), 2.0 ** -1, 5))


def channels_last(model):
    return model.transform(ConvertToChannelsLastAndClean(make_input_channels_last=False))


# -- passing cases -------------------------------------------------------------------------------

EXACT = {
    "conv_per_channel_bn_negative_gamma": conv_per_channel_bn_negative_gamma,
    "conv_no_bias_relu_stride": conv_no_bias_relu_stride,
    "maxpool_padded_after_signed": maxpool_padded_after_signed,
    "maxpool_asymmetric_pad_is_output": maxpool_asymmetric_pad_is_output,
    "quantized_conv_two_consumers_add": quantized_conv_two_consumers_add,
    "add_input_quantizer_first": lambda: add_with_input_quantizer(True),
    "add_input_quantizer_second": lambda: add_with_input_quantizer(False),
    "add_per_channel_scales": add_per_channel_scales,
    "trunc_straight_after_avgpool": trunc_straight_after_avgpool,
    "avgpool_3x3_po2": lambda: avgpool_3x3(2.0 ** -3),
    "avgpool_3x3_padded_count_include_pad": lambda: avgpool_3x3(2.0 ** -3, (1, 1, 1, 1), (2, 2)),
    "global_avgpool_signed": lambda: global_avgpool_signed(2.0 ** -4),
    "global_avgpool_on_input": global_avgpool_on_input,
    "stride_greater_than_kernel": stride_greater_than_kernel,
    "one_by_one_image": one_by_one_image,
    "one_by_one_image_padded_3x3": one_by_one_image_padded_3x3,
    "reshape_before_gemm": lambda: reshape_before_dense(True),
    "reshape_0_before_float_matmul": lambda: reshape_before_dense(False),
    "transpose_after_last_conv": transpose_after_last_conv,
    "conv_is_last_layer_quant": conv_is_last_layer,
    "conv_is_last_layer_bipolar": lambda: conv_is_last_layer(True),
    "multithreshold_after_conv": lambda: multithreshold_after("conv"),
    "negative_per_channel_mul_after_maxpool": negative_per_channel_mul_after_maxpool,
    "batchnorm_after_add": batchnorm_after_add,
    "maxpool_on_input_only": lambda: maxpool_on_input(False),
    "maxpool_on_input_then_conv": lambda: maxpool_on_input(True),
    "add_of_transposed_operands": add_of_transposed_operands,
    "depthwise_multiplier_2_per_channel": depthwise_multiplier_2_per_channel,
    "channels_last_maxpool_padded": lambda: channels_last(maxpool_padded_after_signed()),
    "channels_last_conv_bn_negative_gamma": lambda: channels_last(conv_per_channel_bn_negative_gamma()),
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_lbir_exact(name):
    exact(EXACT[name]())


@pytest.mark.parametrize("pool", ["AveragePool", "GlobalAveragePool"])
@pytest.mark.parametrize("mode", ["FLOOR", "CEIL", "ROUND"])
def test_trunc_modes_on_signed_pool(mode, pool):
    exact(trunc_after_pool(mode, pool))


@pytest.mark.parametrize("make", [lambda: avgpool_3x3(0.03), lambda: global_avgpool_signed(0.013)],
                         ids=["avgpool_3x3", "global_avgpool"])
def test_non_power_of_two_pool_output_scale_within_one_lsb(make):
    report = verify(make(), samples=200, rtl=False)
    assert report.within_tolerance, report.table()


def test_rtl_conv_feature_map_output_with_add_of_input():
    """Circuit output = a conv feature map, the input quantizer feeding a residual Add (first operand)."""
    report = verify(add_with_input_quantizer(True), samples=40, rtl=True, style="parallel")
    assert report.all_exact, report.table()


# -- bugs this review found (fixed): regression tests --------------------------------------------

def test_rtl_add_with_input_quantizer_as_second_operand():
    report = verify(add_with_input_quantizer(False), samples=40, rtl=True, style="parallel")
    assert report.all_exact, report.table()


@pytest.mark.parametrize("where", ["add", "maxpool"])
def test_per_channel_multithreshold_after_add_or_maxpool(where):
    exact(multithreshold_after(where))


def test_conv_feeding_two_quantizers_error_message():
    try:
        exact(conv_output_to_two_quantizers())
    except UnsupportedModelError as error:
        assert "reaches no quantizer" not in str(error), str(error)
