"""Experiments the lessons run: several trainings composed into the comparison a lesson shows.

Each returns ``{name: TrainResult}`` (``course.training.TrainResult``: history, metrics, model),
so a notebook prints and plots what its own run measured and a benchmark in ``benchmarks/``
prints the same comparison at a larger scale. This module is the top of the package: it imports
training, models and data, and nothing in ``course`` imports it.

- ``transfer_experiment`` (lesson 14): pretrain on CIFAR-10 classes 0-4, learn 5-9 from few labels
  three ways.
"""
from __future__ import annotations

from course import data, models, training, transfer
from course.recipes import Recipe


def transfer_experiment(pretrain_epochs=15, transfer_epochs=30, n_labelled=500, seed=0,
                        backbone="cifar_resnet20", middle="stage2_block1_conv1", lr=0.05,
                        verbose=0) -> dict:
    """The lesson's comparison on real CIFAR-10: pretrain ``backbone`` on classes 0-4, then learn
    classes 5-9 from ``n_labelled`` images three ways. Returns ``{method: TrainResult}``; each
    history's ``val_accuracy`` is measured on 2,000 other labelled target-class training images
    (never the test set), and ``metrics["test_accuracy"]`` on the target classes' test images.

    Methods: from scratch; feature extraction (pretrained layers frozen, new head trained);
    fine-tuning with discriminative rates (early layers 0.01x, from ``middle`` on 0.1x, head 1x).
    """
    (x_train, y_train), (x_test, y_test) = data.load("cifar10")
    source, target = y_train < 5, (y_train >= 5)
    pretraining = ((x_train[source], y_train[source]), (x_test[y_test < 5], y_test[y_test < 5]))
    target_ids = target.nonzero()[0]
    labelled, held_out = target_ids[:n_labelled], target_ids[n_labelled:n_labelled + 2000]
    task = ((x_train[labelled], y_train[labelled] - 5), (x_test[y_test >= 5], y_test[y_test >= 5] - 5))
    validation = (x_train[held_out], y_train[held_out] - 5)
    sgd = Recipe(data="cifar10", optimizer="sgd", learning_rate=lr, schedule="constant",
                 momentum=0.9, precise_bn=False)

    def learn_target(model, recipe):
        return training.train(recipe.replace(epochs=transfer_epochs, batch_size=32), task,
                              model=model, validation_data=validation, seed=seed + 1,
                              fast=False, verbose=verbose)

    base = models.create(backbone, num_classes=5)
    training.train(sgd.replace(epochs=pretrain_epochs), pretraining, model=base, seed=seed,
                   fast=False, verbose=verbose)
    training.set_seed(seed + 1)
    results = {"from scratch": learn_target(
        transfer.with_new_head(models.create(backbone, num_classes=5), 5), sgd)}
    results["feature extraction"] = learn_target(
        transfer.freeze(transfer.with_new_head(transfer.copy_model(base), 5), up_to="new_logits"),
        sgd)
    results["fine-tune, discriminative rates"] = learn_target(
        transfer.with_new_head(transfer.copy_model(base), 5),
        sgd.replace(layer_lr_multipliers=((None, 0.01), (middle, 0.1), ("new_logits", 1.0))))
    return results
