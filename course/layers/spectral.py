"""Downsampling in the Fourier domain: spectral pooling and DiffStride (learned strides).

- ``SpectralPooling`` (Rippel, Snoek & Adams, *Spectral Representations for Convolutional Neural
  Networks*, NeurIPS 2015): take the 2-D DFT of every channel, keep the centred low-frequency
  ``output_size`` block, invert. Natural images put most of their energy in low frequencies
  ("energy compaction"), so this keeps more of the signal than max pooling at the same size, and
  any output size is possible (not just ``input / 2``).
- ``DiffStride`` (Riad, Teboul, Grangier & Zeghidour, *Learning Strides in Convolutional Neural
  Networks*, ICLR 2022): the same crop, but the box is soft (a linear ramp of width
  ``smoothness`` frequency bins) and its cut-off ``n / (2 * stride)`` depends on a *trainable*
  stride, so the loss gradient reaches the stride through the ramp.

Conventions shared by both layers (NHWC, real inputs):

- Amplitude is preserved: the result is ``ifft2(crop(fft2(x))) * (h_out * w_out) / (h * w)``,
  so a constant image stays the same constant and a band-limited image (all frequencies inside
  the kept block) is reproduced exactly, sampled on the coarser grid.
- The kept signed frequencies along an axis of output length ``m`` are
  ``-(m // 2) ... ceil(m / 2) - 1`` (``np.fft.fftshift`` order, centred crop). For even ``m`` the
  lone ``-m/2`` bin has no conjugate partner, so the inverse transform is complex; we keep its
  real part (what a real-to-real resampler does, and what the NumPy reference does).
- ``DiffStride`` output size along an axis of length ``n`` is ``ceil(n / s)`` with ``s`` the
  current stride clipped to ``[1, n]``. This differs slightly from the authors' code, which
  crops to the support of the ramp (``n / s`` plus up to ``2 * smoothness`` extra bins); here
  the ramp is centred on the cut-off (mask 1/2 at ``|k| = n / (2 s)``), so the output size is
  exactly ``ceil(n / s)`` and the stride still gets a gradient.

Dynamic shapes: ``DiffStride``'s output size changes while training, so its
``compute_output_shape`` returns ``None`` spatial dimensions and a model using it must reduce
space with a global pooling layer before any layer that needs a static size (``Flatten`` +
``Dense`` would not build). It works in TensorFlow graph mode (``keras.ops.shape`` returns
tensors for unknown dimensions); ``supports_jit = False`` keeps Keras from XLA-compiling it on a
GPU, since XLA needs static shapes.
"""
from __future__ import annotations

import keras
from keras import ops

from course.layers.walk import layers_of_type


