"""lowering/image.py: image shapes, code order and per-channel scales of conv/pool inputs."""
import numpy as np
import pytest
from onnx import helper

from qonnx_c4ml.errors import UnsupportedModelError
from qonnx_c4ml.transformations.lowering.activation import Activation, make_activation
from qonnx_c4ml.transformations.lowering.image import channel_parameters, conv_attrs, image_shape

NODE = helper.make_node("Conv", ["x", "w"], ["y"], name="conv")


def test_image_shape_in_order_and_permuted():
    act = make_activation("c", (2, 3, 4), 0.5, 0.0, 0, 3)
    assert image_shape(act, NODE, False) == ((2, 3, 4), [])
    hwc = make_activation("c", (3, 4, 2), 0.5, 0.0, 0, 3)  # channels-last codes
    shape, in_index = image_shape(hwc, NODE, True)
    assert shape == (2, 3, 4) and in_index[:3] == [0, 2, 4]
    with pytest.raises(UnsupportedModelError, match=r"input of per-sample shape \(6,\) is not an image"):
        image_shape(make_activation("c", (6,), 0.5, 0.0, 0, 3), NODE, False)


def test_channel_parameters_per_channel_and_grouped():
    act = make_activation("c", (2, 2, 2), np.array([0.5, 0.25]).reshape(2, 1, 1), 0.0, 0, 3)
    assert [s for s, _ in channel_parameters(act, NODE, False, [])] == [0.5, 0.25]
    with pytest.raises(UnsupportedModelError, match="input channels summed together have different scales"):
        channel_parameters(act, NODE, False, [range(2)])
    varying = Activation(act.codes, act.index, act.scale.copy(), act.offset, act.scale_f32, act.offset_f32, 0, 3)
    varying.scale[0, 0, 1] = 1
    with pytest.raises(UnsupportedModelError, match="the input scale varies inside a channel"):
        channel_parameters(varying, NODE, False, [])


def test_conv_attrs_name_in_index_only_when_needed():
    assert "in_index" not in conv_attrs((1, 2, 2), [], [1, 1], [0] * 4, 1)
    assert conv_attrs((1, 2, 2), [3, 2, 1, 0], [1, 1], [0] * 4, 1)["in_index"] == [3, 2, 1, 0]
