"""``find_copy(name)``: the copy of a data set that ``load`` would read from this machine, found
and checked without reading its arrays and without any download or fetch.

It asks ``sources``' locators, in ``load``'s order (``$COURSE_DATA_DIR``, the Keras cache,
TensorFlow Datasets' prepared copies, the offline MNIST in the course's cache) and checks each
file as ``load`` does before reading it: a ``NAME.npz`` against its published sha256, the
original CIFAR files against the official md5 digests, the offline MNIST against its pinned
sha256. ``python -m course doctor`` uses it to say where each data set is, or that it is missing.
"""
from __future__ import annotations

from course.data.sources import LOCATORS, in_mnist_wheel
from course.data.specs import DataCopy, spec


def find_copy(name: str, tried: list | None = None) -> DataCopy | None:
    """The ``DataCopy`` of the first local copy of ``name`` (as ``load`` would find it),
    checked but not read; None when no local source has it (then ``tried`` lists the places
    looked at). Never downloads or fetches. A damaged copy raises ``DatasetCorruptedError``; a
    set but unusable ``$COURSE_DATA_DIR`` raises ``DatasetNotFoundError``, as ``load`` does."""
    spec(name)
    tried = [] if tried is None else tried
    for locate in LOCATORS:
        found = (in_mnist_wheel(name, tried, fetch=False) if locate is in_mnist_wheel
                 else locate(name, tried))
        if found is not None:
            return found[2]
    return None
