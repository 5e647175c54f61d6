"""Layers the course writes by hand. Importing this package registers them for ``.keras`` loading."""
from course.layers.normalization import LocalResponseNormalization  # noqa: F401
from course.layers.lenet import PartiallyConnectedConv2D, TrainableSubsampling  # noqa: F401
from course.layers.residual import ScaledResidual, ZeroPadShortcut  # noqa: F401
from course.layers.batchnorm import BatchNorm  # noqa: F401
from course.layers.dropout import InvertedDropout  # noqa: F401
from course.layers.spectral import DiffStride, SpectralPooling  # noqa: F401
from course.layers.whitening import PatchWhitening  # noqa: F401
from course.layers.test_time import ShiftMirror  # noqa: F401
