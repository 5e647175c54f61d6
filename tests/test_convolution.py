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
