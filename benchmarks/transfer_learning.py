"""Transfer learning on real CIFAR-10: classes 0-4 -> classes 5-9 with few labels.

    python benchmarks/transfer_learning.py --pretrain-epochs 15 --transfer-epochs 30 --labelled 500

Prints the target-task test accuracy (and the validation curve's last and best values, on
held-out target-class training images) of training from scratch, feature extraction and
fine-tuning with discriminative learning rates (``course.experiments.transfer_experiment``, the
same code lesson 14 runs).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-epochs", type=int, default=15)
    parser.add_argument("--transfer-epochs", type=int, default=30)
    parser.add_argument("--labelled", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from course import experiments

    start = time.perf_counter()
    results = experiments.transfer_experiment(args.pretrain_epochs, args.transfer_epochs,
                                              args.labelled, args.seed)
    print(f"\nCIFAR-10 classes 0-4 -> 5-9, {args.labelled} labelled target images, "
          f"pretrain {args.pretrain_epochs} epochs, transfer {args.transfer_epochs} epochs "
          f"({time.perf_counter() - start:.0f} s)\n")
    print("| method | target test accuracy | validation (final) | validation (best epoch) |\n"
          "| --- | --- | --- | --- |")
    for name, result in results.items():
        val = result.history["val_accuracy"]
        print(f"| {name} | {result.metrics['test_accuracy']:.2%} | {val[-1]:.2%} | "
              f"{max(val):.2%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
