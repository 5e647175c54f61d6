"""Gradients on any Keras backend: the one place the course calls a backend's autodiff.

Keras 3 computes with ``keras.ops`` on TensorFlow, JAX or PyTorch, but each backend takes
gradients its own way (``tf.GradientTape``, ``jax.grad``, ``torch.autograd``). Lessons and tests
that need a gradient (saliency maps, batch norm's backward pass) call ``input_gradient``.
"""
from __future__ import annotations

import keras
import numpy as np


def input_gradient(scalar_fn, x) -> np.ndarray:
    """``d scalar_fn(x) / d x`` as a NumPy array; ``scalar_fn`` maps a tensor to a scalar."""
    backend = keras.backend.backend()
    x = np.asarray(x)
    if backend == "tensorflow":
        import tensorflow as tf

        tensor = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            value = scalar_fn(tensor)
        return tape.gradient(value, tensor).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda t: scalar_fn(t))(keras.ops.convert_to_tensor(x)))
    if backend == "torch":
        import torch

        tensor = torch.tensor(x, requires_grad=True)
        scalar_fn(tensor).backward()
        return tensor.grad.detach().cpu().numpy()
    raise NotImplementedError(f"input_gradient does not know the {backend!r} backend.")
