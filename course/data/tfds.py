"""TensorFlow Datasets as a source: copies TFDS has prepared, downloads through TFDS, and the
photo data sets the course takes only from TFDS (``load_tfds("tf_flowers", image_size=64)``).

- **Prepared copies** in ``$TFDS_DATA_DIR`` (default ``~/tensorflow_datasets``) are read
  offline: ``tfds.builder(name, data_dir=...)`` and its ``is_prepared()`` check, never a
  download. ``tensorflow_datasets`` is imported only when that folder has the data set.
- **Downloads** (``COURSE_DOWNLOADER=tfds`` for the classics; always for the photo sets) run
  ``download_and_prepare`` with ``force_checksums_validation`` and without TFDS's GCS mirror, so
  every file is checked against its sha256, and only after the installed TFDS was found to pin
  exactly the digests the course pins (``TFDS_URL_SHA256``).
- Converting records to arrays shows progress (``course.progress``), one line per chunk in logs.

Arrays come back like ``keras.datasets``: uint8 images (MNIST without the channel axis) and
integer labels; ``sources`` and ``load`` then check them like every other copy.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from course import config, progress
from course.data.specs import (
    TFDS_ONLY,
    TFDS_URL_SHA256,
    DataCopy,
    DatasetCorruptedError,
    DatasetNotFoundError,
)

DATA_DIR_ENV = "TFDS_DATA_DIR"
#: The TFDS name of each data set the course reads through TFDS.
TFDS_NAMES = {"mnist": "mnist", "cifar10": "cifar10", "cifar100": "cifar100",
              "tf_flowers": "tf_flowers"}
#: Label feature of each label mode (TFDS cifar100 has ``label`` and ``coarse_label``).
LABEL_KEYS = {"fine": "label", "coarse": "coarse_label"}


def data_dir() -> Path:
    """Where TFDS keeps prepared data sets: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``."""
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else Path.home() / "tensorflow_datasets"


def _library_version() -> str:
    import tensorflow_datasets as tfds

    return tfds.__version__


def _builder(name: str):
    import tensorflow_datasets as tfds

    return tfds.builder(TFDS_NAMES[name], data_dir=str(data_dir()))


def prepared(name: str, tried: list):
    """The TFDS builder of ``name`` if ``data_dir()`` holds a prepared copy, else None (and a
    line in ``tried`` saying why). Offline: nothing is downloaded here."""
    root = data_dir()
    folder = root / TFDS_NAMES[name]
    if not folder.is_dir():  # checked before importing TFDS, which takes seconds
        tried.append(f"TFDS data dir {root} (no prepared {TFDS_NAMES[name]})")
        return None
    try:
        builder = _builder(name)
        ready = builder.is_prepared()
    except Exception as err:  # noqa: BLE001 - TFDS raises many types for a broken folder
        raise DatasetCorruptedError(
            f"{folder} is a TFDS folder TensorFlow Datasets cannot open ({type(err).__name__}: "
            f"{err}). Delete it, or prepare it again: tfds build {TFDS_NAMES[name]} "
            f"--data_dir {root}") from err
    if ready:
        return builder
    versions = sorted(p.name for p in folder.iterdir() if p.is_dir())
    tried.append(
        f"TFDS data dir {root} ({TFDS_NAMES[name]} {builder.version} is not prepared there"
        + (f"; it has {', '.join(versions)}: run tfds build {TFDS_NAMES[name]}" if versions else "")
        + ")")
    return None


def urls(name: str) -> list[str]:
    """The files a TFDS download of ``name`` fetches (as the course pins them)."""
    return sorted(TFDS_URL_SHA256[name])


def pinned_mismatch(name: str) -> str | None:
    """Why the installed TFDS would not verify a download of ``name`` with the course's pinned
    sha256 digests (None when it pins exactly ``TFDS_URL_SHA256[name]``)."""
    import tensorflow_datasets as tfds

    builder_class = tfds.builder_cls(TFDS_NAMES[name])
    registered = {url: info.checksum for url, info in (builder_class.url_infos or {}).items()}
    expected = TFDS_URL_SHA256[name]
    if registered == expected:
        return None
    differ = sorted(set(registered) ^ set(expected)
                    | {u for u in set(registered) & set(expected) if registered[u] != expected[u]})
    return (f"tensorflow-datasets {tfds.__version__} registers other files or checksums for "
            f"{name} than the course pins ({', '.join(differ)})")


def download(name: str, tried: list):
    """Download and prepare ``name`` with TFDS into ``data_dir()``; the builder, or None (and a
    line in ``tried``) when the download fails. Every file is checked against its sha256."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download.download_manager import NonMatchingChecksumError

    why = pinned_mismatch(name)
    if why:
        tried.append(f"download through TFDS (refused: {why})")
        return None
    builder = _builder(name)
    settings = tfds.download.DownloadConfig(force_checksums_validation=True,
                                            try_download_gcs=False)
    try:
        builder.download_and_prepare(download_config=settings)
    except NonMatchingChecksumError as err:
        raise DatasetCorruptedError(
            f"TFDS downloaded {name}, but a file does not have its published sha256 ({err}); it "
            f"was not used. Delete {data_dir() / 'downloads'} and try again.") from err
    except Exception as err:  # noqa: BLE001 - a failed download: reported with the rest
        tried.append(f"download through TFDS into {data_dir()} (failed: {type(err).__name__}: "
                     f"{err})")
        return None
    if not builder.is_prepared():
        tried.append(f"download through TFDS into {data_dir()} (nothing was prepared)")
        return None
    return builder


