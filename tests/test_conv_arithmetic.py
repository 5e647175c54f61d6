"""Convolution arithmetic against Keras' own layers."""
from __future__ import annotations

import keras
import numpy as np
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


# --- Keras as the reference of every default and edge the lecture's formulas leave open --------

def _keras_out(n, k, s=1, padding="valid", d=1):
    return keras.layers.Conv1D(1, k, strides=s, padding=padding, dilation_rate=d) \
        .compute_output_shape((None, n, 1))[1]


def _keras_padding(n, k, s, padding, d=1):
    """``(before, after)``: the fewest zeros around a random signal that make a 'valid'
    convolution equal Keras' ``padding`` one, value for value (the odd pixel's side included)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, n, 1)).astype("float32")
    w = rng.normal(size=(k, 1, 1)).astype("float32")
    target = np.asarray(keras.ops.conv(x, w, s, padding, dilation_rate=d))
    for total in range(d * k + 1):
        for before in range(total + 1):
            padded = np.pad(x, ((0, 0), (before, total - before), (0, 0)))
            if padded.shape[1] < ca.effective_kernel(k, d):
                continue
            valid = np.asarray(keras.ops.conv(padded, w, s, "valid", dilation_rate=d))
            if valid.shape == target.shape and np.allclose(valid, target, atol=1e-5):
                return before, total - before
    raise AssertionError(f"no padding reproduces Keras' {padding!r} for {(n, k, s, d)}")


def _keras_reads(n, layers):
    """For each output of a stack of Keras Conv1D layers (all-ones kernels), the input cells
    (0 to n-1) that reach it: one-hot inputs through the stack. ``layers``: (k, s, p, d)."""
    x = np.eye(n, dtype="float32")[..., None]  # n one-hot signals, (n, n, 1)
    for k, s, p, d in layers:
        if p:
            x = keras.layers.ZeroPadding1D(p)(x)
        x = keras.layers.Conv1D(1, k, strides=s, dilation_rate=d, use_bias=False,
                                kernel_initializer="ones")(x)
    out = np.asarray(x)[..., 0]  # (n inputs, outputs)
    return [set(np.flatnonzero(out[:, i]).tolist()) for i in range(out.shape[1])]


def test_defaults_are_keras_defaults():
    """No stride, padding or dilation given: Keras' Conv1D/Conv2D defaults (1, 'valid', 1)."""
    for n, k in [(32, 5), (9, 3), (7, 1), (8, 2)]:
        assert ca.output_size(n, k) == ca.conv_output_size(n, k) == _keras_out(n, k)
        assert ca.padding_amounts(n, k) == (0, 0)
        assert ca.padding_amounts(n, k, padding="same") == _keras_padding(n, k, 1, "same")
        reads = _keras_reads(n, [(k, 1, 0, 1)])
        for i, cells in enumerate(reads):
            assert set(ca.input_cells(i, k)) == cells
        assert ca.stack_input_span([(k, 1, 0, 1), (3, 1, 0, 1)]) == (0, k + 1)
        assert set(range(k + 2)) == _keras_reads(n + 2, [(k, 1, 0, 1), (3, 1, 0, 1)])[0]
    for k in (1, 2, 3, 5):
        assert ca.effective_kernel(k) == 20 + 1 - _keras_out(20, k)


@pytest.mark.parametrize("k, d", [(1, 3), (2, 2), (3, 2), (3, 4), (5, 3)])
def test_effective_kernel_is_what_a_dilated_keras_conv_spans(k, d):
    assert ca.effective_kernel(k, d) == 20 + 1 - _keras_out(20, k, d=d)  # valid: n - span + 1


@pytest.mark.parametrize("n, k, s, d", [(7, 3, 1, 1), (7, 3, 2, 1), (8, 3, 2, 1), (7, 4, 1, 1),
                                        (6, 2, 2, 1), (9, 3, 1, 2), (10, 5, 3, 1), (5, 1, 2, 1)])
def test_padding_amounts_are_keras_padding(n, k, s, d):
    for padding in ("same", "valid"):
        assert ca.padding_amounts(n, k, s, padding, d) == _keras_padding(n, k, s, padding, d)
    assert ca.padding_amounts(n, k, s, 2, d) == (2, 2)


@pytest.mark.parametrize("n, k, s", [(7, 3, 2), (8, 3, 2), (7, 4, 1), (10, 5, 3)])
def test_input_cells_with_same_padding_are_what_keras_reads(n, k, s):
    same = keras.layers.Conv1D(1, k, strides=s, padding="same", use_bias=False,
                               kernel_initializer="ones")
    out = np.asarray(same(np.eye(n, dtype="float32")[..., None]))[..., 0]
    for i in range(out.shape[1]):
        cells = ca.input_cells(i, k, s, "same", n=n)
        assert {c for c in cells if 0 <= c < n} == set(np.flatnonzero(out[:, i]).tolist())
        assert len(cells) == k


def test_parameters_without_bias_match_keras():
    conv = keras.layers.Conv2D(16, 3, use_bias=False)
    conv.build((None, 8, 8, 4))
    assert ca.conv_parameters(3, 4, 16, bias=False) == conv.count_params() == 576
    dense = keras.layers.Dense(10, use_bias=False)
    dense.build((None, 84))
    assert ca.dense_parameters(84, 10, bias=False) == dense.count_params() == 840


def test_refusals_name_the_numbers_given():
    with pytest.raises(ValueError, match=r"7x7 window with stride 1 and padding 1 does not fit "
                                         r"in 3 pixels"):
        ca.conv_output_size(3, 7, 1, 1)
    with pytest.raises(ValueError, match=r"^padding='same' depends on the input size: pass n="):
        ca.input_cells(0, 3, padding="same")
