"""Experiments the lessons run: several trainings composed into the comparison a lesson shows.

Each returns ``{name: TrainResult}`` (``course.training.TrainResult``: history, metrics, model),
so a notebook prints and plots what its own run measured and a benchmark in ``benchmarks/``
prints the same comparison at a larger scale. This module is the top of the package: it imports
training, models and data, and nothing in ``course`` imports it.

- ``residual_variants_experiment`` (lesson 09): one pre-activation CIFAR ResNet with each of the
  five residual-unit arrangements of He et al. 2016, trained alike;
- ``transfer_experiment`` (lesson 14): pretrain on CIFAR-10 classes 0-4, learn 5-9 from few labels
  three ways.
"""
from __future__ import annotations

from course import data, models, training, transfer
from course.models.resnet import preact_resnet
from course.recipes import Recipe

#: The residual-unit arrangements of He et al. 2016, "Identity Mappings in Deep Residual
#: Networks" (Figure 4), with the CIFAR-10 test error (%) of ResNet-110 built with each (Table 3).
RESIDUAL_VARIANTS = {
    "a": ("original", 6.61),
    "b": ("BN after addition", 8.17),
    "c": ("ReLU before addition", 7.84),
    "d": ("ReLU-only pre-activation", 6.71),
    "e": ("full pre-activation", 6.37),
}


def residual_variants_experiment(depth=20, epochs=4, n_train=5000, variants="abcde", seed=0,
                                 verbose=0) -> dict:
    """Lesson 09's comparison on real CIFAR-10: the pre-activation CIFAR ResNet of ``depth``
    layers (``course.models.resnet.preact_resnet``) built with each residual-unit arrangement
    in ``variants``, every one trained alike (same images, order, seed and recipe: SGD 0.1 with
    cosine decay, weight decay 1e-4, flips and 4-pixel pad-and-crop) on the first ``n_train``
    training images (``None``: all) for ``epochs`` epochs. The histories are the training
    batches' loss and accuracy; ``metrics["test_accuracy"]`` is measured on the test set after
    training (and precise batch norm). No per-epoch validation: after a few epochs the moving
    batch-norm statistics still lag the weights, and that lag, not the arrangement, would
    decide the curves. Fast mode (``COURSE_FAST=1``): the data subset and one epoch. Returns
    ``{variant: TrainResult}``."""
    (x_train, y_train), test = data.load("cifar10")
    task = ((x_train[:n_train], y_train[:n_train]), test)
    recipe = Recipe(data="cifar10", epochs=epochs, optimizer="sgd", learning_rate=0.1,
                    schedule="cosine", weight_decay=1e-4, augment=("flip", "pad_crop:4"))
    results = {}
    for variant in variants:
        training.set_seed(seed)  # the same initial draws for every arrangement
        model = preact_resnet(depth, variant=variant)
        results[variant] = training.train(recipe, task, model=model, seed=seed, verbose=verbose)
    return results


def residual_variants_table(results: dict) -> tuple:
    """``(title, columns, rows)``: the paper's test error beside this run's for each of the five
    arrangements ("-" where this run trained none; for ``visualize.compare_histories(...,
    table=...)``)."""
    depth = next(iter(results.values())).model.name.removeprefix("preact_resnet")
    rows = [(f"({v}) {name}", f"{paper:.2f}%",
             f"{1 - results[v].metrics['test_accuracy']:.2%}" if v in results else "-")
            for v, (name, paper) in RESIDUAL_VARIANTS.items()]
    return ("CIFAR-10 test error", ["residual unit", "paper, ResNet-110",
                                    f"this run, ResNet-{depth}"], rows)


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
    task = ((x_train[labelled], y_train[labelled] - 5),
            (x_test[y_test >= 5], y_test[y_test >= 5] - 5))
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
