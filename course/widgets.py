"""Intuition you can touch: interactive explorers for the lessons (ipywidgets + matplotlib).

- ``conv_explorer()`` (lesson 01): input size, kernel, stride, padding and dilation -> the output
  grid, its size and the layer's parameters, with the input cells one output sees highlighted.
- ``feature_map_explorer(model, images)`` (lesson 04): pick a layer and an image of a trained
  model and see its feature maps and, for a conv layer, its filters.
- ``augmentation_explorer(images)`` (lesson 10): sliders for pad-and-crop, crop, flip,
  brightness, contrast and AlexNet's colour PCA, through the course's augmentation vocabulary
  (``course.augment``) on real images.

Each explorer shows a static figure of its current state wherever no widget front end runs
(nbval, the course site, a notebook viewer) and live controls in Jupyter: its output carries
both an ``image/png`` of the figure and the widget view, and the front end picks what it can
show. The arithmetic lives in plain functions of ``course.conv_arithmetic`` (``conv_output_size``,
``input_cells``, ``stack_input_span``, re-exported here) and in ``ConvGeometry``, which the
explorers draw and the tests check against ``course.analysis.receptive_field`` and Keras.
"""
from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np

from course import conv_arithmetic as ca

# the one-axis arithmetic the explorers draw (re-exported: lessons call widgets.input_cells)
from course.conv_arithmetic import (  # noqa: F401 - re-exported for the lessons
    conv_output_size,
    effective_kernel,
    input_cells,
    padding_amounts,
    stack_input_span,
)

# --------------------------------------------------------------------------- one conv layer


@dataclass(frozen=True)
class ConvGeometry:
    """One square conv layer on an ``n x n`` input: what the convolution explorer draws."""

    n: int = 7
    kernel: int = 3
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    c_in: int = 1
    c_out: int = 1

    @property
    def pads(self) -> tuple[int, int]:
        return padding_amounts(self.n, self.kernel, self.stride, self.padding, self.dilation)

    @property
    def padded(self) -> int:
        return self.n + sum(self.pads)

    @property
    def output(self) -> int:
        """Output size per side (raises ValueError when the window does not fit)."""
        return conv_output_size(self.n, self.kernel, self.stride, self.padding, self.dilation)

    @property
    def parameters(self) -> int:
        return ca.conv_parameters(self.kernel, self.c_in, self.c_out)

    def seen(self, row: int, col: int) -> list[tuple[int, int]]:
        """The (row, col) input cells output (row, col) multiplies, padding cells included."""
        rows = input_cells(row, self.kernel, self.stride, self.padding, self.dilation, self.n)
        cols = input_cells(col, self.kernel, self.stride, self.padding, self.dilation, self.n)
        return [(r, c) for r in rows for c in cols]

    def describe(self) -> str:
        k = effective_kernel(self.kernel, self.dilation)
        span = f" (spans {k}x{k} with dilation {self.dilation})" if self.dilation > 1 else ""
        return (f"{self.n}x{self.n} input, {self.kernel}x{self.kernel} kernel{span}, stride "
                f"{self.stride}, padding {self.padding} -> {self.output}x{self.output} output; "
                f"{self.c_in}->{self.c_out} channels: {self.parameters:,} parameters")


# --------------------------------------------------------------------------- drawing


