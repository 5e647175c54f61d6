"""Data-parallel scaling: training images/s on 1 and N devices for two of the course's networks.

    python benchmarks/multi_device.py --devices 1,2 --networks cifar_resnet20,mnist_two_layer_cnn

Each (network, devices) pair runs in a fresh process (logical CPU devices must be configured
before TensorFlow starts) through ``course.distribute`` and ``course.training.compile_for``: the
same global batch, random images, a few warm-up steps, then ``--steps`` timed steps. On a
CPU-only machine the N devices are logical devices sharing the same cores, so this measures the
overhead of the replication and the all-reduce, not a speed-up; on a machine with N GPUs it
measures real scaling.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

WORKER = """
import json, sys, time
import numpy as np
import course
sys.path.insert(0, "benchmarks")
import machine
from course import distribute, models, recipes, training
name, devices, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
plan = distribute.plan(devices, batch)
import keras, tensorflow as tf
shape = (28, 28, 1) if name.startswith("mnist") else (32, 32, 3)
x = np.random.default_rng(0).uniform(0, 255, (batch * 4, *shape)).astype("float32")
y = np.arange(len(x)) % 10
with distribute.activated(plan):
    model = models.create(name, input_shape=shape, num_classes=10)
    training.compile_for(model, recipes.Recipe(data="cifar10", batch_size=batch), 100)
    ds = course.data.pipeline(x, y, batch, drop_remainder=True).repeat()
    model.fit(ds, steps_per_epoch=3, epochs=1, verbose=0, shuffle=False)
    timer = machine.step_timer()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False, callbacks=[timer])
    print(json.dumps({"images_per_s": machine.images_per_s(timer.times, batch)}))
"""


def measure(name: str, devices: int, batch: int, steps: int) -> float:
    out = subprocess.run([sys.executable, "-c", WORKER, name, str(devices), str(batch), str(steps)],
                         capture_output=True, text=True, cwd=ROOT, timeout=1800)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])["images_per_s"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="1,2")
    parser.add_argument("--networks", default="cifar_resnet20,mnist_two_layer_cnn")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import machine

    facts = machine.describe()
    machine.print_facts(facts)
    counts = [int(d) for d in args.devices.split(",")]
    rows = {}
    for _ in range(args.repeats):  # interleaved, so background load hits all alike
        for name in args.networks.split(","):
            for n in counts:
                speed = measure(name, n, args.batch, args.steps)
                rows.setdefault((name, n), []).append(speed)
                print(f"  {name} on {n} device(s): {speed:.0f} images/s", flush=True)
    import statistics

    print(f"\nglobal batch {args.batch}, {args.steps} timed steps, median of {args.repeats}\n")
    print("| network | devices | images/s (median) | relative to 1 device |\n| --- | --- | --- | --- |")
    for name in args.networks.split(","):
        base = statistics.median(rows[(name, counts[0])])
        for n in counts:
            speed = statistics.median(rows[(name, n)])
            print(f"| {name} | {n} | {speed:.0f} | {speed / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
