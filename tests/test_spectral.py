"""Spectral pooling and DiffStride (course/layers/spectral.py) and the learned-strides models."""
import math

import keras
import numpy as np
import pytest

import course  # noqa: F401  (registers the layers for loading)
from course.callbacks import StrideHistory
from course.gradients import layer_gradients, value_and_grad
from course.layers.spectral import DiffStride, SpectralPooling, diffstride_layers
from course.models import create


def numpy_spectral_pool(x, out_h, out_w):
    """Reference: fftshift the 2-D DFT, crop the centred block, ifftshift, ifft, real part.

    Scaled by (out_h * out_w) / (h * w) so amplitudes are preserved (constant stays constant).
    """
    _, h, w, _ = x.shape
    spec = np.fft.fftshift(np.fft.fft2(x.astype(np.float64), axes=(1, 2)), axes=(1, 2))
    top, left = h // 2 - out_h // 2, w // 2 - out_w // 2
    spec = spec[:, top:top + out_h, left:left + out_w]
    out = np.fft.ifft2(np.fft.ifftshift(spec, axes=(1, 2)), axes=(1, 2)).real
    return out * (out_h * out_w) / (h * w)


def cosines(h, w, freqs, channels=2):
    """Sum of 2-D cosines with integer frequencies ``(fy, fx, phase)`` on an ``h x w`` grid."""
    yy, xx = np.meshgrid(np.arange(h) / h, np.arange(w) / w, indexing="ij")
    img = sum(np.cos(2 * np.pi * (fy * yy + fx * xx) + ph) for fy, fx, ph in freqs)
    return np.repeat(img[None, :, :, None], channels, axis=-1).astype("float32")


LOW = [(0, 0, 0.0), (1, 0, 0.3), (0, 2, 1.0), (2, -3, -0.5), (-1, 1, 2.0)]  # |f| <= 3


@pytest.mark.parametrize("in_hw,out_hw", [((32, 32), (16, 16)), ((32, 32), (15, 15)),
                                          ((31, 31), (16, 16)), ((17, 24), (9, 7)),
                                          ((8, 8), (8, 8))])
def test_spectral_pooling_matches_numpy(in_hw, out_hw):
    x = np.random.default_rng(0).normal(size=(2, *in_hw, 3)).astype("float32")
    y = SpectralPooling(out_hw)(x)
    assert tuple(y.shape) == (2, *out_hw, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(y), numpy_spectral_pool(x, *out_hw),
                               atol=2e-5)


def test_spectral_pooling_preserves_band_limited_image():
    x = cosines(32, 32, LOW)
    for m in (16, 9, 8):  # every |f| <= 3 < m/2: the image is resampled exactly
        y = keras.ops.convert_to_numpy(SpectralPooling(m)(x))
        np.testing.assert_allclose(y, cosines(m, m, LOW), atol=1e-4)
    # a cosine above the new Nyquist frequency is removed, not aliased
    high = cosines(32, 32, [(0, 0, 0.0), (6, 0, 0.0)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(SpectralPooling(8)(high)), 1.0,
                               atol=1e-5)


def test_spectral_pooling_dtype_gradient_and_errors():
    x = np.random.default_rng(1).normal(size=(2, 12, 12, 3)).astype("float32")
    assert keras.ops.convert_to_numpy(SpectralPooling(6)(x)).dtype == np.float32
    half = SpectralPooling(6, dtype="float16")(x.astype("float16"))
    assert keras.backend.standardize_dtype(half.dtype) == "float16"
    # the layer is linear: its gradient is the adjoint, <A x, r> == <x, A^T r>
    r = np.random.default_rng(2).normal(size=(2, 6, 6, 3)).astype("float32")
    inner, (grad,) = value_and_grad(lambda t: keras.ops.sum(SpectralPooling(6)(t) * r), x)
    assert np.abs(grad).max() > 0
    np.testing.assert_allclose(np.sum(x * grad), float(inner), rtol=1e-4)
    with pytest.raises(ValueError, match="only downsamples"):
        SpectralPooling(16)(x)


@pytest.mark.parametrize("n", [32, 31, 17])
def test_diffstride_output_size_is_ceil(n):
    x = np.random.default_rng(0).normal(size=(1, n, n, 2)).astype("float32")
    layer = DiffStride()
    layer(x)
    for s in (1.0, 1.3, 2.0, 2.5, 3.0, 4.0, 7.9):
        layer.stride.assign(s)
        assert tuple(layer(x).shape) == (1, math.ceil(n / s), math.ceil(n / s), 2), s
    assert layer.compute_output_shape((None, n, n, 2)) == (None, None, None, 2)


def test_diffstride_stride_is_clipped_to_valid_range():
    x = np.random.default_rng(0).normal(size=(1, 12, 10, 2)).astype("float32")
    layer = DiffStride()
    layer(x)
    layer.stride.assign(0.3)
    assert tuple(layer(x).shape) == (1, 12, 10, 2)
    assert float(layer.clipped_stride(12)) == 1.0
    layer.stride.assign(100.0)
    assert tuple(layer(x).shape) == (1, 1, 1, 2)
    assert float(layer.clipped_stride(12)) == 12.0
    with pytest.raises(ValueError, match="init_stride"):
        DiffStride(init_stride=0.5)


def test_diffstride_stride_one_is_identity_on_band_limited_input():
    x = cosines(24, 24, LOW)  # |f| <= 3, well below Nyquist 12 minus the ramp
    layer = DiffStride(init_stride=1.0, smoothness=4.0)
    y = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(y, x, atol=1e-4)
    # and at stride 2 it resamples the same image exactly (|f| <= 3 < 24/4 - 4/2)
    layer.stride.assign(2.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), cosines(12, 12, LOW),
                               atol=1e-4)


