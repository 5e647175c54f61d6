"""Ablation of the CIFAR-10 tutorial CNN's training-time augmentation (lesson 11).

    python benchmarks/cifar10_augmentation_ablation.py                       # 20k images, 5 epochs
    python benchmarks/cifar10_augmentation_ablation.py --subset 10000 --epochs 8 --no-lrn
    python benchmarks/cifar10_augmentation_ablation.py --subset 0 --epochs 30   # all 50k, full
    python benchmarks/cifar10_augmentation_ablation.py --settings none,all      # two of the rows

Trains ``cifar10_cnn`` four times from the same seed, with the same recipe (Adam, cosine decay,
batch 128), adding one augmentation at a time: none (centre 24x24 crop in training too), random
crop, crop + flip, crop + flip + brightness + contrast (the tutorial's full set). Each run is
evaluated on the full 10,000-image test set (centre crop; and averaged with the mirror image).
Prints a markdown table and writes the run into
``benchmarks/results/cifar10_augmentation_ablation.json`` (as ``runs.nIMAGES_eEPOCHS``, the
other runs kept), which lesson 11's prose quotes (``python -m course prose --write``).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = Path(__file__).resolve().parent / "results" / "cifar10_augmentation_ablation.json"

SETTINGS = {  # short key -> (row label, augmentations)
    "none": ("none", ()),
    "crop": ("crop", ("crop",)),  # cifar10_cnn's names: crop = random 24x24 (course.augment)
    "flip": ("crop + flip", ("crop", "flip")),
    "all": ("crop + flip + brightness + contrast", ("crop", "flip", "brightness", "contrast")),
}


def run(name, augment, x_train, y_train, x_test, y_test, epochs, lrn, seed):
    from course import evaluation, recipes, training

    recipe = recipes.get("cifar10_cnn").replace(
        epochs=epochs, model_args={"augment": augment, "lrn": lrn, "seed": seed})
    result = training.train(recipe, ((x_train, y_train), (x_test, y_test)), seed=seed,
                            fast=False, verbose=0)
    model = result.model
    test = result.metrics["test_accuracy"]
    test_flip = evaluation.evaluate_accuracy(
        evaluation.with_test_time_augmentation(model, "flip"), x_test, y_test)
    train_plain = evaluation.evaluate_accuracy(model, x_train[:10000], y_train[:10000])
    row = {"augmentation": name, "train_acc_augmented": result.history["accuracy"][-1],
           "train_acc_clean": train_plain, "test_acc": test, "test_acc_flip_tta": test_flip,
           "wall_s": result.metrics["wall_time_s"]}
    print(f"  {name}: test {test:.2%} (flip TTA {test_flip:.2%}), train (clean) "
          f"{train_plain:.2%}, {row['wall_s']:.0f} s", flush=True)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--subset", type=int, default=20000,
                        help="training images (random subset; 0 = all 50,000)")
    parser.add_argument("--no-lrn", action="store_true", help="drop the two LRN layers (faster)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", default="none,crop,flip,all",
                        help="comma-separated subset of: " + ", ".join(SETTINGS))
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="the JSON file the run is written into (default: %(default)s)")
    parser.add_argument("--run", default=None,
                        help="the run's name in it (default: nIMAGES_eEPOCHS, e.g. n10000_e8)")
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.settings.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SETTINGS]
    if unknown:
        parser.error(f"unknown settings {unknown}; choose from {', '.join(SETTINGS)}")

    from course import data

    (x_train, y_train), (x_test, y_test) = data.load("cifar10", fast=False)
    if args.subset:
        (x_train, y_train), _ = data.subset(((x_train, y_train), (x_test, y_test)),
                                            args.subset, len(x_test), seed=args.seed)
    print(f"cifar10_cnn augmentation ablation: {len(x_train):,} training images, "
          f"{args.epochs} epochs, LRN {'off' if args.no_lrn else 'on'}, "
          f"test on {len(x_test):,} images", flush=True)
    rows = [run(*SETTINGS[k], x_train, y_train, x_test, y_test, args.epochs, not args.no_lrn,
                args.seed) for k in keys]
    import machine

    facts = machine.describe(measure_peaks=False)
    print(f"\n{len(x_train):,} training images, {args.epochs} epochs, batch 128, Adam 1e-3 "
          f"cosine, LRN {'off' if args.no_lrn else 'on'}; {platform.machine()}, "
          f"{facts['cores']} cores\n")
    print("| augmentation | train acc (augmented, last epoch) | train acc (clean, 10k) "
          "| test acc | test acc + flip TTA | train time |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['augmentation']} | {r['train_acc_augmented']:.2%} | "
              f"{r['train_acc_clean']:.2%} | {r['test_acc']:.2%} | {r['test_acc_flip_tta']:.2%} "
              f"| {r['wall_s']:.0f} s |")

    import course
    from course import recipes

    recipe = recipes.get("cifar10_cnn")
    record = {"command": "python benchmarks/cifar10_augmentation_ablation.py " + " ".join(
                  sys.argv[1:] if argv is None else argv),
              "date": time.strftime("%Y-%m-%dT%H:%M", time.gmtime()),
              "course_version": course.__version__,
              "machine": {"arch": platform.machine(), **facts},
              "images": len(x_train), "test_images": len(x_test), "epochs": args.epochs,
              "batch_size": recipe.batch_size, "lrn": not args.no_lrn, "seed": args.seed,
              "settings": dict(zip(keys, rows))}
    name = args.run or f"n{len(x_train)}_e{args.epochs}"
    results = json.loads(args.results.read_text()) if args.results.exists() else {"runs": {}}
    results["runs"][name] = record
    args.results.write_text(json.dumps(results, indent=1) + "\n")
    print(f"(written to {args.results}, runs.{name}; `python -m course prose --write` renders "
          "lesson 11's numbers from it)")


if __name__ == "__main__":
    main()
