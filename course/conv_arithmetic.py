"""The arithmetic of convolutions: output sizes, parameters, receptive fields, multiply-adds.

The formulas of the lecture (and of Dumoulin & Visin 2016, "A guide to convolution arithmetic"):
output size ``(n + 2p - k) // s + 1``; a conv layer has ``(k*k*c_in + 1) * c_out`` parameters;
``L`` stacked ``k x k`` stride-1 convs see ``L*(k-1) + 1`` pixels. Along one axis, with dilation:
which input cells an output reads (``input_cells``) and what a stack sees (``stack_input_span``),
what the convolution explorer of ``course.widgets`` draws.
"""
from __future__ import annotations


def output_size(n: int, kernel: int, stride: int = 1, padding: int | str = 0) -> int:
    """Spatial output size of a conv or pooling window over ``n`` pixels.

    ``padding`` is a number of pixels per side, or ``"valid"`` (0) / ``"same"`` (Keras/TF:
    output ``ceil(n / stride)``).
    """
    if padding == "same":
        return -(-n // stride)
    if padding == "valid":
        padding = 0
    size = (n + 2 * padding - kernel) // stride + 1
    if size < 1:
        raise ValueError(
            f"A {kernel}x{kernel} window with stride {stride} and padding {padding} does not fit "
            f"in {n} pixels. Use a smaller kernel or more padding."
        )
    return size


def conv_parameters(kernel: int, c_in: int, c_out: int, bias: bool = True, groups: int = 1) -> int:
    """Weights (+ biases) of a ``kernel x kernel`` conv from ``c_in`` to ``c_out`` channels."""
    return kernel * kernel * (c_in // groups) * c_out + (c_out if bias else 0)


def dense_parameters(n_in: int, n_out: int, bias: bool = True) -> int:
    """Weights (+ biases) of a fully-connected layer."""
    return n_in * n_out + (n_out if bias else 0)


def conv_multiply_adds(kernel: int, c_in: int, c_out: int, h_out: int, w_out: int) -> int:
    """Multiply-adds of a conv layer, counted as the lecture does: C_out x H' x W' x C_in x K x K."""
    return c_out * h_out * w_out * c_in * kernel * kernel


def stacked_receptive_field(kernels, strides=None) -> int:
    """Receptive field (pixels per side) of a stack of conv/pool layers, input to last output.

    ``r = 1 + sum_l (k_l - 1) * prod_{i<l} s_i`` (Araujo et al. 2019, Distill).
    """
    strides = strides or [1] * len(kernels)
    field, jump = 1, 1
    for k, s in zip(kernels, strides):
        field += (k - 1) * jump
        jump *= s
    return field


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Span of a dilated kernel: ``dilation * (kernel - 1) + 1`` pixels."""
    return dilation * (kernel - 1) + 1


def padding_amounts(n: int, kernel: int, stride: int = 1, padding: int | str = 0,
                    dilation: int = 1) -> tuple[int, int]:
    """Pixels added before and after the input along one axis. ``"same"`` pads like
    TensorFlow/Keras (``ceil(n / stride)`` outputs, the odd pixel after); a number pads both sides."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        out = -(-n // stride)
        total = max((out - 1) * stride + effective_kernel(kernel, dilation) - n, 0)
        return total // 2, total - total // 2
    return int(padding), int(padding)


def conv_output_size(n: int, kernel: int, stride: int = 1, padding: int | str = 0,
                     dilation: int = 1) -> int:
    """Outputs along one axis: ``(n + 2p - d(k-1) - 1) // s + 1`` (``output_size`` when
    ``dilation=1``)."""
    if dilation == 1 or padding == "same":
        return output_size(n, kernel, stride, padding)
    before, after = padding_amounts(n, kernel, stride, padding, dilation)
    return output_size(n + before + after, effective_kernel(kernel, dilation), stride, 0)


def input_cells(index: int, kernel: int, stride: int = 1, padding: int | str = 0,
                dilation: int = 1, n: int | None = None) -> list[int]:
    """Input positions (0 = first real pixel; negative or >= n: padding) that output ``index``
    reads along one axis: ``index * stride - pad_before + dilation * a`` for ``a < kernel``."""
    if padding == "same" and n is None:
        raise ValueError("padding='same' depends on the input size: pass n=...")
    before = padding_amounts(n or 0, kernel, stride, padding, dilation)[0]
    return [index * stride - before + dilation * a for a in range(kernel)]


def stack_input_span(layers, index: int = 0) -> tuple[int, int]:
    """First and last input pixel (inclusive) that output ``index`` of a stack of layers can see.

    ``layers`` is a list of ``(kernel, stride, padding, dilation)`` along one axis, input first,
    with numeric padding. The span's length is the stack's receptive field
    (``stacked_receptive_field`` for dilation 1).
    """
    low = high = index
    for kernel, stride, padding, dilation in reversed(list(layers)):
        low = input_cells(low, kernel, stride, padding, dilation)[0]
        high = input_cells(high, kernel, stride, padding, dilation)[-1]
    return low, high
