"""Convolution arithmetic against Keras' own layers."""
from __future__ import annotations

import keras
import pytest

from course import conv_arithmetic as ca


@pytest.mark.parametrize("n, k, s, padding", [
    (32, 5, 1, "valid"), (32, 5, 1, "same"), (227, 11, 4, "valid"), (28, 2, 2, "valid"),
    (13, 3, 2, "valid"), (7, 3, 2, "same"), (224, 7, 2, "same"), (56, 1, 1, "valid"),
])
def test_output_size_matches_keras(n, k, s, padding):
    layer = keras.layers.Conv2D(1, k, strides=s, padding=padding)
    expected = layer.compute_output_shape((None, n, n, 3))[1]
    assert ca.output_size(n, k, s, padding) == expected


def test_explicit_padding_and_impossible_windows():
    assert ca.output_size(224, 11, 4, padding=2) == 55
    assert ca.output_size(227, 11, 4, padding=2) == 56  # the lecture's AlexNet table
    with pytest.raises(ValueError, match="does not fit"):
        ca.output_size(3, 5)


def test_parameters_match_keras():
    layer = keras.layers.Conv2D(6, 5)
    layer.build((None, 32, 32, 3))
    assert ca.conv_parameters(5, 3, 6) == layer.count_params() == 456  # the lecture's example
    grouped = keras.layers.Conv2D(256, 5, groups=2)
    grouped.build((None, 27, 27, 96))
    assert ca.conv_parameters(5, 96, 256, groups=2) == grouped.count_params()
    assert ca.dense_parameters(32 * 32 * 3, 28 * 28 * 6) == 14_455_392  # "~14M"


def test_receptive_fields():
    assert ca.stacked_receptive_field([3, 3]) == 5
    assert ca.stacked_receptive_field([3, 3, 3]) == 7
    assert ca.stacked_receptive_field([5, 2, 5, 2], [1, 2, 1, 2]) == 16  # the MNIST net
    assert ca.conv_multiply_adds(11, 3, 64, 56, 56) == 72_855_552  # AlexNet conv1, lecture table