def draw_convolution(geometry: ConvGeometry, out_row: int = 0, out_col: int = 0):
    """Figure: the padded input (padding grey, cells seen by one output orange) and the output
    grid with that output marked."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    g = geometry
    out = g.output
    out_row, out_col = min(out_row, out - 1), min(out_col, out - 1)
    before = g.pads[0]
    seen = set(g.seen(out_row, out_col))
    fig, (a, b) = plt.subplots(1, 2, figsize=(8.4, 4.4),
                               gridspec_kw={"width_ratios": [g.padded, max(out, 3)]})
    for r in range(g.padded):
        for c in range(g.padded):
            ir, ic = r - before, c - before
            inside = 0 <= ir < g.n and 0 <= ic < g.n
            color = "#f4a259" if (ir, ic) in seen else ("white" if inside else "#d9d9d9")
            a.add_patch(Rectangle((c, r), 1, 1, facecolor=color, edgecolor="#555", lw=0.6))
            if (ir, ic) in seen and not inside:
                a.add_patch(Rectangle((c, r), 1, 1, fill=False, hatch="//", edgecolor="#999",
                                      lw=0))
    a.set_title(f"input {g.n}x{g.n} + padding {g.padding}\n(orange: seen by output "
                f"[{out_row}, {out_col}])", fontsize=9)
    for r in range(out):
        for c in range(out):
            color = "#5b8e7d" if (r, c) == (out_row, out_col) else "#e8f1ee"
            b.add_patch(Rectangle((c, r), 1, 1, facecolor=color, edgecolor="#555", lw=0.6))
    b.set_title(f"output {out}x{out}", fontsize=9)
    for ax, size in ((a, g.padded), (b, max(out, 3))):
        ax.set_xlim(0, size)
        ax.set_ylim(size, 0)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.suptitle(g.describe(), fontsize=9)
    fig.tight_layout()
    return fig


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class Explorer:
    """Controls plus a figure. Displayed, it offers the live widget to Jupyter and a PNG of the
    current state to everything else (nbval, the course site, notebook viewers)."""

    def __init__(self, controls: dict, draw, summary):
        import ipywidgets as w

        self.controls, self._draw, self._summary = controls, draw, summary
        self.output = w.Output()
        self.label = w.HTML()
        boxes = [w.HBox(list(controls.values())[i:i + 3]) for i in range(0, len(controls), 3)]
        self.widget = w.VBox([*boxes, self.label, self.output])
        for control in controls.values():
            control.observe(lambda _: self.refresh(), names="value")
        self.refresh()

    @property
    def values(self) -> dict:
        return {name: c.value for name, c in self.controls.items()}

    def figure(self):
        """A new matplotlib figure of the current state."""
        return self._draw(**self.values)

    def refresh(self):
        """Redraw the label and, under IPython, the live figure (called on every change)."""
        import matplotlib.pyplot as plt
        from IPython import get_ipython
        from IPython.display import display

        try:
            self.label.value = f"<b>{self._summary(**self.values)}</b>"
            fig = self.figure()
        except ValueError as err:  # e.g. a window that does not fit
            self.label.value = f"<b style='color:#b00'>{err}</b>"
            return
        if get_ipython() is not None:  # plain Python has no front end to draw into
            with self.output:
                self.output.clear_output(wait=True)
                display(fig)
        plt.close(fig)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = self.widget._repr_mimebundle_(include=include, exclude=exclude) or {}
        try:
            bundle["image/png"] = _png(self.figure())
            text = self._summary(**self.values)
        except ValueError as err:
            text = str(err)
        bundle["text/plain"] = (f"{text}\n(Run this notebook in Jupyter to change the "
                                "settings with sliders.)")
        return bundle


def _slider(value, low, high, description, step=1):
    import ipywidgets as w

    kind = w.IntSlider if isinstance(step, int) else w.FloatSlider
    return kind(value=value, min=low, max=high, step=step, description=description,
                continuous_update=False, style={"description_width": "initial"})


def conv_explorer(n=7, kernel=3, stride=1, padding=0, dilation=1, c_in=3, c_out=16,
                  out_row=0, out_col=0) -> Explorer:
    """Lesson 01: slide the input size, kernel, stride, padding and dilation; see the output
    grid, its size, the parameters and which input cells one output sees."""
    controls = {
        "n": _slider(n, 3, 16, "input n"), "kernel": _slider(kernel, 1, 7, "kernel k"),
        "stride": _slider(stride, 1, 4, "stride s"), "padding": _slider(padding, 0, 4, "padding p"),
        "dilation": _slider(dilation, 1, 3, "dilation d"), "c_in": _slider(c_in, 1, 64, "C in"),
        "c_out": _slider(c_out, 1, 64, "C out"), "out_row": _slider(out_row, 0, 15, "output row"),
        "out_col": _slider(out_col, 0, 15, "output col"),
    }

    def draw(out_row, out_col, **geometry):
        return draw_convolution(ConvGeometry(**geometry), out_row, out_col)

    def summary(out_row, out_col, **geometry):
        return ConvGeometry(**geometry).describe()

    return Explorer(controls, draw, summary)


# --------------------------------------------------------------------------- feature maps


def feature_map_layers(model) -> list[str]:
    """Names of the layers whose output is a stack of maps (N, H, W, C), in model order."""
    import keras

    names = []
    for layer in model.layers:
        shape = getattr(getattr(layer, "output", None), "shape", None)
        if not isinstance(layer, keras.layers.InputLayer) and shape is not None and len(shape) == 4:
            names.append(layer.name)
    return names


_PROBES: dict = {}  # (id(model), layer name) -> a model that outputs that layer


def draw_feature_maps(model, images, layer, image=0, max_maps=32):
    """Figure: one input image, the first ``max_maps`` maps of ``layer`` and, for a conv layer,
    its filters (first input channel, or RGB for three)."""
    import keras
    import matplotlib.pyplot as plt

    key = (id(model), layer)
    if key not in _PROBES:
        _PROBES.clear()
        _PROBES[key] = keras.Model(model.input, model.get_layer(layer).output)
    x = np.asarray(images[image:image + 1], dtype="float32")
    maps = np.asarray(_PROBES[key](x, training=False), dtype="float32")[0][..., :max_maps]
    kernel = getattr(model.get_layer(layer), "kernel", None)
    ncols = 8
    rows = 1 + -(-maps.shape[-1] // ncols)
    filters = None
    if kernel is not None and len(kernel.shape) == 4:
        filters = np.asarray(kernel)[..., :max_maps]
        rows += -(-filters.shape[-1] // ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(ncols * 1.1, rows * 1.15), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    picture = x[0, ..., 0] if x.shape[-1] == 1 else np.clip(x[0], 0, 255).astype("uint8")
    axes[0, 0].imshow(picture, cmap="gray")
    axes[0, 0].set_title(f"image {image}", fontsize=8)
    start = ncols
    for i in range(maps.shape[-1]):
        axes.flat[start + i].imshow(maps[..., i], cmap="viridis", interpolation="nearest")
    axes[1, 0].set_title(f"{layer}: maps", fontsize=8, loc="left")
    if filters is not None:
        start = ncols * (1 + -(-maps.shape[-1] // ncols))
        for i in range(filters.shape[-1]):
            f = filters[..., i]
            f = f[..., 0] if f.shape[-1] != 3 else f
            f = (f - f.min()) / (f.max() - f.min() + 1e-12)
            axes.flat[start + i].imshow(f, cmap="gray", interpolation="nearest")
        axes.flat[start].set_title(f"{layer}: filters", fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def feature_map_explorer(model, images, layer: str | None = None, image: int = 0,
                         max_maps: int = 32) -> Explorer:
    """Lesson 04: pick a layer and an image of a trained model; see the maps and filters."""
    import ipywidgets as w

    names = feature_map_layers(model)
    if not names:
        raise ValueError("This model has no layer with (N, H, W, C) outputs to show.")
    convs = [n for n in names if getattr(model.get_layer(n), "kernel", None) is not None]
    layer = layer or (convs or names)[0]
    if layer not in names:
        raise ValueError(f"Layer {layer!r} has no feature maps. Choose one of: {', '.join(names)}.")
    controls = {"layer": w.Dropdown(options=names, value=layer, description="layer"),
                "image": _slider(image, 0, len(images) - 1, "image")}

    def summary(layer, image):
        shape = tuple(model.get_layer(layer).output.shape[1:])
        return f"{layer}: output {shape}, image {image} (showing up to {max_maps} maps)"

    return Explorer(controls, lambda layer, image: draw_feature_maps(model, images, layer, image,
                                                                     max_maps), summary)


# --------------------------------------------------------------------------- augmentation


def augmentation_names(pad: int = 0, crop: int = 0, flip: bool = False, brightness: float = 0,
                       contrast: float = 0, pca_color: float = 0) -> tuple[str, ...]:
    """The ``course.augment`` names for the sliders' settings (zero = off), in pipeline order."""
    names = []
    if pad:
        names.append(f"pad_crop:{int(pad)}")
    if crop:
        names.append(f"crop:{int(crop)}")
    if flip:
        names.append("flip")
    if brightness:
        names.append(f"brightness:{brightness:g}")
    if contrast:
        names.append(f"contrast:{contrast:g}")
    if pca_color:
        names.append(f"pca_color:{pca_color:g}")
    from course import augment

    return augment.check(names)