def copy_of(builder, name: str, downloaded: bool = False) -> DataCopy:
    """The ``DataCopy`` that says which TFDS copy served ``name``."""
    library = _library_version()
    if downloaded:
        check = (f"downloaded by TFDS {library}: every file checked against the sha256 the "
                 "course pins; shapes, dtypes and labels checked")
    else:
        check = (f"prepared by TFDS (read with tensorflow-datasets {library}); no published "
                 "checksum for prepared records: shapes, dtypes and labels checked")
    return DataCopy(name, str(builder.data_dir), None, check,
                    source="download (TFDS)" if downloaded else "TFDS",
                    tfds_version=str(builder.version), tfds_data_dir=str(data_dir()))


def _num_examples(builder, split: str) -> int | None:
    try:
        n = int(builder.info.splits[split].num_examples)
    except Exception:  # noqa: BLE001 - unknown split sizes (a mocked or partial builder)
        return None
    return n or None


def _read_split(builder, name: str, split: str, label_keys: tuple):
    """All examples of one split: ``(images, {label_key: labels})``, with progress."""
    import tensorflow_datasets as tfds

    total = _num_examples(builder, split)
    chunk = max(2048, math.ceil(total / 5)) if total else 4096  # a handful of log lines
    ds = builder.as_dataset(split=split, batch_size=chunk, shuffle_files=False)
    chunks = math.ceil(total / chunk) if total else None
    images, labels = [], {k: [] for k in label_keys}
    for batch in progress.track(tfds.as_numpy(ds), total=chunks, unit="chunk",
                                description=f"converting TFDS {name} {split}"):
        images.append(batch["image"])
        for k in label_keys:
            labels[k].append(batch[k])
    return np.concatenate(images), {k: np.concatenate(v) for k, v in labels.items()}


def arrays(builder, name: str, label_mode: str = "fine"):
    """``((x_train, y_train), (x_test, y_test))`` of a prepared classic (MNIST without the
    channel axis, like ``keras.datasets``). TFDS stores records in its own (shuffled) order: the
    same images and labels as the original release, in another order."""
    out = []
    for split in ("train", "test"):
        images, labels = _read_split(builder, name, split, (LABEL_KEYS[label_mode],))
        if name == "mnist" and images.ndim == 4 and images.shape[-1] == 1:
            images = images[..., 0]
        out.append((images, labels[LABEL_KEYS[label_mode]]))
    return tuple(out)


def _square(image, size: int):
    """Central square crop, resized to ``size`` x ``size`` (antialiased), as uint8."""
    import tensorflow as tf

    shape = tf.shape(image)
    side = tf.minimum(shape[0], shape[1])
    image = tf.image.crop_to_bounding_box(image, (shape[0] - side) // 2,
                                          (shape[1] - side) // 2, side, side)
    image = tf.image.resize(image, (size, size), antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def photos(builder, name: str, image_size: int, limit: int | None = None):
    """Every example of a photo data set's ``train`` split (the first ``limit``), each cropped
    to its central square and resized: ``(images (N, s, s, 3) uint8, labels (N,))``."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    total = _num_examples(builder, "train")
    total = min(total, limit) if (total and limit) else (total or limit)
    ds = builder.as_dataset(split="train", as_supervised=True, shuffle_files=False)
    if limit:
        ds = ds.take(limit)
    chunk = 512
    ds = ds.map(lambda image, label: (_square(image, image_size), label),
                num_parallel_calls=tf.data.AUTOTUNE).batch(chunk)
    chunks = math.ceil(total / chunk) if total else None
    images, labels = [], []
    for x, y in progress.track(tfds.as_numpy(ds), total=chunks, unit="chunk",
                               description=f"converting TFDS {name} to {image_size}x{image_size}"):
        images.append(x)
        labels.append(y)
    if not images:
        raise DatasetCorruptedError(f"The TFDS copy of {name} in {builder.data_dir} has no images.")
    return np.concatenate(images), np.concatenate(labels)


def check_photos(name: str, x, y, image_size: int, where: str) -> None:
    """Shapes, dtype and label range of converted photos."""
    classes = TFDS_ONLY[name].num_classes
    problems = []
    if x.ndim != 4 or x.shape[1:] != (image_size, image_size, 3) or x.dtype != np.uint8:
        problems.append(f"images are {x.dtype} {x.shape}, expected (N, {image_size}, "
                        f"{image_size}, 3) uint8")
    if y.shape != (len(x),) or y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or
                                                                       y.max() >= classes)):
        problems.append(f"labels are {y.dtype} {y.shape}, expected {len(x)} integers in "
                        f"0..{classes - 1}")
    if problems:
        raise DatasetCorruptedError(f"{name} from {where} is damaged: {'; '.join(problems)}. "
                                    "Delete that TFDS copy and prepare it again.")


def not_found(name: str, tried: list) -> DatasetNotFoundError:
    root = data_dir()
    return DatasetNotFoundError(
        f"{name} not found. Tried: {'; '.join(tried)}. {name} comes through TensorFlow Datasets: "
        f"connect to the internet once (it is downloaded to {root} and checksum-verified), or "
        f"copy a prepared {TFDS_NAMES[name]} folder into {root} (or set {DATA_DIR_ENV}); on a "
        f"machine with internet: tfds build {TFDS_NAMES[name]} --data_dir FOLDER."
        + (f" ({config.OFFLINE_ENV}=1 forbids downloads.)" if config.is_offline() else ""))
