"""What a network costs, layer by layer: memory, parameters, FLOPs; and what each layer sees.

``layer_table(model)`` follows the lecture's (and CS231n's) accounting: memory is the layer's
output at float32, FLOPs are multiply-adds: C_out x H' x W' x (C_in / groups) x K x K for a conv,
in x out for a dense layer, outputs x K x K for pooling. ``python -m course summary MODEL``
prints it. ``receptive_field(model)`` gives each layer's receptive field, jump and start
(Araujo, Norris & Sim 2019, "Computing receptive fields of convolutional neural networks").
"""
from __future__ import annotations

from dataclasses import dataclass

import keras

_POOLS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)


@dataclass
class LayerRow:
    name: str
    kind: str
    input_shape: tuple  # (C, H, W) or (features,)
    output_shape: tuple
    filters: int | None
    kernel: tuple | None
    stride: tuple | None
    pad: str | tuple | None
    memory_kb: float
    params: int
    flops: int


def _chw(shape):
    shape = tuple(shape[1:])
    return (shape[-1], *shape[:-1]) if len(shape) == 3 else shape


def _first(shape_or_list):
    return shape_or_list[0] if isinstance(shape_or_list, list) else shape_or_list


def _course_layers():
    from course.layers.lenet import PartiallyConnectedConv2D, TrainableSubsampling

    return PartiallyConnectedConv2D, TrainableSubsampling


def _flops(layer, in_shape, out_shape) -> int:
    out = tuple(out_shape[1:])
    partial, subsampling = _course_layers()
    if isinstance(layer, partial):  # LeNet's C3: each output map reads only len(row) inputs
        k = layer.kernel_size
        return out[0] * out[1] * sum(len(row) for row in layer.table) * k * k
    if isinstance(layer, subsampling):  # LeNet's S2/S4: a pooling layer
        return out[0] * out[1] * out[2] * layer.pool_size ** 2
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return out[0] * out[1] * out[2] * kh * kw
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        c_in = in_shape[-1] // layer.groups
        return out[0] * out[1] * out[2] * c_in * kh * kw
    if isinstance(layer, keras.layers.Dense):
        return int(in_shape[-1]) * layer.units
    if isinstance(layer, _POOLS):
        kh, kw = layer.pool_size
        return out[0] * out[1] * out[2] * kh * kw
    return 0


def _pair(value):
    if value is None:
        return None
    return (value, value) if isinstance(value, int) else tuple(value)


def _padding(layer, in_shape):
    if isinstance(layer, keras.layers.ZeroPadding2D):
        return tuple(layer.padding[0])
    return getattr(layer, "padding", None)


def layer_table(model) -> list[LayerRow]:
    """One ``LayerRow`` per layer that has an output (input layers are skipped)."""
    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        in_shape = _first(layer.input).shape
        out_shape = _first(layer.output).shape
        kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
        stride = getattr(layer, "strides", None)
        if isinstance(layer, _course_layers()[1]):
            stride = layer.pool_size  # LeNet's subsampling: non-overlapping windows
        elif isinstance(layer, _course_layers()[0]):
            stride = 1
        filters = getattr(layer, "filters", None) or getattr(layer, "units", None)
        elements = 1
        for d in out_shape[1:]:
            elements *= int(d) if d is not None else 1
        rows.append(LayerRow(
            name=layer.name, kind=type(layer).__name__,
            input_shape=_chw(in_shape), output_shape=_chw(out_shape),
            filters=filters, kernel=_pair(kernel), stride=_pair(stride),
            pad=_padding(layer, in_shape),
            memory_kb=elements * 4 / 1024, params=layer.count_params(),
            flops=_flops(layer, in_shape, out_shape),
        ))
    return rows


def totals(rows) -> dict:
    """Sums over a table: memory (KB), parameters, FLOPs (multiply-adds)."""
    return {"memory_kb": sum(r.memory_kb for r in rows), "params": sum(r.params for r in rows),
            "flops": sum(r.flops for r in rows)}


def multiply_adds(model, side: int | None = None) -> int | None:
    """Multiply-adds of one image's forward pass (``layer_table``'s FLOPs column summed), for
    ``side x side`` images if given (counted on a copy of the model built for that size); None
    when some layer's shapes are not known (a subclassed model, an input of any size)."""
    if side is not None and tuple(model.input_shape[1:3]) != (side, side):
        model = keras.models.clone_model(
            model, input_tensors=keras.Input((side, side, model.input_shape[-1])))
    try:
        shapes = [shape for layer in model.layers
                  if not isinstance(layer, keras.layers.InputLayer)
                  for shape in (_first(layer.input).shape[1:], _first(layer.output).shape[1:])]
    except (AttributeError, ValueError):  # layers never called on a known input
        return None
    if any(d is None for shape in shapes for d in shape):
        return None
    return int(totals(layer_table(model))["flops"])


