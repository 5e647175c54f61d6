"""The main job (`make main`): the lecture's two-layer CNN on MNIST, recipe variants side by side.

    python benchmarks/main_job.py                      # the registered recipe and the variants below
    python benchmarks/main_job.py --variants registered --repeats 3

Each variant trains ``mnist_two_layer_cnn`` (3,274,634 parameters, unchanged) on all 60,000
training images with ``course.training.train`` and reports test accuracy (10,000 images) and
training seconds, interleaved and repeated so that load from other processes hits every
variant alike; the table gives the median of the repeats. The machine facts (CPU, matmul
GFLOP/s, load) and the work (FLOPs per epoch from ``course.analysis``) come with it.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: name -> changes to the registered recipe
VARIANTS = {
    "registered": {},
    "6ep_b64_f32 (0.1 recipe)": dict(epochs=6, batch_size=64, learning_rate=1e-3,
                                      schedule="cosine", schedule_args={},
                                      mixed_precision="off"),
    "registered_float32": dict(mixed_precision="off"),  # what CPUs without bfloat16 run
    "1ep_b128_bf16": dict(epochs=1, mixed_precision="bfloat16"),
    "3ep_b256_bf16": dict(epochs=3, batch_size=256, learning_rate=4e-3,
                          mixed_precision="bfloat16"),
}


def training_flops_per_epoch() -> float:
    """2 FLOPs per multiply-add, forward + backward = 3x forward, 60,000 images."""
    from course import analysis, models

    forward = analysis.totals(analysis.layer_table(models.create("mnist_two_layer_cnn")))["flops"]
    return 2 * 3 * forward * 60_000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated names from: " + "; ".join(VARIANTS))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", default="runs/benchmark_main_job")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}")

    import machine

    from course import precision, recipes, training

    facts = machine.describe()
    machine.print_facts(facts)
    flops = training_flops_per_epoch()
    print(f"work: {flops / 1e12:.2f} TFLOP per training epoch (60,000 images)", flush=True)
    base = recipes.get("mnist_two_layer_cnn")
    runs = {name: [] for name in names}
    for repeat in range(args.repeats):
        for name in names:
            recipe = base.replace(**VARIANTS[name])
            result = training.train(recipe, fast=False, seed=repeat, verbose=0,
                                    out=Path(args.out) / f"{name.split()[0]}_{repeat}")
            m = result.metrics
            runs[name].append(m)
            print(f"  {name} (seed {repeat}): {m['test_accuracy']:.2%} in {m['wall_time_s']} s, "
                  f"{m['dtype_policy']}, load {machine.load_average():.2f}", flush=True)
    print("\n| variant | epochs | batch | precision | test accuracy (median) | training s "
          "(median) | TFLOP/s achieved |\n| --- | --- | --- | --- | --- | --- | --- |")
    for name, ms in runs.items():
        recipe = base.replace(**VARIANTS[name])
        seconds = statistics.median(m["wall_time_s"] for m in ms)
        accuracy = statistics.median(m["test_accuracy"] for m in ms)
        print(f"| {name} | {recipe.epochs} | {recipe.batch_size} | "
              f"{precision.policy_name(recipe.mixed_precision)} | {accuracy:.2%} | {seconds:.0f} | "
              f"{flops * recipe.epochs / seconds / 1e12:.3f} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "main_job.json").write_text(json.dumps({"machine": facts, "flops_per_epoch": flops,
                                                   "runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
