"""Pictures for the notebooks: image grids, learned filters, feature maps, confusion matrices,
training curves (beside a paper's table), and how confident a classifier is."""
from __future__ import annotations

import math

import numpy as np


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _grid(n, ncols):
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def show_images(images, labels=None, class_names=None, ncols=8, size=1.4, titles=None,
                cmap="gray"):
    """A grid of images (NHW or NHWC, uint8 or float) with optional labels as titles."""
    plt = _plt()
    images = np.asarray(images)
    rows, cols = _grid(len(images), ncols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size * 1.15), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(images):
            continue
        image = images[i]
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        if image.dtype != np.uint8:
            low, high = float(image.min()), float(image.max())
            image = (image - low) / (high - low + 1e-12)
        ax.imshow(image, cmap=cmap if image.ndim == 2 else None)
        if titles is not None:
            ax.set_title(titles[i], fontsize=8)
        elif labels is not None:
            label = int(labels[i])
            ax.set_title(class_names[label] if class_names else str(label), fontsize=8)
    fig.tight_layout()
    return fig


def show_filters(kernel, ncols=8, size=1.0, title=None):
    """The learned filters of a conv layer: ``kernel`` is (kh, kw, in, out); one tile per output.

    Greyscale for one input channel, RGB for three; each filter is scaled to its own range.
    """
    plt = _plt()
    kernel = np.asarray(kernel)
    n = kernel.shape[-1]
    rows, cols = _grid(n, ncols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        f = kernel[..., i]
        f = f[..., 0] if f.shape[-1] == 1 else f[..., :3]
        f = (f - f.min()) / (f.max() - f.min() + 1e-12)
        ax.imshow(f, cmap="gray" if f.ndim == 2 else None, interpolation="nearest")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_feature_maps(maps, ncols=8, size=1.1, title=None, cmap="viridis"):
    """The channels of one activation tensor (H, W, C), one tile per channel."""
    plt = _plt()
    maps = np.asarray(maps)
    if maps.ndim == 4:
        maps = maps[0]
    n = maps.shape[-1]
    rows, cols = _grid(n, ncols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * size, rows * size), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(maps[..., i], cmap=cmap, interpolation="nearest")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def layer_outputs(model, images, layer_names):
    """The outputs of the named layers for ``images``: ``{name: array}``."""
    import keras

    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in layer_names])
    outputs = probe.predict(np.asarray(images, dtype="float32"), verbose=0)
    if len(layer_names) == 1:
        outputs = [outputs]
    # float32 even for a model trained in bfloat16, so plots and NumPy maths just work
    return dict(zip(layer_names, (np.asarray(o, dtype="float32") for o in outputs)))


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts ``m[true, predicted]``."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)), 1)
    return m


def plot_confusion_matrix(matrix, class_names=None, ax=None, title="Confusion matrix"):
    """Heat map of a confusion matrix with the counts written in the cells."""
    plt = _plt()
    matrix = np.asarray(matrix)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * len(matrix) + 2, 0.55 * len(matrix) + 1.5))
    ax.imshow(np.log1p(matrix), cmap="Blues")
    names = class_names or [str(i) for i in range(len(matrix))]
    ax.set_xticks(range(len(matrix)), names, rotation=90 if len(matrix) > 10 else 0)
    ax.set_yticks(range(len(matrix)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(matrix) <= 20:
        threshold = np.log1p(matrix).max() / 2
        for (i, j), count in np.ndenumerate(matrix):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                    color="white" if np.log1p(count) > threshold else "black")
    return ax.figure


def saliency(model, images, classes=None):
    """Gradient of the class score with respect to the input pixels (Simonyan et al. 2013).

    Returns ``|d score / d pixel|`` maxed over colour channels, one map per image; ``classes``
    defaults to the predicted class.
    """
    from course.gradients import input_gradient

    x = np.asarray(images, dtype="float32")
    if classes is None:
        classes = np.asarray(model.predict(x, verbose=0)).argmax(-1)
    classes = np.asarray(classes).reshape(-1)

    def picked_score(images):
        import keras

        scores = keras.ops.cast(model(images, training=False), "float32")
        return keras.ops.sum(scores * keras.ops.one_hot(classes, scores.shape[-1]))

    return np.abs(input_gradient(picked_score, x)).astype("float32").max(axis=-1)


def plot_history(history: dict, path=None, ax=None, title=None):
    """Loss and accuracy per epoch (train and validation) side by side; saved if ``path``."""
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    else:
        fig = ax[0].figure
    for i, metric in enumerate(("loss", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + metric)
            if values:
                ax[i].plot(range(1, len(values) + 1), values, style, marker="o", ms=3,
                           label=("validation " if prefix else "train ") + metric)
        ax[i].set_xlabel("epoch")
        ax[i].set_ylabel(metric)
        ax[i].grid(alpha=0.3)
        ax[i].legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def compare_histories(histories: dict, metrics=("loss", "val_accuracy"), titles=None,
                      styles=None, error=False, table=None):
    """One panel per metric, one curve per run: ``histories`` is ``{run name: history dict}``.

    ``error=True`` plots ``1 - accuracy`` for accuracy metrics (He et al.'s error curves);
    ``styles`` maps a run name to a matplotlib line style. ``table=(title, columns, rows)``
    adds a last panel with a table (a paper's numbers beside this run's).
    """
    plt = _plt()
    panels = len(metrics) + (table is not None)
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 3.5), squeeze=False)
    if table is not None:
        _table(axes[0][-1], *table)
    for ax, metric, title in zip(axes[0], metrics, titles or metrics):
        for name, history in histories.items():
            values = np.asarray(history.get(metric, []), dtype=float)
            if error and "accuracy" in metric:
                values = 1 - values
            ax.plot(range(1, len(values) + 1), values, (styles or {}).get(name, "-"),
                    marker="o", ms=3, label=name)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def _table(ax, title, columns, rows):
    ax.axis("off")
    ax.set_title(title, fontsize=9)
    cells = ax.table(cellText=[[str(v) for v in row] for row in rows], colLabels=columns,
                     loc="center", cellLoc="center")
    cells.auto_set_font_size(False)
    cells.set_fontsize(8)
    cells.scale(1, 1.4)


