"""The integrity figure: does the model keep its accuracy on mirrored and shifted test images?

The test set is public, so a model can memorise it (a lookup of the 10,000 test images built
from Flatten/Dense layers scores 99.98%), and accuracy alone cannot tell. Consistency can: a
real classifier keeps its accuracy when an image is mirrored or moved by one pixel; a lookup
keyed on exact pixels collapses. The grader measures accuracy on a fixed random subset of the
test images three ways (plain, mirrored left-right, shifted one pixel right and down with the
edge repeated) and reports ``ratio = min(mirrored, shifted) / plain``. A ratio below
``FLAG_RATIO`` (with a drop of at least ``MIN_DROP`` points) raises the integrity flag: a note for
the instructor to look at the submission, never an automatic fail.
"""
from __future__ import annotations

import numpy as np

#: Flag when the worse of mirrored/shifted accuracy is below this fraction of plain accuracy...
FLAG_RATIO = 0.75
#: ...and lower by at least this much (so near-chance models are not flagged on noise).
MIN_DROP = 0.05
VIEWS = ("mirror", "shift")


def subset(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a reproducible random subset of ``size`` of ``n`` test images."""
    if size >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def mirror(x: np.ndarray) -> np.ndarray:
    """Images (N, H, W, C) mirrored left-right."""
    return np.ascontiguousarray(x[:, :, ::-1, :])


def shift(x: np.ndarray, pixels: int = 1) -> np.ndarray:
    """Images moved ``pixels`` right and down; the top rows and left columns repeat the edge."""
    h, w = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (pixels, 0), (pixels, 0), (0, 0)), mode="edge")
    return np.ascontiguousarray(padded[:, :h, :w, :])


def view(name: str, x: np.ndarray) -> np.ndarray:
    return {"mirror": mirror, "shift": shift}[name](x)


def figure(labels, plain_scores, mirror_scores, shift_scores) -> dict:
    """Accuracies on the subset and the flag: ``{"images", "plain", "mirror", "shift",
    "ratio", "flagged"}``."""
    labels = np.asarray(labels).reshape(-1)
    accuracy = {name: float(np.mean(np.asarray(s).argmax(-1) == labels))
                for name, s in (("plain", plain_scores), ("mirror", mirror_scores),
                                ("shift", shift_scores))}
    worst = min(accuracy["mirror"], accuracy["shift"])
    ratio = worst / accuracy["plain"] if accuracy["plain"] > 0 else 1.0
    flagged = ratio < FLAG_RATIO and accuracy["plain"] - worst >= MIN_DROP
    return {"images": int(len(labels)), **accuracy, "ratio": round(float(ratio), 4),
            "flagged": bool(flagged)}
