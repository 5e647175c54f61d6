"""course.widgets: the arithmetic the explorers draw, checked against Keras' own layers and the
receptive fields of course.analysis; the explorers render offline."""
from __future__ import annotations

import base64
import itertools

import keras
import numpy as np
import pytest

from course import analysis, augment
from course import conv_arithmetic as ca
from course import widgets as W


def _keras_size(n, k, s, p, d=1):
    """Keras' own answer: ``padding="same"``, or a valid conv over the input padded by ``p``
    pixels per side (``"valid"``: none). Keras raises ValueError where nothing fits (3.13, the
    oldest Keras supported, raises only for a negative size and returns 0 for an empty one)."""
    if p == "same":
        return keras.layers.Conv2D(1, k, strides=s, dilation_rate=d,
                                   padding="same").compute_output_shape((None, n, n, 1))[1]
    pad = 0 if p == "valid" else p
    size = keras.layers.Conv2D(1, k, strides=s, dilation_rate=d).compute_output_shape(
        (None, n + 2 * pad, n + 2 * pad, 1))[1]
    if size < 1:
        raise ValueError(f"output size would be zero: {size}")
    return size


@pytest.mark.parametrize("padding", [0, 1, 2, "valid", "same"])
def test_output_size_matches_keras(padding):
    fits = refused = 0
    for n, k, s in itertools.product(range(3, 20), (1, 2, 3, 5, 7), (1, 2, 3, 4)):
        try:
            expected = _keras_size(n, k, s, padding)
        except ValueError:  # Keras: "output size would be zero or negative"
            with pytest.raises(ValueError, match="does not fit"):
                W.conv_output_size(n, k, s, padding)
            refused += 1
            continue
        assert W.conv_output_size(n, k, s, padding) == expected, (n, k, s, padding)
        fits += 1
    assert fits > 300
    assert refused > 0 if padding in (0, 1, "valid") else refused == 0


def test_output_size_matches_keras_with_dilation():
    checked = 0
    for n, k, s, p, d in itertools.product((6, 9, 16), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2, "same"),
                                           (1, 2, 3)):
        if s > 1 and d > 1:  # Keras refuses strides and dilation together
            continue
        pad = 0 if p == "same" else p
        if n + 2 * pad < W.effective_kernel(k, d):
            continue
        assert W.conv_output_size(n, k, s, p, d) == _keras_size(n, k, s, p, d), (n, k, s, p, d)
        checked += 1
    assert checked > 100


def _cells_keras_reads(n, k, s, p, d):
    """For each output (i, j): the input cells whose one-hot image reaches it through a Keras
    conv with an all-ones kernel (so which cells each output reads, padding placed by Keras)."""
    onehot = np.eye(n * n, dtype="float32").reshape(n * n, n, n, 1)
    conv = keras.layers.Conv2D(1, k, strides=s, dilation_rate=d, use_bias=False,
                               padding="same" if p == "same" else "valid",
                               kernel_initializer="ones")
    x = onehot if p == "same" else keras.layers.ZeroPadding2D(p)(onehot)
    out = np.asarray(conv(x))[..., 0]  # (n*n inputs, out, out)
    return {(i, j): {divmod(int(c), n) for c in np.flatnonzero(out[:, i, j])}
            for i in range(out.shape[1]) for j in range(out.shape[2])}


@pytest.mark.parametrize("n,k,s,p,d", [(7, 3, 1, 0, 1), (7, 3, 2, 1, 1), (8, 3, 2, "same", 1),
                                       (7, 5, 3, 2, 1), (9, 3, 1, 0, 2), (9, 3, 1, "same", 2),
                                       (6, 2, 2, "same", 1), (7, 4, 1, "same", 1), (5, 1, 2, 0, 1)])
def test_cells_one_output_sees_match_a_keras_convolution(n, k, s, p, d):
    g = W.ConvGeometry(n=n, kernel=k, stride=s, padding=p, dilation=d)
    reads = _cells_keras_reads(n, k, s, p, d)
    assert len(reads) == g.output ** 2
    for (i, j), cells in reads.items():
        seen = g.seen(i, j)
        assert len(seen) == k * k
        inside = {(r, c) for r, c in seen if 0 <= r < n and 0 <= c < n}
        assert inside == cells, (i, j)
        assert all(-g.pads[0] <= r < n + g.pads[1] for r, _ in seen)  # padding cells exist


def test_parameters_match_keras():
    g = W.ConvGeometry(n=9, kernel=5, c_in=3, c_out=6)
    layer = keras.layers.Conv2D(6, 5)
    layer.build((None, 9, 9, 3))
    assert g.parameters == layer.count_params() == 456


STACKS = [
    [(3, 1, 0, 1)] * 3,                                   # VGG: three 3x3 = 7x7
    [(3, 1, 1, 1), (2, 2, 0, 1)] * 3,                     # conv + 2x2/2 pool, three times
    [(7, 2, 3, 1), (3, 2, 1, 1), (3, 1, 1, 1), (3, 2, 0, 1)],  # ResNet-like stem
    [(3, 1, 0, 2), (3, 1, 0, 4)],                         # dilated (WaveNet-style) growth
    [(11, 4, 0, 1), (3, 2, 0, 1), (5, 1, 2, 1)],          # AlexNet's first layers
]


