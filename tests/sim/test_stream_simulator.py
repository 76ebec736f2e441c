"""sim/stream_simulator.py without a build: frames become raster-order pixels, channel by channel,
and a StreamSimulator names a wrong top before it builds anything."""
import numpy as np
import pytest

from qonnx_c4ml.sim.stream_simulator import StreamSimulator, frames_to_pixels


def test_frames_to_pixels_is_raster_order_channels_per_pixel():
    c, h, w = 2, 2, 3
    frames = np.arange(2 * c * h * w).reshape(2, c * h * w)  # channels first
    pixels = frames_to_pixels(frames, (c, h, w))
    assert pixels.shape == (2 * h * w, c)
    # frame 0, pixel (0, 0): channel 0 is element 0, channel 1 element h*w
    assert pixels[0].tolist() == [0, 6] and pixels[1].tolist() == [1, 7]
    assert pixels[5].tolist() == [5, 11] and pixels[6].tolist() == [12, 18]  # frame 1 starts
    back = pixels.reshape(2, h, w, c).transpose(0, 3, 1, 2).reshape(2, -1)
    assert np.array_equal(back, frames)


def test_unknown_top_is_refused_before_building():
    with pytest.raises(ValueError, match="top must be 'frame' or 'stream'"):
        StreamSimulator({}, top="tail")
