"""Layers the course writes by hand, and the helpers every model uses to look at its layers.

Importing this package registers the layers for ``.keras`` loading. ``walk(model)`` is the one
way the package walks a model's layers (nested models included); ``adapt_layers`` and
``unadapted_layers`` implement the protocol of layers that learn their weights from data.
"""
from course.layers.walk import layers_of_type, walk  # noqa: F401
from course.layers.adapt import (  # noqa: F401
    LearnsFromData, adapt_layers, require_adapted, unadapted_layers,
)
from course.layers.normalization import LocalResponseNormalization  # noqa: F401
from course.layers.lenet import PartiallyConnectedConv2D, TrainableSubsampling  # noqa: F401
from course.layers.residual import ScaledResidual, ZeroPadShortcut  # noqa: F401
from course.layers.batchnorm import BatchNorm  # noqa: F401
from course.layers.fused_batchnorm import FusedBatchNormalization  # noqa: F401
from course.layers.matmul_gradient import MatmulGradientConv2D  # noqa: F401
from course.layers.dropout import InvertedDropout  # noqa: F401
from course.layers.spectral import DiffStride, SpectralPooling  # noqa: F401
from course.layers.whitening import PatchWhitening  # noqa: F401
from course.layers.tta import CropMirror, ScaleMirror, ShiftMirror  # noqa: F401
