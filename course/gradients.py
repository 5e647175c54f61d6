"""Gradients on any Keras backend: the one place the course calls a backend's autodiff.

Keras 3 computes with ``keras.ops`` on TensorFlow, JAX or PyTorch, but each backend takes
gradients its own way (``tf.GradientTape``, ``jax.grad``, ``torch.autograd``). Lessons and tests
that need a gradient (saliency maps, batch norm's backward pass, DiffStride's stride) call
``value_and_grad`` or ``input_gradient``; a layer's weights become ordinary arguments through
``layer.stateless_call``.
"""
from __future__ import annotations

import keras
import numpy as np


def value_and_grad(scalar_fn, *args):
    """``(scalar_fn(*args), [d scalar_fn / d arg for each arg])``, as NumPy values."""
    backend = keras.backend.backend()
    args = [np.asarray(a) for a in args]
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(a) for a in args]
        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            value = scalar_fn(*tensors)
        grads = tape.gradient(value, tensors)
        return float(value), [g.numpy() for g in grads]
    if backend == "jax":
        import jax

        value, grads = jax.value_and_grad(scalar_fn, argnums=tuple(range(len(args))))(
            *[keras.ops.convert_to_tensor(a) for a in args])
        return float(value), [np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in args]
        value = scalar_fn(*tensors)
        value.backward()
        return float(value.detach()), [t.grad.detach().cpu().numpy() for t in tensors]
    raise NotImplementedError(f"value_and_grad does not know the {backend!r} backend.")


def input_gradient(scalar_fn, x) -> np.ndarray:
    """``d scalar_fn(x) / d x`` as a NumPy array; ``scalar_fn`` maps a tensor to a scalar."""
    return value_and_grad(scalar_fn, x)[1][0]


def layer_gradients(layer, x, upstream, training=True):
    """Gradients of ``sum(layer(x) * upstream)`` with respect to ``x`` and to each trainable
    weight of ``layer`` (in ``layer.trainable_variables`` order): the layer's backward pass."""
    import inspect

    trainable = [np.asarray(keras.ops.convert_to_numpy(v)) for v in layer.trainable_variables]
    frozen = [keras.ops.convert_to_numpy(v) for v in layer.non_trainable_variables]
    upstream = np.asarray(upstream)
    takes_training = "training" in inspect.signature(layer.call).parameters
    kwargs = {"training": training} if takes_training else {}

    def loss(x, *weights):
        y, _ = layer.stateless_call(list(weights), frozen, x, **kwargs)
        return keras.ops.sum(y * upstream)

    _, grads = value_and_grad(loss, x, *trainable)
    return grads
