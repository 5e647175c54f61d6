"""Predictions and accuracy on raw-pixel images, with the course's one test-time augmentation;
how confident the predictions are (``logit_gap``, ``calibration``).

``with_test_time_augmentation(model, views)`` returns a Keras model that averages ``model``'s
scores (logits) over deterministic views of each image. Because it is an ordinary model, the
same thing serves evaluation in a notebook, ``metrics.json`` and the exported ``.keras``
artifact that a grader loads. The views (``TTA_VIEWS``):

- ``none``: the image itself;
- ``flip``: the image and its mirror, 1/2 each;
- ``flip_shift``: airbench's six views: 1/4 each for the image and its mirror, 1/8 each for the
  mirror pairs of the image shifted one pixel up-left and down-right (reflect padding);
- ``ten_crop``: AlexNet's four corner and centre crops of ``crop_size`` and their mirrors;
- ``multi_scale``: the image rescaled by each of ``scales`` (centre crop or pad back to size),
  each with its mirror (VGG, ResNet).
"""
from __future__ import annotations

import numpy as np

TTA_VIEWS = ("none", "flip", "flip_shift", "ten_crop", "multi_scale")


def _views(kind, height, width, crop_size, scales):
    """``[(layer, weight), ...]`` for a kind of test-time augmentation."""
    from course.layers.tta import CropMirror, ScaleMirror, ShiftMirror

    if kind == "flip":
        return [(ShiftMirror(0, m, name=f"view_mirror{int(m)}"), 0.5) for m in (False, True)]
    if kind == "flip_shift":
        return [(ShiftMirror(s, m, name=f"view_shift{s}_mirror{int(m)}"), w)
                for s, w in ((0, 0.25), (-1, 0.125), (1, 0.125)) for m in (False, True)]
    if kind == "ten_crop":
        if crop_size is None or not 0 < crop_size <= min(height, width):
            raise ValueError(f"ten_crop needs crop_size between 1 and {min(height, width)} "
                             f"(the image size), got {crop_size}; e.g. 24 for cifar10_cnn.")
        corners = [(0, 0), (0, width - crop_size), (height - crop_size, 0),
                   (height - crop_size, width - crop_size),
                   ((height - crop_size) // 2, (width - crop_size) // 2)]
        return [(CropMirror(t, l, crop_size, m, name=f"view_crop{i}_mirror{int(m)}"), 0.1)
                for m in (False, True) for i, (t, l) in enumerate(corners)]
    if kind == "multi_scale":
        return [(ScaleMirror(s, m, name=f"view_scale{i}_mirror{int(m)}"), 1 / (2 * len(scales)))
                for i, s in enumerate(scales) for m in (False, True)]
    raise ValueError(f"Unknown test-time augmentation {kind!r}; use one of {', '.join(TTA_VIEWS)}.")


def with_test_time_augmentation(model, views: str = "flip", crop_size: int | None = None,
                                scales=(1.0, 1.125, 1.25)):
    """A model that averages ``model``'s scores over the test-time ``views`` (see above).

    ``views="none"`` returns ``model`` itself. The result saves and loads as one ``.keras`` file.
    """
    import keras

    if views == "none":
        return model
    shape = model.input_shape[1:]
    if None in shape[:2]:
        raise ValueError(f"Test-time views need a fixed input size; {model.name} takes {shape}.")
    inputs = keras.Input(shape, name="image")
    scores = [keras.layers.Rescaling(weight, dtype="float32")(model(view(inputs)))
              for view, weight in _views(views, shape[0], shape[1], crop_size, scales)]
    outputs = keras.layers.Add(dtype="float32", name="averaged_scores")(scores)
    return keras.Model(inputs, outputs, name=f"{model.name}_tta_{views}")


def as_float_images(x) -> np.ndarray:
    """Raw pixels as a float32 NHWC array (MNIST's NHW gets its channel axis)."""
    from course.data import as_images

    return as_images(x).astype("float32")


def predict_scores(model, x, batch_size: int = 256) -> np.ndarray:
    """The model's scores (N, classes) for raw-pixel images ``x``."""
    return np.asarray(model.predict(as_float_images(x), batch_size=batch_size, verbose=0))


def evaluate_accuracy(model, x, y, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on raw-pixel images ``x`` and integer labels ``y``."""
    scores = predict_scores(model, x, batch_size)
    return float(np.mean(scores.argmax(axis=-1) == np.asarray(y).reshape(-1)))


def softmax(logits) -> np.ndarray:
    """Probabilities from logits (N, classes), computed stably in float64."""
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def logit_gap(logits) -> np.ndarray:
    """Per example: the largest logit minus the mean of the others (what label smoothing
    bounds, Szegedy et al. 2016, section 7)."""
    z = np.asarray(logits, np.float64)
    top = z.max(axis=-1)
    return top - (z.sum(axis=-1) - top) / (z.shape[-1] - 1)


def calibration(logits, labels, bins: int = 10) -> dict:
    """How well confidence (the largest probability) matches accuracy (Guo et al. 2017, "On
    Calibration of Modern Neural Networks"): predictions grouped into ``bins`` equal-width
    confidence bins; per bin the mean confidence, the accuracy and the count; and the expected
    calibration error ``ECE = sum_b n_b / N * |accuracy_b - confidence_b|``."""
    p = softmax(logits)
    confidence, correct = p.max(axis=-1), p.argmax(axis=-1) == np.asarray(labels).reshape(-1)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    count = np.bincount(which, minlength=bins)
    seen = np.maximum(count, 1)
    mean_confidence = np.bincount(which, confidence, minlength=bins) / seen
    accuracy = np.bincount(which, correct, minlength=bins) / seen
    ece = float(np.sum(count / len(confidence) * np.abs(accuracy - mean_confidence)))
    return {"confidence": mean_confidence, "accuracy": accuracy, "count": count, "ece": ece,
            "mean_confidence": float(confidence.mean()), "top1": float(correct.mean())}
