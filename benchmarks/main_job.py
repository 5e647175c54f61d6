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

#: The recipe before issue 35: 2 epochs, batch 128, peak 3e-3, no label smoothing.
BEFORE = dict(epochs=2, batch_size=128, learning_rate=3e-3, label_smoothing=0.0)
#: name -> changes to the registered recipe. The one-epoch candidates of issue 35 were compared
#: on a 10% validation split (--validation-split 0.1, seeds 0 and 1); results in main_job.md.
VARIANTS = {
    "registered": {},
    "registered_float32": dict(mixed_precision="off"),  # what CPUs without bfloat16 run
    "2ep_b128 (before)": BEFORE,
    "6ep_b64_f32 (0.1 recipe)": dict(epochs=6, batch_size=64, learning_rate=1e-3,
                                      schedule="cosine", schedule_args={}, label_smoothing=0.0,
                                      mixed_precision="off"),
    "1ep_b128": {**BEFORE, "epochs": 1},
    "1ep_b128_lookahead": {**BEFORE, "epochs": 1, "lookahead": True},
    "1ep_b64_2e-3": {**BEFORE, "epochs": 1, "batch_size": 64, "learning_rate": 2e-3},
    "1ep_b64_3e-3": {**BEFORE, "epochs": 1, "batch_size": 64},
    "1ep_b32_1.5e-3": {**BEFORE, "epochs": 1, "batch_size": 32, "learning_rate": 1.5e-3},
    "1ep_b128_ls0.1": {**BEFORE, "epochs": 1, "label_smoothing": 0.1},
    "1ep_b128_4e-3_ls0.1": {**BEFORE, "epochs": 1, "learning_rate": 4e-3,
                            "label_smoothing": 0.1},
    "1ep_b128_ls0.1_lookahead": {**BEFORE, "epochs": 1, "label_smoothing": 0.1,
                                 "lookahead": True},
    "1ep_b64_2e-3_ls0.1": {**BEFORE, "epochs": 1, "batch_size": 64, "learning_rate": 2e-3,
                           "label_smoothing": 0.1},
    "1ep_b64_2e-3_ls0.2": {**BEFORE, "epochs": 1, "batch_size": 64, "learning_rate": 2e-3,
                           "label_smoothing": 0.2},
    "1ep_b64_3e-3_ls0.1 (registered)": {**BEFORE, "epochs": 1, "batch_size": 64,
                                        "label_smoothing": 0.1},
}


def mfu(metrics: dict, facts: dict) -> float | None:
    """Training FLOPs (``metrics.json``'s ``training_flops``: 6 x multiply-adds x images, from
    ``course.analysis``) per second over the matmul peak measured for the run's precision."""
    key = ("matmul_gflops_bfloat16" if metrics["dtype_policy"] == "mixed_bfloat16"
           else "matmul_gflops_float32")
    peak = facts.get(key)
    return sum(metrics["training_flops"]) / 1e9 / metrics["wall_time_s"] / peak if peak else None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated names from: " + "; ".join(VARIANTS))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--validation-split", type=float, default=0.0,
                        help="tune on a held-out part of the training set (the table then "
                             "shows validation accuracy beside test accuracy)")
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
    base = recipes.get("mnist_two_layer_cnn")
    runs = {name: [] for name in names}
    for repeat in range(args.repeats):
        for name in names:
            recipe = base.replace(**VARIANTS[name], validation_split=args.validation_split)
            result = training.train(recipe, fast=False, seed=repeat, verbose=0,
                                    out=Path(args.out) / f"{name.split()[0]}_{repeat}")
            m = result.metrics
            runs[name].append(m)
            seen = (f"validation {m['validation_accuracy']:.2%}, "
                    if m.get("validation_accuracy") is not None else "")
            print(f"  {name} (seed {repeat}): {seen}test {m['test_accuracy']:.2%} in "
                  f"{m['wall_time_s']} s, "
                  f"{m['dtype_policy']}, load {machine.load_average():.2f}", flush=True)
    print("\n| variant | epochs | batch | precision | test accuracy (median) | training PFLOP | "
          "training s (median) | MFU (median) |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, ms in runs.items():
        recipe = base.replace(**VARIANTS[name])
        seconds = statistics.median(m["wall_time_s"] for m in ms)
        accuracy = statistics.median(m["test_accuracy"] for m in ms)
        utilisation = [u for u in (mfu(m, facts) for m in ms) if u is not None]
        print(f"| {name} | {recipe.epochs} | {recipe.batch_size} | "
              f"{precision.policy_name(recipe.mixed_precision)} | {accuracy:.2%} | "
              f"{sum(ms[0]['training_flops']) / 1e15:.4f} | {seconds:.0f} | "
              f"{f'{statistics.median(utilisation):.0%}' if utilisation else '-'} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "main_job.json").write_text(json.dumps({"machine": facts, "runs": runs}, indent=2)
                                       + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
