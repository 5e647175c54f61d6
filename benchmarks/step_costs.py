"""What the work beside the training step costs: the augmentation of one batch, and one
Lookahead blend of the reference network's weights (milliseconds, median of 50 calls).

    python benchmarks/step_costs.py

On two cores this work takes a core from the step's parallel kernels, so it costs the step
more than its own time; ``benchmarks/results/cifar100_reference.md`` quotes these figures.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    import keras
    import machine
    import tensorflow as tf

    import instructor.reference  # noqa: F401  (registers the reference recipe)
    from course import augment, recipes, training
    from course.callbacks import Lookahead

    machine.print_facts(machine.describe())
    recipe = recipes.get("cifar100_reference")
    images = tf.constant(np.random.default_rng(0).uniform(
        0, 255, (recipe.batch_size, 32, 32, 3)).astype("float32"))
    for specs in (("flip",), ("pad_crop:2",), recipe.augment):
        layer = augment.sequential(specs, seed=0)
        step = tf.function(lambda batch, layer=layer: layer(batch, training=True))
        print(f"augment {'+'.join(specs)}, batch {recipe.batch_size}: "
              f"{machine.median_ms(lambda step=step: step(images).numpy()):.2f} ms")
    model = recipe.create()
    training.compile_for(model, recipe, 100)
    lookahead = Lookahead(100)
    lookahead.set_model(model)
    lookahead.on_train_batch_begin(0)
    weights = sum(int(np.prod(v.shape)) for v in lookahead._variables())
    blend = machine.median_ms(lambda: (lookahead._update(0.9),
                                       keras.ops.convert_to_numpy(model.weights[0])))
    print(f"Lookahead blend of {weights:,} weights: {blend:.2f} ms (every 5 steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
