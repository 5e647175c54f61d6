"""Benchmark the CIFAR-100 reference recipes: time-to-accuracy, final accuracy, grade, images/s.

    python benchmarks/cifar100_reference.py --data cifar100 --out DIR      # the assignment's recipe
    python benchmarks/cifar100_reference.py --recipe cifar100_long --out DIR   # the longer one
    python benchmarks/cifar100_reference.py --recipe NAME --epochs 5 --out DIR   # another setting
    python benchmarks/cifar100_reference.py --config NAME --no-throughput --out DIR  # a tuned one
    python benchmarks/cifar100_reference.py --throughput-only             # Keras vs PyTorch speed

Trains a registered reference recipe (``instructor/reference.py``) with ``course.training``,
evaluating the test set after every epoch (plain, no test-time augmentation) to draw the
time-to-accuracy curve, then reports the final test-time-augmented accuracy the recipe is judged
by, and grades the saved ``DIR/model.keras`` with ``python -m course grade``. The curve and the
numbers go to ``benchmarks/results/RECIPE_DATA.{json,png}``. The
throughput part times training steps of the same network in Keras and in an equivalent PyTorch
model (same layers, batch size, optimizer), in float32 and bfloat16, on random data in the same
process, so all numbers come from one machine; each figure is the median step (Keras: through
the course's input pipeline with the recipe's augmentation and Lookahead, as in training; and,
in the recipe's precision, once more without either: the bare step PyTorch's figure is; and
once more for each of the network's fast paths, ``FAST_PATHS``, with the Keras layer in its
place: Keras' own BatchNormalization for the fused one, Keras' own Conv2D for the one whose
kernel gradients are matmuls).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def time_to_accuracy(recipe_name: str, data_name: str, epochs: int | None, out: Path) -> dict:
    import keras

    from course import data, evaluation, recipes, training

    (_, _), (x_test, y_test) = data.load(data_name, fast=False)
    curve = []
    start = time.perf_counter()

    class TestEachEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            paused = time.perf_counter()
            accuracy = evaluation.evaluate_accuracy(self.model, x_test, y_test)
            curve.append({"epoch": epoch + 1, "train_s": round(paused - start - _eval_time(), 1),
                          "test_accuracy": round(accuracy, 4)})
            _EVAL.append(time.perf_counter() - paused)
            print(f"  epoch {epoch + 1}: test accuracy {accuracy:.2%} after "
                  f"{curve[-1]['train_s']:.0f} s of training", flush=True)

    _EVAL.clear()
    recipe = recipes.get(recipe_name)
    if epochs:
        recipe = recipe.replace(epochs=epochs)
    result = training.train(recipe, data_name, out=out, fast=False, callbacks=[TestEachEpoch()])
    return {"curve": curve, "final": result.metrics, "eval_s": round(_eval_time(), 1)}


_EVAL: list = []


def _eval_time() -> float:
    return sum(_EVAL)


#: The network's fast paths, each timed once more as the Keras layer it stands in for (what it
#: buys, side by side): ``{run key: (course layer, what the run is)}``.
FAST_PATHS = {
    "keras_bn": ("FusedBatchNormalization",
                 "Keras' own BatchNormalization instead of the fused one"),
    "keras_conv": ("MatmulGradientConv2D",
                   "Keras' own Conv2D (TensorFlow's kernel gradients on every map)"),
}


def keras_throughput(recipe_name: str, steps: int, num_classes: int, precision: str,
                     bare: bool = False, plain: str | None = None) -> float:
    """Median training step of the recipe's network (augmentation and Lookahead included unless
    ``bare``), in images/s; with ``plain``, a course layer's name from ``FAST_PATHS``, each such
    layer replaced by the Keras layer it subclasses."""
    import keras
    import machine

    from course import data, layers, recipes, training
    from course.callbacks import Lookahead

    keras.utils.set_random_seed(0)
    recipe = recipes.get(recipe_name).replace(mixed_precision=precision)
    batch_size = recipe.batch_size
    model = recipe.create() if num_classes == 100 else recipe.replace(data="cifar10").create()
    if plain:
        model = with_keras_layer(model, plain)
    training.compile_for(model, recipe, steps)
    x = np.random.default_rng(0).uniform(0, 255, (batch_size * 4, 32, 32, 3)).astype("uint8")
    y = np.arange(len(x)) % num_classes
    layers.adapt_layers(model, x.astype("float32"))  # whitening filters from (random) data
    augment = () if bare else recipe.augment
    ds = data.pipeline(x, y, batch_size, shuffle=True, augment=augment).repeat()
    callbacks = [Lookahead(steps)] if recipe.lookahead and not bare else []
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)  # build and trace
    timer = machine.step_timer()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False,
              callbacks=callbacks + [timer])
    return machine.images_per_s(timer.times, batch_size)


def with_keras_layer(model, course_layer: str):
    """A copy of ``model`` (same weights) with each ``course.layers.<course_layer>`` replaced by
    the Keras layer it subclasses, of the same configuration."""
    import keras

    from course import layers

    fast = getattr(layers, course_layer)
    base = fast.__bases__[0]  # the Keras layer

    def clone(layer):
        if not isinstance(layer, fast):
            return type(layer).from_config(layer.get_config())
        return base.from_config(base.get_config(layer))  # the Keras layer's part of the config

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def torch_throughput(recipe_name: str, steps: int, num_classes: int,
                     bfloat16: bool) -> float | None:
    """The same network and optimizer step in PyTorch (airbench94's own framework), on the CPU."""
    try:
        import torch
        from torch import nn
    except ImportError:
        print("PyTorch is not installed: pip install 'torch==2.13.0' (or pip install -e '.[bench]')")
        return None
    from course import recipes

    recipe = recipes.get(recipe_name)
    batch_size = recipe.batch_size
    widths = recipe.model_args.get("widths", (64, 256, 256))
    activation = {"gelu": nn.GELU, "relu": nn.ReLU}[recipe.model_args.get("activation", "gelu")]
    torch.manual_seed(0)
    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                          else os.cpu_count() or 1)

    def norm(channels):
        bn = nn.BatchNorm2d(channels, momentum=0.6, eps=1e-12)
        bn.weight.requires_grad = False  # shift only, as in Keras' scale=False
        return bn

    def conv_group(c_in, c_out):
        return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2), norm(c_out),
                activation(), nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), norm(c_out),
                activation()]

    whiten = nn.Conv2d(3, 24, 2, padding=0, bias=True)
    whiten.weight.requires_grad = False
    layers, c_in = [whiten, activation()], 24
    for width in widths:
        layers += conv_group(c_in, width)
        c_in = width
    model = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                          nn.Linear(c_in, num_classes, bias=False))
    model = model.to(memory_format=torch.channels_last)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.1, momentum=0.85, nesterov=True, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.2)
    x = torch.randn(batch_size, 3, 32, 32).to(memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (batch_size,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            scores = model(x) / 9
        loss_fn(scores.float(), y).backward()
        optimizer.step()

    import machine

    for _ in range(2):
        step()
    return batch_size / (machine.median_ms(step, steps) / 1e3)  # (one more warm-up step)


def plot_curve(report: dict, path: Path) -> None:
    """Test accuracy against training seconds and against training PFLOP, one point per epoch,
    with the bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    accuracy = [100 * row["test_accuracy"] for row in report["curve"]]
    final = report["final"]
    bar = 90 if report["data"] == "cifar10" else 60
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, key, label in ((axes[0], "train_s", "training time (s)"),
                           (axes[1], "pflop", "training PFLOP (6 x multiply-adds x images)")):
        xs = [row[key] for row in report["curve"]]
        ax.plot(xs, accuracy, "o-", label="per epoch (no test-time augmentation)")
        ax.plot([xs[-1]], [100 * final["test_accuracy"]], "r*", markersize=12,
                label=f"final, test-time augmented: {final['test_accuracy']:.2%}")
        ax.axhline(bar, color="grey", linestyle="--", label=f"{bar}% bar")
        ax.set(xlabel=label)
        ax.grid(alpha=0.3)
    axes[0].set(ylabel="test accuracy (%)")
    axes[1].legend(loc="lower right")
    fig.suptitle(f"{report.get('recipe', 'cifar100_reference')} on {report['data']}: "
                 f"{report['machine']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def count_work(report: dict, facts: dict, recipe) -> None:
    """Add each epoch's cumulative training PFLOP (``metrics.json``'s ``training_flops``,
    ``course.analysis.training_flops``) to the curve, and the MFU: those FLOPs over the training
    seconds and the matmul peak measured for the recipe's precision."""
    from course import precision

    flops = report["final"]["training_flops"]
    bfloat16 = precision.policy_name(recipe.mixed_precision) == "mixed_bfloat16"
    peak = facts.get("matmul_gflops_bfloat16" if bfloat16 else "matmul_gflops_float32")
    report["training_pflop"] = round(sum(flops) / 1e15, 4)
    report["peak_gflops"] = peak
    for i, row in enumerate(report["curve"]):
        row["pflop"] = round(sum(flops[:i + 1]) / 1e15, 4)
        row["mfu"] = round(sum(flops[:i + 1]) / 1e9 / row["train_s"] / peak, 3) if peak else None


def grade(data_name: str, path: Path) -> str:
    """The grader's verdict line for the saved model (a separate process, as an instructor runs it)."""
    import subprocess

    result = subprocess.run([sys.executable, "-m", "course", "grade", data_name, str(path)],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    return (result.stdout.strip().splitlines() or [result.stderr.strip()])[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="cifar100_reference",
                        help="a registered recipe (instructor/reference.py registers cifar100_reference)")
    parser.add_argument("--data", default="cifar100", choices=["cifar10", "cifar100"])
    parser.add_argument("--config", default=None,
                        help="a setting of benchmarks/cifar100_tuning.py, trained on all 50,000 "
                             "images and measured on the test set once it is chosen (registered "
                             "as the recipe tuned_CONFIG)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--out", default="runs/benchmark_cifar100_reference")
    parser.add_argument("--results", default=str(Path(__file__).resolve().parent / "results"),
                        help="where RECIPE_DATA.json/.png are written")
    parser.add_argument("--steps", type=int, default=20, help="training steps timed per framework")
    parser.add_argument("--repeats", type=int, default=1,
                        help="measure the throughput this many times (medians are reported)")
    parser.add_argument("--throughput-only", action="store_true")
    parser.add_argument("--no-throughput", action="store_true")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import machine

    import instructor.reference  # noqa: F401  (registers the answer key's model and recipe)
    from course import precision, recipes

    if args.config:
        import cifar100_tuning

        args.recipe = f"tuned_{args.config}"
        recipes.register(args.recipe, recipes.get("cifar100_long").replace(
            **cifar100_tuning.CONFIGS[args.config]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    classes = 100 if args.data == "cifar100" else 10
    recipe = recipes.get(args.recipe)
    batch = recipe.batch_size
    facts = machine.describe()
    machine.print_facts(facts)
    report = {"machine": f"{facts['cpu']}, {facts['cores']} cores", "facts": facts,
              "data": args.data, "recipe": args.recipe, "epochs": args.epochs or recipe.epochs}
    if not args.throughput_only:
        print(f"Training {args.recipe} on {args.data} ...", flush=True)
        report.update(time_to_accuracy(args.recipe, args.data, args.epochs, out))
        count_work(report, facts, recipe)
        report["grade"] = grade(args.data, out / "model.keras")
        report["load_after"] = machine.load_average()
        print(f"grader: {report['grade']}", flush=True)
    if not args.no_throughput:
        print(f"Timing {args.steps} training steps of batch {batch} in Keras and PyTorch ...",
              flush=True)
        runs = {}  # every measurement, each repeat alternating Keras and PyTorch
        for _ in range(args.repeats):
            for setting in ("off", "bfloat16"):
                name = "float32" if setting == "off" else setting
                runs.setdefault(f"keras_{name}", []).append(
                    keras_throughput(args.recipe, args.steps, classes, setting))
                runs.setdefault(f"torch_{name}", []).append(
                    torch_throughput(args.recipe, args.steps, classes, setting == "bfloat16"))
                if precision.policy_name(setting) == precision.policy_name(recipe.mixed_precision):
                    runs.setdefault(f"keras_{name}_bare", []).append(
                        keras_throughput(args.recipe, args.steps, classes, setting, bare=True))
                    for key, (course_layer, _) in FAST_PATHS.items():
                        runs.setdefault(f"keras_{name}_{key}", []).append(
                            keras_throughput(args.recipe, args.steps, classes, setting,
                                             plain=course_layer))
        speeds = {key: (round(float(np.median(values)), 1) if None not in values else None)
                  for key, values in runs.items()}
        report["images_per_s_runs"] = {key: [v and round(v, 1) for v in values]
                                       for key, values in runs.items()}
        report["images_per_s"] = speeds
    report["recipe_precision"] = precision.policy_name(recipe.mixed_precision)

    print(f"\n## {args.recipe} benchmark")
    print(f"machine: {report['machine']}")
    if "curve" in report:
        print("\n| epoch | training time (s) | PFLOP | MFU | test accuracy (plain) |\n"
              "| --- | --- | --- | --- | --- |")
        for row in report["curve"]:
            mfu = f"{row['mfu']:.0%}" if row.get("mfu") is not None else "-"
            print(f"| {row['epoch']} | {row['train_s']:.0f} | {row['pflop']:.4f} | {mfu} | "
                  f"{row['test_accuracy']:.2%} |")
        final = report["final"]
        print(f"\nfinal ({args.data}, {final['epochs']} epochs, test-time augmentation "
              f"{final['tta']}): test accuracy {final['test_accuracy']:.2%}; wall time "
              f"{final['wall_time_s']:.0f} s, of which {report['eval_s']:.0f} s were the per-epoch "
              f"test evaluations: {final['wall_time_s'] - report['eval_s']:.0f} s of training")
        print(f"grader: {report['grade']}")
    if "images_per_s" in report:
        speeds = report["images_per_s"]
        print(f"\ntraining throughput, batch {batch}, images/s, median of {args.repeats} "
              f"(the recipe uses "
              f"{report['recipe_precision']} here):")
        print("\n| precision | Keras (TensorFlow) | PyTorch | Keras / PyTorch |\n"
              "| --- | --- | --- | --- |")
        for name in ("float32", "bfloat16"):
            k, t = speeds[f"keras_{name}"], speeds[f"torch_{name}"]
            ratio = f"{k / t:.2f}" if t else "-"
            print(f"| {name} | {k} | {t} | {ratio} |")
        for name in ("float32", "bfloat16"):
            if f"keras_{name}_bare" in speeds:
                bare, t = speeds[f"keras_{name}_bare"], speeds[f"torch_{name}"]
                print(f"\nKeras {name} without augmentation and Lookahead: {bare} images/s"
                      + (f" ({bare / t:.2f} x PyTorch)" if t else ""))
            for key, (_, what) in FAST_PATHS.items():
                if f"keras_{name}_{key}" in speeds:
                    plain, t = speeds[f"keras_{name}_{key}"], speeds[f"torch_{name}"]
                    print(f"Keras {name} with {what}: {plain} images/s"
                          + (f" ({plain / t:.2f} x PyTorch)" if t else ""))
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    stem = f"{args.recipe}_{args.data}" + ("_throughput" if args.throughput_only else "")
    (results / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    saved = [results / f"{stem}.json"]
    if "curve" in report:
        plot_curve(report, results / f"{stem}.png")
        saved.append(results / f"{stem}.png")
    print(f"(saved {', '.join(map(str, saved))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
