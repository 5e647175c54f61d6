"""Hand-written convolution algorithms against tf.nn.conv2d; stochastic rounding."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from course import convolution as conv


def _reference(x, w, stride=1, padding=0):
    x = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    return tf.nn.conv2d(x.astype("float64"), w.astype("float64"), stride, "VALID").numpy()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("kernel, stride, padding", [(3, 1, 0), (3, 1, 1), (5, 2, 2), (11, 4, 2), (1, 1, 0)])
def test_im2col_matches_tf(rng, kernel, stride, padding):
    x = rng.normal(size=(2, 19, 17, 3))
    w = rng.normal(size=(kernel, kernel, 3, 4))
    np.testing.assert_allclose(conv.conv2d_im2col(x, w, stride, padding),
                               _reference(x, w, stride, padding), atol=1e-10)


def test_im2col_shape_is_the_unrolled_matrix(rng):
    cols = conv.im2col(rng.normal(size=(1, 227, 227, 3)), kernel=11, stride=4)
    assert cols.shape == (55 * 55, 11 * 11 * 3)


def test_fft_matches_tf(rng):
    x, w = rng.normal(size=(2, 16, 12, 3)), rng.normal(size=(5, 5, 3, 2))
    np.testing.assert_allclose(conv.conv2d_fft(x, w), _reference(x, w), atol=1e-9)


def test_winograd_matches_tf(rng):
    x, w = rng.normal(size=(2, 10, 8, 3)), rng.normal(size=(3, 3, 3, 4))
    np.testing.assert_allclose(conv.conv2d_winograd(x, w), _reference(x, w), atol=1e-9)
    with pytest.raises(ValueError, match="even"):
        conv.conv2d_winograd(rng.normal(size=(1, 9, 8, 1)), w[:, :, :1])
    counts = conv.multiplications(56, 56, 64, 64)
    assert counts["direct"] / counts["winograd"] == pytest.approx(2.25)


def test_stochastic_rounding_is_unbiased_and_lands_on_neighbours():
    x = np.full(20000, 1.0 + 2**-12)  # a quarter of the way between float16 neighbours
    rounded = conv.stochastic_round(x, np.float16, rng=0).astype(np.float64)
    assert set(np.unique(rounded)) == {1.0, 1.0 + 2**-10}
    assert rounded.mean() == pytest.approx(x[0], abs=3e-5)
    assert float(np.float16(x[0])) == 1.0  # round-to-nearest always loses the increment


def test_accumulation_stalls_with_nearest_but_not_stochastic():
    nearest = conv.accumulate(1e-4, 3000, "nearest")
    stochastic = conv.accumulate(1e-4, 3000, "stochastic")
    # float16 spacing at 0.25 is 2**-12 = 2.4e-4: adding 1e-4 rounds back to 0.25 for ever
    assert nearest[-1] == 0.25 and np.all(nearest[-500:] == 0.25)
    assert stochastic[-1] == pytest.approx(0.3, rel=0.1)


def test_defaults_are_stride_1_and_no_padding(rng):
    x, w = rng.normal(size=(2, 9, 7, 3)), rng.normal(size=(3, 3, 3, 2))
    np.testing.assert_allclose(conv.conv2d_im2col(x, w), _reference(x, w), atol=1e-10)
    patches = tf.image.extract_patches(x, sizes=[1, 3, 3, 1], strides=[1, 1, 1, 1],
                                       rates=[1, 1, 1, 1], padding="VALID")
    np.testing.assert_array_equal(conv.im2col(x, 3), np.asarray(patches).reshape(-1, 27))


@pytest.mark.parametrize("shape", [(2, 11, 9, 3), (1, 8, 13, 2)])
def test_fft_on_odd_sides(rng, shape):
    """An odd width: the inverse real FFT must be told it (it cannot tell 2m-1 from 2m-2)."""
    x, w = rng.normal(size=shape), rng.normal(size=(3, 3, shape[-1], 4))
    np.testing.assert_allclose(conv.conv2d_fft(x, w), _reference(x, w), atol=1e-9)


def test_winograd_on_a_wide_output(rng):
    x, w = rng.normal(size=(2, 8, 10, 3)), rng.normal(size=(3, 3, 3, 4))  # output 6 x 8
    np.testing.assert_allclose(conv.conv2d_winograd(x, w), _reference(x, w), atol=1e-9)


def test_fft_and_winograd_compute_in_float64_whatever_the_input(rng):
    """float32 images in, float64 arithmetic inside: as exact as TensorFlow's float64 conv of the
    same numbers (float32 arithmetic would be ~1e-6 off)."""
    x = rng.normal(size=(2, 10, 8, 3)).astype("float32")
    w = rng.normal(size=(3, 3, 3, 4)).astype("float32")
    reference = _reference(x.astype("float64"), w.astype("float64"))
    for computed in (conv.conv2d_fft(x, w), conv.conv2d_winograd(x, w)):
        assert computed.dtype == np.float64
        np.testing.assert_allclose(computed, reference, atol=1e-10)


def test_winograd_refuses_other_kernels_and_counts_only_3x3(rng):
    with pytest.raises(ValueError, match=r"needs 3x3 kernels, got \(5, 5\)\.$"):
        conv.conv2d_winograd(rng.normal(size=(1, 8, 8, 1)), rng.normal(size=(5, 5, 1, 1)))
    counts = conv.multiplications(14, 14, 8, 16, kernel=5)
    assert counts == {"direct": 14 * 14 * 8 * 16 * 25, "winograd": None}  # F(2x2,3x3) only
    # Lavin & Gray: 36 multiplications per 2x2 output tile directly, 16 with F(2x2, 3x3)
    assert conv.multiplications(2, 2, 1, 1) == {"direct": 36, "winograd": 16}


def test_stochastic_rounding_is_reproducible_and_keeps_its_dtype():
    x = np.linspace(1, 2, 1001)
    first = conv.stochastic_round(x, rng=7)
    assert first.dtype == np.float16
    np.testing.assert_array_equal(first, conv.stochastic_round(x, rng=7))
    assert not np.array_equal(first, conv.stochastic_round(x, rng=8))
    # numbers float16 holds exactly, integers included, come back unchanged
    exact = np.arange(-8, 9)
    np.testing.assert_array_equal(conv.stochastic_round(exact, rng=0), exact.astype(np.float16))
    history = conv.accumulate(1e-4, 500, "stochastic", seed=3)
    np.testing.assert_array_equal(history, conv.accumulate(1e-4, 500, "stochastic", seed=3))


def test_accumulation_rounds_to_nearest_by_default():
    # float16 numbers near 0.25 are 2**-12 apart: 1e-4 is under half of that, so the sum stalls
    assert np.spacing(np.float16(0.25)) == 2**-12 and 1e-4 < 2**-13
    assert conv.accumulate(1e-4, 3000)[-1] == 0.25
