"""Layers the course writes by hand, and the helpers every model uses to look at its layers.

Importing this package registers the layers for ``.keras`` loading. ``walk(model)`` is the one
way the package walks a model's layers (nested models included); ``adapt_layers`` and
``unadapted_layers`` implement the protocol of layers that learn their weights from data.
"""
from course.layers.adapt import LearnsFromData, adapt_layers, require_adapted, unadapted_layers
from course.layers.batchnorm import BatchNorm
from course.layers.dropout import InvertedDropout
from course.layers.fused_batchnorm import FusedBatchNormalization
from course.layers.lenet import PartiallyConnectedConv2D, TrainableSubsampling
from course.layers.matmul_gradient import MatmulGradientConv2D
from course.layers.normalization import LocalResponseNormalization
from course.layers.residual import ScaledResidual, ZeroPadShortcut
from course.layers.spectral import DiffStride, SpectralPooling
from course.layers.tta import CropMirror, ScaleMirror, ShiftMirror
from course.layers.walk import layers_of_type, walk
from course.layers.whitening import PatchWhitening
