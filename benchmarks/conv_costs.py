"""Where Keras (TensorFlow) loses to PyTorch in the reference network's training step: its
convolutions, op by op (milliseconds, median of ``--repeats`` calls).

    python benchmarks/conv_costs.py                  # the recipe's batch and precision
    python benchmarks/conv_costs.py --dtype float32

For each trainable 3x3 ``Conv2D`` of ``cifar100_reference`` (shapes read from the built model,
the recipe's batch size), on the same random tensors, it times the three convolutions a training
step runs per layer: the forward pass, the input gradient and the kernel gradient, each as
TensorFlow runs them (oneDNN's kernels: ``Conv2D``, ``Conv2DBackpropInput``,
``Conv2DBackpropFilter``) and as PyTorch does (``conv2d``, ``aten.convolution_backward``,
channels-last, oneDNN's kernels of a newer release); and the kernel gradient once more as nine
matmuls (``course.layers.matmul_gradient.kernel_gradient_by_matmuls``, lesson 15's im2col
without the copy), which ``course.layers.MatmulGradientConv2D`` uses on small bfloat16 maps.
The totals per step say how much of the Keras/PyTorch gap in
``benchmarks/results/cifar100_reference.md`` the convolutions explain, and where.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

COLUMNS = ("forward TF", "torch", "input grad TF", "torch", "kernel grad TF", "torch",
           "9 matmuls")


def conv_shapes(model, batch_size: int) -> list[tuple]:
    """``(name, input NHWC shape, output NHWC shape, kernel shape)`` of each trainable 3x3
    stride-1 ``same`` convolution (the reference network's only kind besides its whitening)."""
    import keras

    from course.layers import layers_of_type

    shapes = []
    for layer in layers_of_type(model, keras.layers.Conv2D):
        kernel = tuple(layer.kernel.shape)
        if layer.trainable and kernel[:2] == (3, 3) and tuple(layer.strides) == (1, 1):
            assert layer.padding == "same", layer.name
            shapes.append((layer.name, (batch_size, *layer.input.shape[1:]),
                           (batch_size, *layer.output.shape[1:]), kernel))
    return shapes


def tensorflow_ms(x, dy, w, repeats: int) -> list[float]:
    """Forward, input gradient, kernel gradient (TensorFlow's ops), and the nine matmuls."""
    import tensorflow as tf
    from machine import median_ms

    from course.layers.matmul_gradient import kernel_gradient_by_matmuls

    kernel = tuple(w.shape)
    ops = [
        tf.function(lambda x, dy, w: tf.nn.conv2d(x, w, 1, "SAME")),
        tf.function(lambda x, dy, w: tf.nn.conv2d_transpose(dy, w, tf.shape(x), 1, "SAME")),
        tf.function(lambda x, dy, w: tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=kernel, out_backprop=dy, strides=[1, 1, 1, 1],
            padding="SAME")),
        tf.function(lambda x, dy, w: kernel_gradient_by_matmuls(x, dy, kernel)),
    ]
    # the ops are the gradients TensorFlow takes of tf.nn.conv2d (what keras.ops.conv runs)
    with tf.GradientTape() as tape:
        tape.watch([x, w])
        y = tf.nn.conv2d(x, w, 1, "SAME")
    expected = tape.gradient(y, [x, w], output_gradients=dy)
    for op, reference in zip(ops[1:], expected + expected[1:]):
        got, reference = (tf.cast(t, tf.float32) for t in (op(x, dy, w), reference))
        assert float(tf.reduce_max(tf.abs(got - reference))) <= 2e-2 * float(
            tf.reduce_max(tf.abs(reference)))
    return [median_ms(lambda op=op: op(x, dy, w).numpy(), repeats) for op in ops]


def pytorch_ms(x, dy, w, repeats: int) -> list[float | None]:
    """Forward, input gradient, kernel gradient in PyTorch (``None`` without PyTorch)."""
    try:
        import torch
    except ImportError:
        return [None, None, None]
    from machine import cores, median_ms

    torch.set_num_threads(cores())
    dtype = torch.bfloat16 if x.dtype.name == "bfloat16" else torch.float32

    def as_torch(array, permutation):
        return (torch.from_numpy(array.numpy().astype("float32")).permute(*permutation)
                .to(dtype).contiguous(memory_format=torch.channels_last))

    inputs, gradient = as_torch(x, (0, 3, 1, 2)), as_torch(dy, (0, 3, 1, 2))
    weight = as_torch(w, (3, 2, 0, 1))  # HWIO -> OIHW

    def backward(which):
        return lambda: torch.ops.aten.convolution_backward(
            gradient, inputs, weight, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
            [which == "input", False, which == "kernel"])

    return [median_ms(lambda: torch.nn.functional.conv2d(inputs, weight, padding=1), repeats),
            median_ms(backward("input"), repeats), median_ms(backward("kernel"), repeats)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default=None,
                        help="default: bfloat16 where the CPU has it natively (the recipe's)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    import machine
    import tensorflow as tf

    import instructor.reference  # noqa: F401  (registers the reference recipe)
    from course import precision, recipes

    machine.print_facts(machine.describe())
    dtype = args.dtype or ("bfloat16" if precision.native_bfloat16() else "float32")
    if dtype == "bfloat16" and not precision.native_bfloat16():
        print("this CPU has no native bfloat16 (emulated, slow): use --dtype float32",
              file=sys.stderr)
        return 2
    recipe = recipes.get("cifar100_reference")
    shapes = conv_shapes(recipe.replace(mixed_precision="off").create(), recipe.batch_size)
    print(f"cifar100_reference, batch {recipe.batch_size}, {dtype}: the convolutions of a "
          f"training step, median of {args.repeats} calls (ms)\n")
    print("| layer | input | C_out | " + " | ".join(COLUMNS) + " |")
    print("| --- " * (3 + len(COLUMNS)) + "|")
    rng = tf.random.Generator.from_seed(0)
    rows = []
    for name, in_shape, out_shape, kernel in shapes:
        x, dy, w = (tf.cast(rng.normal(shape), dtype) for shape in (in_shape, out_shape, kernel))
        tf_times, torch_times = tensorflow_ms(x, dy, w, args.repeats), pytorch_ms(x, dy, w,
                                                                                  args.repeats)
        row = [tf_times[0], torch_times[0], tf_times[1], torch_times[1], tf_times[2],
               torch_times[2], tf_times[3]]
        rows.append(row)
        cells = ["-" if t is None else f"{t:.1f}" for t in row]
        print(f"| {name} | {'x'.join(map(str, in_shape))} | {kernel[-1]} | "
              + " | ".join(cells) + " |")
    totals = [sum(r[i] or 0.0 for r in rows) for i in range(len(COLUMNS))]
    print("| per training step | | | " + " | ".join(f"{t:.1f}" for t in totals) + " |")
    tf_step, torch_step = sum(totals[0:6:2]), sum(totals[1:6:2])
    print(f"\nall three convolutions of every layer: TensorFlow {tf_step:.1f} ms"
          + (f", PyTorch {torch_step:.1f} ms ({tf_step / torch_step:.2f}x)" if torch_step
             else " (PyTorch not installed: pip install -e '.[bench]')"))
    faster = sum(min(r[4], r[6]) for r in rows)
    print(f"kernel gradients by the faster of TensorFlow's op and the nine matmuls, layer by "
          f"layer: {faster:.1f} ms against {totals[4]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