def augmented_views(images, names, views: int = 7, seed: int = 0, fit_images=None) -> np.ndarray:
    """(len(images), views, H, W, C) random versions of each image through ``names`` (crops are
    zero-padded back to the input size); ``pca_color`` is fitted on ``fit_images``."""
    from course import augment

    images = np.asarray(images, dtype="float32")
    n, h, w = images.shape[:3]
    x = np.repeat(images, views, axis=0)
    for i, name in enumerate(names):
        layer = augment.layer(name, seed=seed + i)
        if name.startswith("pca_color"):
            layer.adapt(images if fit_images is None else fit_images)
        x = np.asarray(layer(x, training=True))
    dh, dw = h - x.shape[1], w - x.shape[2]
    x = np.pad(x, ((0, 0), (dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2), (0, 0)))
    return np.clip(x, 0, 255).reshape(n, views, h, w, -1)


def draw_augmentations(images, names, views=7, seed=0, fit_images=None):
    """Figure: each image (left) and ``views`` random augmented versions of it."""
    import matplotlib.pyplot as plt

    out = augmented_views(images, names, views, seed, fit_images).astype("uint8")
    images = np.asarray(images)
    fig, axes = plt.subplots(len(images), views + 1, figsize=((views + 1) * 1.1,
                                                              len(images) * 1.2), squeeze=False)
    for r, row in enumerate(axes):
        for c, ax in enumerate(row):
            picture = images[r] if c == 0 else out[r, c - 1]
            ax.imshow(picture.squeeze(), cmap="gray" if picture.shape[-1] == 1 else None)
            ax.axis("off")
    axes[0, 0].set_title("original", fontsize=8)
    fig.suptitle(" + ".join(names) or "no augmentation", fontsize=9)
    fig.tight_layout()
    return fig


