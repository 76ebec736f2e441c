"""lowering/activation.py: an integer tensor as the float tensor it stands for."""
from fractions import Fraction

import numpy as np

from qonnx_c4ml.transformations.lowering.activation import Activation, fractions, make_activation


def test_make_activation_is_in_order_with_exact_scales():
    act = make_activation("codes", (2, 3), 0.1, -0.5, -8, 7, source="x")
    np.testing.assert_array_equal(act.index, np.arange(6).reshape(2, 3))
    assert act.scale[1, 2] == Fraction(float(np.float32(0.1)))  # the float32 scale's exact value, not 1/10
    assert act.offset[0, 0] == Fraction(-1, 2) and act.scale_f32.dtype == np.float32
    assert act.codes_shape == (2, 3) and act.dtype == "INT4" and act.tensor == "x"


def test_tensor_is_the_codes_when_there_is_no_source():
    act = make_activation("codes", (4,), 1.0, 0.0, 0, 3)
    assert act.tensor == "codes" and act.dtype == "UINT2"


def test_view_turns_channels_last_images_into_chw():
    hwc = np.arange(12).reshape(2, 3, 2)
    assert Activation.view(hwc, True).shape == (2, 2, 3)
    np.testing.assert_array_equal(Activation.view(hwc, True)[1], hwc[:, :, 1])
    assert Activation.view(hwc, False) is hwc


def test_fractions_broadcast():
    out = fractions([0.25, 0.5], (3, 2))
    assert out.dtype == object and out.shape == (3, 2) and out[2, 1] == Fraction(1, 2)
