"""Transfer learning on real CIFAR-10: classes 0-4 -> classes 5-9 with few labels.

    python benchmarks/transfer_learning.py --pretrain-epochs 15 --transfer-epochs 30 --labelled 500

Prints the target-task test accuracy (and the validation curve's last and best values, on
held-out target-class training images) of training from scratch, feature extraction and
fine-tuning with discriminative learning rates (``course.experiments.transfer_experiment``, the
same code lesson 14 runs), and writes them into ``benchmarks/results/transfer_learning.json``
(as ``runs.pPRETRAIN_tTRANSFER_nLABELLED``, the other runs kept), which lesson 14's prose quotes
(``python -m course prose --write``).
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = Path(__file__).resolve().parent / "results" / "transfer_learning.json"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-epochs", type=int, default=15)
    parser.add_argument("--transfer-epochs", type=int, default=30)
    parser.add_argument("--labelled", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="the JSON file the run is written into (default: %(default)s)")
    args = parser.parse_args(argv)

    import course
    from course import experiments

    start = time.perf_counter()
    results = experiments.transfer_experiment(args.pretrain_epochs, args.transfer_epochs,
                                              args.labelled, args.seed)
    wall_s = time.perf_counter() - start
    print(f"\nCIFAR-10 classes 0-4 -> 5-9, {args.labelled} labelled target images, "
          f"pretrain {args.pretrain_epochs} epochs, transfer {args.transfer_epochs} epochs "
          f"({wall_s:.0f} s)\n")
    print("| method | target test accuracy | validation (final) | validation (best epoch) |\n"
          "| --- | --- | --- | --- |")
    methods = {}
    for name, result in results.items():
        val = result.history["val_accuracy"]
        print(f"| {name} | {result.metrics['test_accuracy']:.2%} | {val[-1]:.2%} | "
              f"{max(val):.2%} |")
        methods[re.sub(r"\W+", "_", name).strip("_")] = {
            "method": name, "test_accuracy": result.metrics["test_accuracy"],
            "validation_final": val[-1], "validation_best": max(val)}

    import machine

    record = {"command": "python benchmarks/transfer_learning.py " + " ".join(
                  sys.argv[1:] if argv is None else argv),
              "date": time.strftime("%Y-%m-%dT%H:%M", time.gmtime()),
              "course_version": course.__version__,
              "machine": {"arch": platform.machine(), **machine.describe(measure_peaks=False)},
              "pretrain_epochs": args.pretrain_epochs, "transfer_epochs": args.transfer_epochs,
              "labelled": args.labelled, "seed": args.seed, "wall_s": round(wall_s),
              "methods": methods}
    name = f"p{args.pretrain_epochs}_t{args.transfer_epochs}_n{args.labelled}"
    stored = json.loads(args.results.read_text()) if args.results.exists() else {"runs": {}}
    stored["runs"][name] = record
    args.results.write_text(json.dumps(stored, indent=1) + "\n")
    print(f"(written to {args.results}, runs.{name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