#: Training's floating-point operations per multiply-add of the forward pass: a multiply-add is
#: 2 operations, and the backward pass costs about twice the forward (a gradient for the layer's
#: input and one for its weights), so 2 x (1 + 2).
TRAINING_FLOPS_PER_MAC = 6


def training_flops(model, images: int, sides=()) -> list[int] | None:
    """Training's floating-point operations epoch by epoch: ``TRAINING_FLOPS_PER_MAC`` x
    multiply-adds per image x ``images`` per epoch; ``sides`` gives each epoch's image side
    (``None``: the model's own; a progressive schedule's smaller images cost less). None when
    the model's multiply-adds cannot be counted."""
    costs = {side: multiply_adds(model, side) for side in set(sides) | {None}}
    if None in costs.values():
        return None
    return [TRAINING_FLOPS_PER_MAC * costs[side] * int(images) for side in sides]


def _human(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def _memory(kb: float) -> str:
    if kb >= 1024:
        return f"{kb / 1024:.1f}MB"
    return f"{kb:.0f}KB" if kb >= 10 else f"{kb:.2g}KB"


def _pad(pad) -> str:
    if isinstance(pad, tuple):
        return str(pad[0]) if len(set(pad)) == 1 else "/".join(map(str, pad))
    return pad or ""


def format_table(rows, only_costly: bool = False) -> str:
    """The table as text, with totals; ``only_costly`` keeps layers with params or FLOPs."""
    header = (f"{'layer':<24}{'type':<20}{'input C x H x W':<18}{'output C x H x W':<18}"
              f"{'kernel/stride':<14}{'pad':<7}{'memory':>10}{'params':>13}{'FLOPs':>10}")
    lines = [header, "-" * len(header)]
    for r in rows:
        if only_costly and not (r.params or r.flops):
            continue
        shape_in = " x ".join(str(d) for d in r.input_shape)
        shape = " x ".join(str(d) for d in r.output_shape)
        ks = f"{r.kernel[0]}x{r.kernel[1]}/{r.stride[0]}" if r.kernel and r.stride else ""
        lines.append(f"{r.name[:23]:<24}{r.kind[:19]:<20}{shape_in:<18}{shape:<18}{ks:<14}"
                     f"{_pad(r.pad)[:6]:<7}{_memory(r.memory_kb):>10}{r.params:>13,}"
                     f"{_human(r.flops):>10}")
    t = totals(rows)
    lines.append("-" * len(header))
    lines.append(f"{'total':<101}{_memory(t['memory_kb']):>10}{t['params']:>13,}"
                 f"{_human(t['flops']):>10}")
    lines.append("memory: each layer's output at float32 (one image); FLOPs: multiply-adds.")
    return "\n".join(lines)


@dataclass
class Field:
    name: str
    size: int    # receptive field, pixels per side
    jump: int    # distance in input pixels between neighbouring outputs
    start: float  # centre of the first output's field, in input pixels


def receptive_field(model) -> list[Field]:
    """Receptive field of every layer along the network's main path (sequential order).

    Spatial layers (conv, pooling, padding) grow it; other layers pass it on. For branching
    networks (Inception, ResNet) this follows the order of ``model.layers``: exact for chains,
    an upper bound (the largest branch) where branches merge.
    """
    size, jump, start = 1, 1, 0.5
    fields = []
    by_tensor = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        inputs = layer.input if isinstance(layer.input, list) else [layer.input]
        known = [by_tensor[id(t)] for t in inputs if id(t) in by_tensor]
        if known:
            size, jump, start = max(known, key=lambda f: f[0])
        else:
            size, jump, start = 1, 1, 0.5
        if isinstance(layer, _CONVS + _POOLS):
            k = (layer.kernel_size if isinstance(layer, _CONVS) else layer.pool_size)[0]
            s = layer.strides[0]
            d = getattr(layer, "dilation_rate", (1, 1))[0]
            k_eff = d * (k - 1) + 1
            pad = (k_eff - 1) / 2 if layer.padding == "same" else 0
            start = start + ((k_eff - 1) / 2 - pad) * jump
            size = size + (k_eff - 1) * jump
            jump = jump * s
        elif isinstance(layer, keras.layers.ZeroPadding2D):
            start = start - layer.padding[0][0] * jump
        for t in (layer.output if isinstance(layer.output, list) else [layer.output]):
            by_tensor[id(t)] = (size, jump, start)
        fields.append(Field(layer.name, size, jump, start))
    return fields


def response_stds(model, images, suffix="_bn2"):
    """Std of each named layer's output over ``images`` (He et al. 2015, Figure 7).

    The paper measures the responses of each 3x3 layer after batch norm and before the
    addition / non-linearity: in the CIFAR ResNets here those are the ``*_bn2`` layers.
    Returns ``[(layer name, std), ...]`` in network order.
    """
    import numpy as np

    names = [layer.name for layer in model.layers if layer.name.endswith(suffix)]
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    outputs = probe.predict(np.asarray(images, dtype="float32"), verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    return [(name, float(np.std(out))) for name, out in zip(names, outputs)]