def augmentation_explorer(images, fit_images=None, pad=4, crop=0, flip=True, brightness=0.0,
                          contrast=0.0, pca_color=0.0, views=7, seed=0) -> Explorer:
    """Lesson 10: sliders for each augmentation of ``course.augment`` on real images."""
    import ipywidgets as w

    images = np.asarray(images)
    if fit_images is not None:  # fit the colour PCA on a sample, once per redraw stays fast
        fit_images = np.asarray(fit_images)[:2000]
    size = images.shape[1]
    controls = {
        "pad": _slider(pad, 0, 8, "pad_crop (px)"),
        "crop": _slider(crop, 0, size, "crop (0 = off)"),
        "flip": w.Checkbox(value=flip, description="flip"),
        "brightness": _slider(float(brightness), 0.0, 127.0, "brightness ±", step=1.0),
        "contrast": _slider(float(contrast), 0.0, 0.95, "contrast ±", step=0.05),
        "pca_color": _slider(float(pca_color), 0.0, 2.0, "PCA colour std", step=0.05),
        "seed": _slider(seed, 0, 99, "random seed"),
    }

    def draw(seed, **kw):
        return draw_augmentations(images, augmentation_names(**kw), views, seed, fit_images)

    def summary(seed, **kw):
        names = augmentation_names(**kw)
        return f"augment={names} (seed {seed})"

    return Explorer(controls, draw, summary)