def _kept_frequencies(n, m):
    """Indices (into an ``n``-point DFT) and signed frequencies of the centred ``m``-bin block.

    ``n`` and ``m`` may be Python ints or scalar integer tensors (dynamic shapes, TF backend).
    """
    pos = ops.arange(0, (m + 1) // 2, dtype="int32")  # 0 ... ceil(m/2)-1
    neg = ops.arange(0, m // 2, dtype="int32") - (m // 2)  # -(m//2) ... -1
    freqs = ops.concatenate([pos, neg], axis=0)
    index = ops.where(freqs < 0, freqs + n, freqs)
    return index, freqs


def _spectral_crop(x, out_h, out_w, mask_fn=None):
    """Crop the centred ``out_h x out_w`` block of the per-channel 2-D DFT of NHWC ``x``, invert.

    ``mask_fn(freqs_h, freqs_w)`` (optional) returns real ``(out_h, 1)`` and ``(1, out_w)``
    factors that multiply the kept spectrum (DiffStride's soft box).
    """
    dtype = x.dtype
    h, w = ops.shape(x)[1], ops.shape(x)[2]
    x = ops.transpose(ops.cast(x, "float32"), (0, 3, 1, 2))  # fft2 works on the last two axes
    real, imag = ops.fft2((x, ops.zeros_like(x)))
    index_h, freqs_h = _kept_frequencies(h, out_h)
    index_w, freqs_w = _kept_frequencies(w, out_w)
    real = ops.take(ops.take(real, index_h, axis=2), index_w, axis=3)
    imag = ops.take(ops.take(imag, index_h, axis=2), index_w, axis=3)
    if mask_fn is not None:
        mask_h, mask_w = mask_fn(freqs_h, freqs_w)
        mask = mask_h * mask_w  # (out_h, out_w), separable like the paper's mask
        real, imag = real * mask, imag * mask
    out, _ = ops.ifft2((real, imag))  # real part; ifft2 divides by out_h * out_w
    scale = ops.cast(out_h * out_w, "float32") / ops.cast(h * w, "float32")
    return ops.cast(ops.transpose(out * scale, (0, 2, 3, 1)), dtype)


@keras.saving.register_keras_serializable(package="course")
class SpectralPooling(keras.layers.Layer):
    """Spectral pooling (Rippel et al. 2015): keep the low-frequency ``output_size`` DFT block.

    ``output_size`` is an int or ``(height, width)``; each must be at most the input size.
    No parameters. Amplitude-preserving (see the module docstring).
    """

    def __init__(self, output_size, **kwargs):
        super().__init__(**kwargs)
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        self.output_size = tuple(int(s) for s in output_size)
        if len(self.output_size) != 2 or min(self.output_size) < 1:
            raise ValueError(f"SpectralPooling output_size must be a positive int or "
                             f"(height, width); got {output_size!r}.")

    def build(self, input_shape):
        for dim, size, axis in zip(input_shape[1:3], self.output_size, ("height", "width")):
            if dim is not None and size > dim:
                raise ValueError(f"SpectralPooling output {axis} {size} is larger than the "
                                 f"input {axis} {dim}; spectral pooling only downsamples.")

    def call(self, x):
        return _spectral_crop(x, *self.output_size)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.output_size, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size}


@keras.saving.register_keras_serializable(package="course")
class DiffStride(keras.layers.Layer):
    """DiffStride (Riad et al. 2022): spectral downsampling with a learnable stride.

    One trainable scalar ``stride`` per layer (shared by height and width), initialised to
    ``init_stride`` and clipped to ``[1, n]`` for an axis of length ``n`` in the forward pass.
    Along each axis the output keeps ``ceil(n / s)`` centred frequencies and multiplies them by
    the soft box ``clip((n / (2 s) + R/2 - |k|) / R, 0, 1)`` with ``R = smoothness``: 1 well
    below the cut-off ``n / (2 s)``, 1/2 at it. The crop size is a step function of ``s`` (no
    gradient, as in the paper); the ramp carries the gradient to ``s``.

    The output spatial size depends on the current stride: ``compute_output_shape`` returns
    ``None`` for height and width, so end the model with global pooling.
    """

    def __init__(self, init_stride=2.0, smoothness=4.0, trainable_stride=True, **kwargs):
        super().__init__(**kwargs)
        self.init_stride = float(init_stride)
        self.smoothness = float(smoothness)
        self.trainable_stride = bool(trainable_stride)
        if self.init_stride < 1.0:
            raise ValueError(f"DiffStride init_stride must be >= 1 (1 keeps the size); "
                             f"got {init_stride}.")
        if self.smoothness <= 0:
            raise ValueError(f"DiffStride smoothness (ramp width in frequency bins) must be > 0; "
                             f"got {smoothness}.")
        self.supports_jit = False  # dynamic output shapes; XLA needs static ones

    def build(self, input_shape):
        self.stride = self.add_weight(
            name="stride", shape=(), initializer=keras.initializers.Constant(self.init_stride),
            trainable=self.trainable_stride)

    def clipped_stride(self, n):
        """The stride used for an axis of length ``n``: the variable clipped to ``[1, n]``."""
        return ops.clip(ops.cast(self.stride, "float32"), 1.0, ops.cast(n, "float32"))

    def output_length(self, n):
        """``ceil(n / s)`` for the current stride (an int tensor; no gradient)."""
        s = ops.stop_gradient(self.clipped_stride(n))
        m = ops.ceil(ops.cast(n, "float32") / s)
        return ops.cast(ops.clip(m, 1.0, ops.cast(n, "float32")), "int32")

    def call(self, x):
        h, w = ops.shape(x)[1], ops.shape(x)[2]
        r = self.smoothness

        def soft_box(n, freqs):
            cutoff = ops.cast(n, "float32") / (2.0 * self.clipped_stride(n))
            k = ops.abs(ops.cast(freqs, "float32"))
            return ops.clip((cutoff + r / 2.0 - k) / r, 0.0, 1.0)

        def mask_fn(freqs_h, freqs_w):
            return (ops.expand_dims(soft_box(h, freqs_h), 1),
                    ops.expand_dims(soft_box(w, freqs_w), 0))

        return _spectral_crop(x, self.output_length(h), self.output_length(w), mask_fn)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, None, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "init_stride": self.init_stride,
                "smoothness": self.smoothness, "trainable_stride": self.trainable_stride}


def diffstride_layers(model) -> list:
    """The ``DiffStride`` layers of ``model`` (nested models included), in order."""
    return layers_of_type(model, DiffStride)


def spectral_energy_fraction(images, size: int) -> float:
    """Mean fraction of the DFT energy (Parseval) that lies in the centred ``size x size`` block.

    ``images`` is NHWC (or NHW); the energy of each image and channel is ``sum |X[k]|^2``. This
    is what spectral pooling to ``size`` keeps, the "energy compaction" of Rippel et al. (2015).
    """
    import numpy as np

    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 3:
        x = x[..., None]
    power = np.abs(np.fft.fftshift(np.fft.fft2(x, axes=(1, 2)), axes=(1, 2))) ** 2
    h, w = x.shape[1:3]
    top, left = h // 2 - size // 2, w // 2 - size // 2
    kept = power[:, top:top + size, left:left + size].sum(axis=(1, 2))
    return float(np.mean(kept / power.sum(axis=(1, 2))))
