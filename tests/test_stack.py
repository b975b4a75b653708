"""Bad input reaches the user as a typed, one-line error before any work is done."""

from __future__ import annotations

import numpy as np
import pytest

from napari_nsn2n import denoise
from napari_nsn2n.errors import InvalidStackError
from napari_nsn2n.stack import Normalizer, SliceLayout, check_stack

GOOD = np.random.default_rng(0).random((4, 16, 16)).astype(np.float32)


@pytest.mark.parametrize(
    ("data", "axis", "message"),
    [
        (GOOD[0], None, "2D image"),
        (GOOD[:1], None, "only 1 slice"),
        (np.where(GOOD > 0.99, np.nan, GOOD), None, "NaN or Inf"),
        (np.where(GOOD > 0.99, np.inf, GOOD), None, "NaN or Inf"),
        (np.full((4, 16, 16), 7.0), None, "constant"),
        (np.zeros((4, 16, 16, 3), np.uint8), None, "RGB"),
        (np.zeros((16, 16, 3), np.uint8), None, "RGB"),
        (np.random.rand(2, 3, 16, 16), None, "4D data .* needs a slice-axis choice"),
        (np.random.rand(2, 2, 2, 16, 16), None, "5D data"),
        (GOOD, 3, "not a slice axis"),
        (GOOD[None], 2, "not a slice axis"),
        (GOOD, "q", "unknown axis"),
        (np.random.rand(4, 4, 4), None, "too small"),
        (GOOD.astype(np.complex64), None, "unsupported data type"),
    ],
)
def test_bad_stacks_raise_typed_one_line_errors(data, axis, message):
    with pytest.raises(InvalidStackError, match=message) as info:
        check_stack(data, axis)
    assert "\n" not in str(info.value)


def test_denoise_refuses_bad_input_before_training():
    with pytest.raises(InvalidStackError):
        denoise(GOOD[0])


def test_normalizer_round_trip_and_cast():
    hu = np.array([[-1024, 0], [40, 3071]], dtype=np.int16)[None].repeat(2, 0)
    norm = Normalizer.fit(hu)
    scaled = norm.forward(hu)
    assert scaled.min() == 0 and scaled.max() == pytest.approx(1)
    np.testing.assert_allclose(norm.inverse(scaled), hu, atol=1e-3)
    back = norm.inverse(scaled + 10, cast=True)  # far out of range -> clipped to int16
    assert back.dtype == np.int16 and back.max() == 32767
    np.testing.assert_array_equal(norm.inverse(scaled, cast=True), hu)


def test_slice_layout_round_trip_for_every_axis():
    data = np.arange(2 * 3 * 8 * 9, dtype=np.float32).reshape(2, 3, 8, 9)
    layout = SliceLayout(data.shape, 1)
    slices = layout.to_slices(data)
    assert slices.shape == (6, 8, 9)
    np.testing.assert_array_equal(slices[4], data[1, 1])
    np.testing.assert_array_equal(layout.from_slices(slices), data)
    np.testing.assert_array_equal(layout.pair_starts(), [0, 1, 3, 4])
    three = SliceLayout((8, 5, 9), 1)
    cube = np.random.rand(8, 5, 9)
    np.testing.assert_array_equal(three.to_slices(cube)[2], cube[:, 2])
    np.testing.assert_array_equal(three.from_slices(three.to_slices(cube)), cube)