def test_diffstride_stride_gradient_matches_finite_difference():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    layer = DiffStride(init_stride=2.3)  # ceil(32/2.3) = 14 for 2.3 +- 0.01
    layer(x)
    r = rng.normal(size=(2, 14, 14, 3)).astype("float32")

    def loss():
        return float(keras.ops.sum(layer(x) * r))

    grad = float(layer_gradients(layer, x, r)[1])  # [d/dx, d/dstride]
    assert abs(grad) > 1e-3
    eps = 1e-2
    layer.stride.assign(2.3 + eps)
    up = float(loss())
    layer.stride.assign(2.3 - eps)
    down = float(loss())
    np.testing.assert_allclose(grad, (up - down) / (2 * eps), rtol=2e-2)


def test_diffstride_save_load_round_trip(tmp_path):
    inputs = keras.Input((16, 16, 3))
    x = DiffStride(init_stride=1.7, smoothness=3.0, name="ds")(inputs)
    x = SpectralPooling(4, name="sp")(keras.layers.Conv2D(4, 3, padding="same")(x))
    outputs = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    model.get_layer("ds").stride.assign(2.6)
    images = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    layer = loaded.get_layer("ds")
    assert isinstance(layer, DiffStride) and isinstance(loaded.get_layer("sp"), SpectralPooling)
    assert layer.smoothness == 3.0 and layer.init_stride == 1.7
    assert float(layer.stride) == pytest.approx(2.6)
    np.testing.assert_allclose(loaded(images), model(images), atol=1e-5)


def test_models_parameters_and_matching_shapes():
    strided, learned = create("cifar_strided"), create("cifar_diffstride")
    assert strided.count_params() == 289_642
    assert learned.count_params() == 289_644
    assert [layer.name for layer in diffstride_layers(learned)] == [
        "stage2_diffstride", "stage3_diffstride"]
    assert strided.layers[1].name == "scale" and learned.layers[-1].name == "logits"
    # at the initial stride 2 both networks see the same feature-map sizes
    images = np.zeros((1, 32, 32, 3), "float32")
    for name in ("stage2_conv2_relu", "stage3_conv2_relu"):
        a = keras.Model(strided.input, strided.get_layer(name).output)(images).shape
        b = keras.Model(learned.input, learned.get_layer(name).output)(images).shape
        assert tuple(a) == tuple(b)
    assert tuple(b) == (1, 8, 8, 128)


@pytest.mark.skipif(keras.backend.backend() == "jax",
                    reason="DiffStride changes its output size while training; JAX's compiled "
                           "steps need static shapes")
def test_strides_learn_in_fit_and_are_recorded():
    keras.utils.set_random_seed(0)
    model = create("cifar_diffstride", widths=(4, 8, 8))
    model.compile(keras.optimizers.Adam(0.05),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(16, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=16)
    history = StrideHistory()
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[history])
    assert history.steps == [0, 1, 2, 3, 4]
    for name in ("stage2_diffstride", "stage3_diffstride"):
        values = history.strides[name]
        assert values[0] == 2.0 and len(values) == 5
        assert values[-1] != 2.0  # the stride received a nonzero gradient in graph mode
