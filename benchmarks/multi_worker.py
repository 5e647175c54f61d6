"""Multi-process data parallelism on one machine: the road to many machines, simulated.

    python benchmarks/multi_worker.py            # two processes on 127.0.0.1, JAX backend

Starts two worker processes on 127.0.0.1. Each one sets ``KERAS_BACKEND=jax``, joins the job
with ``keras.distribution.initialize(job_addresses=..., num_processes=2, process_id=i)`` (which
wraps ``jax.distributed.initialize``; CPU collectives through gloo), and trains the same
recipe on the same 2,048 real MNIST digits with ``course.training.train(recipe,
devices="all")``: a ``DataParallel``
distribution over the devices of *both* processes. On real machines, replace 127.0.0.1 by the
first worker's address and start one process per machine. Each worker prints its final loss and
a checksum of its weights: equal checksums mean the replicas stayed in step.

TensorFlow's own route, ``MultiWorkerMirroredStrategy`` with ``TF_CONFIG``, fails under Keras 3
(keras-team/keras#20585), which is why this uses JAX. Needs ``pip install -e ".[jax]"``.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, os, sys
os.environ["KERAS_BACKEND"] = "jax"
import jax
jax.config.update("jax_cpu_collectives_implementation", "gloo")
import course
import keras
import numpy as np
process, address = int(sys.argv[1]), sys.argv[2]
keras.distribution.initialize(job_addresses=address, num_processes=2, process_id=process)
from course import recipes, training
# Every process loads the same 2,048 real MNIST digits (fast-mode subset); the distribution
# gives each process its shard of every global batch.
recipe = recipes.Recipe("lenet5", "mnist", batch_size=128, learning_rate=3e-3)
result = training.train(recipe, devices="all", fast=True, epochs=3, verbose=0)
weights = result.model.get_weights()
print(json.dumps({"process": process, "devices": result.metrics["devices"],
                  "test_accuracy": result.metrics["test_accuracy"],
                  "loss": [round(v, 4) for v in result.history["loss"]],
                  "checksum": round(float(sum(np.abs(w).sum() for w in weights)), 3)}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    address = f"127.0.0.1:{free_port()}"
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(i), address], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "KERAS_BACKEND": "jax"})
               for i in range(2)]
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=1200)
        if worker.returncode:
            print(err[-3000:], file=sys.stderr)
            return 1
        reports.append(json.loads(out.strip().splitlines()[-1]))
    for r in reports:
        print(f"process {r['process']}: {r['devices']['replicas']} replicas "
              f"({', '.join(r['devices']['devices'])}), global batch "
              f"{r['devices']['global_batch']}, loss per epoch {r['loss']}, test accuracy "
              f"{r['test_accuracy']:.2%} (512 images), "
              f"weights checksum {r['checksum']}")
    same = len({r["checksum"] for r in reports}) == 1
    print("replicas in step:", "yes" if same else "NO")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