def _model(stack, size=64):
    x = inputs = keras.Input((size, size, 1))
    for i, (k, s, p, d) in enumerate(stack):
        if p:
            x = keras.layers.ZeroPadding2D(p, name=f"pad{i}")(x)
        if k == 2 and s == 2:
            x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
        else:
            x = keras.layers.Conv2D(1, k, strides=s, dilation_rate=d, name=f"conv{i}")(x)
    return keras.Model(inputs, x)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_span_matches_analysis_receptive_field(stack):
    field = analysis.receptive_field(_model(stack))[-1]
    for index in (0, 1, 3):
        low, high = W.stack_input_span(stack, index)
        assert high - low + 1 == field.size
        assert low == field.start + index * field.jump - field.size / 2
    if all(d == 1 for *_, d in stack):
        assert field.size == ca.stacked_receptive_field([k for k, *_ in stack],
                                                        [s for _, s, *_ in stack])


def test_input_cells_same_padding_needs_the_size():
    with pytest.raises(ValueError, match="pass n="):
        W.input_cells(0, 3, padding="same")
    assert W.input_cells(0, 3, padding="same", n=5) == [-1, 0, 1]
    assert W.padding_amounts(6, 2, 2, "same") == (0, 0)
    assert W.padding_amounts(7, 4, 1, "same") == (1, 2)  # TensorFlow puts the odd pixel after


def _png_of(explorer):
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # live in Jupyter
    png = base64.b64decode(bundle["image/png"])                  # static everywhere else
    assert png.startswith(b"\x89PNG") and len(png) > 2000
    return bundle["text/plain"]


def test_conv_explorer_renders_and_follows_its_sliders():
    e = W.conv_explorer(n=7, kernel=3, stride=2, padding=1, c_in=3, c_out=16)
    assert "-> 4x4 output" in _png_of(e) and "448 parameters" in e.label.value
    e.controls["dilation"].value = 2
    assert "-> 3x3 output" in e.label.value
    e.controls["kernel"].value = 7
    e.controls["padding"].value = 0
    assert "does not fit" in e.label.value  # an error message, not an exception
    assert "does not fit" in e._repr_mimebundle_()["text/plain"]


def test_feature_map_explorer_on_a_model():
    from course import models

    model = models.create("mnist_two_layer_cnn")
    names = W.feature_map_layers(model)
    assert names[0] != "image" and {"conv1", "relu1", "pool2"} <= set(names)
    assert "features" not in names and "logits" not in names
    images = np.random.default_rng(0).uniform(0, 255, (4, 28, 28, 1)).astype("float32")
    e = W.feature_map_explorer(model, images)
    assert e.values == {"layer": "conv1", "image": 0}
    assert "conv1" in _png_of(e)
    e.controls["layer"].value = "pool2"
    e.controls["image"].value = 3
    assert "pool2" in e.label.value
    with pytest.raises(ValueError, match="Choose one of"):
        W.feature_map_explorer(model, images, layer="logits")


def test_augmentation_names_are_the_course_vocabulary():
    assert W.augmentation_names() == ()
    names = W.augmentation_names(pad=4, crop=24, flip=True, brightness=63, contrast=0.8,
                                 pca_color=0.1)
    assert names == ("pad_crop:4", "crop:24", "flip", "brightness:63", "contrast:0.8",
                     "pca_color:0.1")
    assert [augment.parse(n)[0] for n in names] == ["pad_crop", "crop", "flip", "brightness",
                                                    "contrast", "pca_color"]


def test_augmented_views():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    same = W.augmented_views(images, (), views=3)
    assert same.shape == (2, 3, 16, 16, 3) and np.allclose(same, images[:, None])
    flipped = W.augmented_views(images, ("flip",), views=6, seed=1)
    for i in range(2):
        for view in flipped[i]:
            assert np.allclose(view, images[i]) or np.allclose(view, images[i][:, ::-1])
    cropped = W.augmented_views(images, ("crop:12",), views=2)
    assert cropped.shape == (2, 2, 16, 16, 3) and (cropped[:, :, :2] == 0).all()  # padded back
    mid = rng.uniform(80, 170, (2, 16, 16, 3)).astype("float32")  # no clipping below
    colour = W.augmented_views(mid, ("pca_color:1",), views=4, fit_images=mid)
    shift = (colour - mid[:, None]).reshape(2, 4, -1, 3)  # (image, view, pixel, RGB)
    assert np.abs(shift).max() > 1                       # the colour moved,
    assert np.allclose(shift.std(axis=2), 0, atol=1e-3)  # by one RGB offset per view


def test_augmentation_explorer_renders():
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("uint8")
    e = W.augmentation_explorer(images, pad=2, brightness=20, pca_color=0.5, views=3)
    assert "pad_crop:2" in _png_of(e)
    e.controls["crop"].value = 12
    assert "crop:12" in e.label.value