def compare_confidence(logits: dict, labels, optimum: dict | None = None, bins: int = 10):
    """What a classifier's scores say about its certainty, one colour per run, on the same
    images: ``logits`` is ``{run name: (N, classes) logits}``. Panels: the logit gap (largest
    logit minus the mean of the others; ``optimum`` maps a run to the gap its loss prefers,
    drawn dashed), the confidence (largest probability), and the reliability diagram (accuracy
    per confidence bin against the diagonal of perfect calibration; ECE in the legend)."""
    from course.evaluation import calibration, logit_gap, softmax

    plt = _plt()
    fig, ax = plt.subplots(1, 3, figsize=(15, 3.6))
    colors = plt.get_cmap("tab10").colors
    for i, (name, z) in enumerate(logits.items()):
        c = colors[i % 10]
        ax[0].hist(logit_gap(z), bins=50, alpha=0.5, color=c, label=name)
        if optimum and np.isfinite(optimum.get(name, np.inf)):
            ax[0].axvline(optimum[name], color=c, ls="--", label=f"{name}: loss optimum")
        ax[1].hist(softmax(z).max(axis=-1), bins=50, range=(0, 1), alpha=0.5, color=c,
                   label=name)
        cal = calibration(z, labels, bins)
        used = cal["count"] > 0
        ax[2].plot(cal["confidence"][used], cal["accuracy"][used], "o-", color=c, ms=4,
                   label=f"{name} (ECE {cal['ece']:.3f})")
    ax[2].plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    for a, title, xlabel in zip(ax, ("logit gap", "confidence", "reliability"),
                                ("largest logit - mean of the others",
                                 "largest softmax probability", "mean confidence in bin")):
        a.set_title(title)
        a.set_xlabel(xlabel)
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    ax[1].set_yscale("log")
    ax[2].set_ylabel("accuracy in bin")
    fig.tight_layout()
    return fig


def show_code(obj):
    """The source of a function or class of the package, to read in a lesson: the code the
    student reads is the code that runs. Highlighted in Jupyter, plain text elsewhere."""
    import inspect

    source = inspect.getsource(obj)
    try:
        from IPython.display import Code

        return Code(source, language="python")
    except ImportError:
        print(source)
        return None


def draw_data_parallelism(replicas: int = 2, batch: int = 8):
    """The picture of one data-parallel step: the global batch split over ``replicas`` copies of
    the model, local gradients, one all-reduce, the same update everywhere."""
    plt = _plt()
    from matplotlib.patches import FancyArrowPatch, Rectangle

    fig, ax = plt.subplots(figsize=(9, 1.6 + 1.3 * replicas))
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.5, 1.3 * replicas + 0.6)
    ax.axis("off")
    per = batch // replicas
    colors = plt.get_cmap("tab10").colors
    ax.text(0.6, 1.3 * replicas + 0.3, f"global batch ({batch} images)", ha="center", fontsize=9)

    def box(x, y, w, h, text, color="white"):
        ax.add_patch(Rectangle((x, y), w, h, facecolor=color, edgecolor="black"))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8)

    def arrow(x0, y0, x1, y1):
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="->", mutation_scale=10))

    for r in range(replicas):
        y = 1.3 * (replicas - 1 - r)
        for i in range(per):
            box(0.1 + 0.25 * i, y + 0.35, 0.22, 0.3, "", colors[r % 10])
        arrow(0.2 + 0.25 * per, y + 0.5, 2.3, y + 0.5)
        box(2.3, y + 0.2, 1.8, 0.6, f"replica {r}: model copy\n{per} images")
        arrow(4.1, y + 0.5, 5.0, y + 0.5)
        box(5.0, y + 0.2, 1.3, 0.6, f"gradients g{r}")
        arrow(6.3, y + 0.5, 6.9, 1.3 * (replicas - 1) / 2 + 0.5)
        arrow(8.4, 1.3 * (replicas - 1) / 2 + 0.5, 8.9, y + 0.5)
        box(8.9, y + 0.2, 1.0, 0.6, "same\nupdate")
    box(6.9, 1.3 * (replicas - 1) / 2 + 0.1, 1.5, 0.8,
        "all-reduce\n" + " + ".join(f"g{r}" for r in range(replicas)))
    fig.tight_layout()
    return fig
