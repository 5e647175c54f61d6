"""How convolutions are computed: im2col + matrix multiply, FFT, Winograd; low precision.

Teaching implementations in NumPy (NHWC images, square HWIO kernels, cross-correlation like every
deep learning library), each tested against ``tf.nn.conv2d``:

- ``conv2d_im2col``: unroll patches into a matrix, one GEMM (Chellapilla et al. 2006; cuDNN).
- ``conv2d_fft``: pointwise products in the frequency domain (Mathieu et al. 2014).
- ``conv2d_winograd``: F(2x2, 3x3) minimal filtering, 16 multiplies per 2x2 output tile
  instead of 36 (Lavin & Gray 2016).
- ``stochastic_round``: round to a neighbouring float16 with probability given by the distance,
  unbiased on average (Gupta et al. 2015, *Deep Learning with Limited Numerical Precision*).
"""
from __future__ import annotations

import numpy as np


def _pad(x, padding):
    return np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0))) if padding else x


def im2col(x, kernel: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Patches of ``x`` (N, H, W, C) as rows: shape (N * H' * W', kernel * kernel * C).

    Each row is one receptive field flattened in (kh, kw, c) order, matching an HWIO kernel
    reshaped to (kernel * kernel * C, C_out).
    """
    x = _pad(np.asarray(x), padding)
    n, h, w, c = x.shape
    h_out, w_out = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    windows = np.lib.stride_tricks.sliding_window_view(x, (kernel, kernel), axis=(1, 2))
    windows = windows[:, ::stride, ::stride][:, :h_out, :w_out]  # (N, H', W', C, kh, kw)
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(n * h_out * w_out, kernel * kernel * c)


def conv2d_im2col(x, w, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Convolution as one matrix product: ``im2col(x) @ w.reshape(k*k*C_in, C_out)``."""
    x, w = np.asarray(x), np.asarray(w)
    kernel, _, c_in, c_out = w.shape
    cols = im2col(x, kernel, stride, padding)
    n, h, width = x.shape[0], x.shape[1] + 2 * padding, x.shape[2] + 2 * padding
    h_out, w_out = (h - kernel) // stride + 1, (width - kernel) // stride + 1
    return (cols @ w.reshape(kernel * kernel * c_in, c_out)).reshape(n, h_out, w_out, c_out)


def conv2d_fft(x, w) -> np.ndarray:
    """Stride-1 'valid' convolution via the FFT: correlate = multiply by the conjugate spectrum."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    h, width = x.shape[1:3]
    k = w.shape[0]
    size = (h, width)
    x_hat = np.fft.rfft2(x, s=size, axes=(1, 2))                  # (N, H, W/2+1, C_in)
    w_hat = np.fft.rfft2(w[::-1, ::-1], s=size, axes=(0, 1))      # flipped kernel = correlation
    y_hat = np.einsum("nhwc,hwco->nhwo", x_hat, w_hat)
    y = np.fft.irfft2(y_hat, s=size, axes=(1, 2))
    return y[:, k - 1:, k - 1:, :]


# Winograd F(2x2, 3x3): Y = A^T [ (G g G^T) * (B^T d B) ] A  (Lavin & Gray 2016, section 4.1)
WINOGRAD_B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64)
WINOGRAD_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float64)
WINOGRAD_A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)


def conv2d_winograd(x, w) -> np.ndarray:
    """Stride-1 'valid' 3x3 convolution with Winograd F(2x2, 3x3) on 4x4 tiles (stride 2).

    Output height and width must be even (pad the input by one row/column otherwise).
    """
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    if w.shape[:2] != (3, 3):
        raise ValueError(f"Winograd F(2x2,3x3) needs 3x3 kernels, got {w.shape[:2]}.")
    n, h, width = x.shape[:3]
    h_out, w_out = h - 2, width - 2
    if h_out % 2 or w_out % 2:
        raise ValueError(f"Output {h_out}x{w_out} must have even sides: pad the input by one.")
    u = np.einsum("ij,jkco,lk->ilco", WINOGRAD_G, w, WINOGRAD_G)   # (4, 4, C_in, C_out)
    tiles = np.lib.stride_tricks.sliding_window_view(x, (4, 4), axis=(1, 2))[:, ::2, ::2]
    v = np.einsum("ij,nabcjk,lk->nabcil", WINOGRAD_B_T, tiles, WINOGRAD_B_T)  # (N,th,tw,C,4,4)
    m = np.einsum("nabcij,ijco->nabijo", v, u)                      # 16 products per tile
    y = np.einsum("ij,nabjko,lk->nabilo", WINOGRAD_A_T, m, WINOGRAD_A_T)     # (N,th,tw,2,2,O)
    return y.transpose(0, 1, 3, 2, 4, 5).reshape(n, h_out, w_out, -1)


def multiplications(h_out: int, w_out: int, c_in: int, c_out: int, kernel: int = 3) -> dict:
    """Multiplications per image for a stride-1 conv: direct / im2col vs Winograd F(2x2,3x3)."""
    direct = h_out * w_out * c_in * c_out * kernel * kernel
    winograd = (h_out // 2) * (w_out // 2) * 16 * c_in * c_out if kernel == 3 else None
    return {"direct": direct, "winograd": winograd}


def stochastic_round(x, dtype=np.float16, rng=None) -> np.ndarray:
    """Round ``x`` to ``dtype`` up or down at random, P(up) = distance to the lower neighbour / gap.

    Unlike round-to-nearest, the expected value equals ``x``: small updates survive on average.
    """
    rng = np.random.default_rng(rng)
    x = np.asarray(x, np.float64)
    nearest = x.astype(dtype)
    low = np.where(nearest.astype(np.float64) > x, np.nextafter(nearest, dtype(-np.inf)), nearest)
    high = np.nextafter(low, dtype(np.inf))
    gap = high.astype(np.float64) - low.astype(np.float64)
    p_up = np.divide(x - low.astype(np.float64), gap, out=np.zeros_like(x), where=gap > 0)
    return np.where(rng.random(x.shape) < p_up, high, low).astype(dtype)


def accumulate(increment: float, steps: int, rounding: str = "nearest", dtype=np.float16,
               seed: int = 0) -> np.ndarray:
    """Add ``increment`` ``steps`` times to a ``dtype`` accumulator; returns the running sum.

    With round-to-nearest the sum stalls once the increment is below half the spacing of
    ``dtype`` numbers near the sum; stochastic rounding keeps growing on average.
    """
    rng = np.random.default_rng(seed)
    total = dtype(0)
    history = np.empty(steps)
    for i in range(steps):
        exact = float(total) + increment
        total = dtype(exact) if rounding == "nearest" else stochastic_round(exact, dtype, rng)
        history[i] = float(total)
    return history
