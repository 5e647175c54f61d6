"""Transfer learning: freeze layers, fine-tune with discriminative learning rates.

The lecture's tip (after Yosinski et al. 2014 and Howard & Ruder 2018): train the new head at the
base rate, the middle of the pretrained network 10x slower and the early layers 100x slower (or
frozen), because early features (edges, colours) transfer best.
"""
from __future__ import annotations

import keras


def freeze(model: keras.Model, up_to: str | int | None = None) -> keras.Model:
    """Make layers untrainable: all of them, or those before layer ``up_to`` (name or index)."""
    stop = len(model.layers) if up_to is None else _index(model, up_to)
    for layer in model.layers[:stop]:
        layer.trainable = False
    return model


def unfreeze(model: keras.Model) -> keras.Model:
    for layer in model.layers:
        layer.trainable = True
    return model


def _index(model, name_or_index):
    if isinstance(name_or_index, int):
        return name_or_index
    names = [layer.name for layer in model.layers]
    if name_or_index not in names:
        raise ValueError(f"No layer named {name_or_index!r}; layers are: {', '.join(names)}")
    return names.index(name_or_index)


def layer_multipliers(model: keras.Model, groups: list[tuple[str | None, float]]) -> dict:
    """Learning-rate multipliers per variable path from ``[(first_layer_name, multiplier), ...]``.

    Each group starts at the named layer and runs to the next group's start, e.g.
    ``[(None, 0.01), ("conv3", 0.1), ("head", 1.0)]``: early layers 0.01x, middle 0.1x, head 1x.
    """
    starts = [0 if name is None else _index(model, name) for name, _ in groups]
    multipliers = {}
    for (name, mult), start, end in zip(groups, starts, starts[1:] + [len(model.layers)]):
        for layer in model.layers[start:end]:
            for variable in layer.trainable_weights:
                multipliers[variable.path] = float(mult)
    return multipliers


def _discriminative(base):
    class Discriminative(base):
        """``base`` optimizer whose learning rate is multiplied per variable (by its path)."""

        def __init__(self, multipliers=None, **kwargs):
            super().__init__(**kwargs)
            self.multipliers = dict(multipliers or {})

        def update_step(self, gradient, variable, learning_rate):
            # The backend may pass its own variable type: look the Keras variable up by index.
            path = self._trainable_variables[self._get_variable_index(variable)].path
            factor = self.multipliers.get(path, 1.0)
            return super().update_step(gradient, variable, learning_rate * factor)

        def get_config(self):
            return {**super().get_config(), "multipliers": self.multipliers}

    Discriminative.__name__ = f"Discriminative{base.__name__}"
    return keras.saving.register_keras_serializable(package="course")(Discriminative)


DiscriminativeSGD = _discriminative(keras.optimizers.SGD)
DiscriminativeAdam = _discriminative(keras.optimizers.Adam)


def with_new_head(network: keras.Model, num_classes: int, features: str = "avg_pool"):
    """``network`` up to layer ``features`` with a fresh dense head named ``new_logits``."""
    x = network.get_layer(features).output
    return keras.Model(network.input, keras.layers.Dense(num_classes, name="new_logits")(x))


def transfer_experiment(pretrain_epochs=15, transfer_epochs=30, n_labelled=500, seed=0,
                        backbone="cifar_resnet20", middle="stage2_block1_conv1", lr=0.05):
    """The lesson's comparison on real CIFAR-10: pretrain ``backbone`` on classes 0-4, then learn
    classes 5-9 from ``n_labelled`` images three ways. Returns ``{method: history dict}`` with
    the target-task test accuracy per epoch under ``val_accuracy``.

    Methods: from scratch; feature extraction (pretrained layers frozen, new head trained);
    fine-tuning with discriminative rates (early layers 0.01x, from ``middle`` on 0.1x, head 1x).
    """
    import numpy as np

    from course import data, models

    (x_train, y_train), (x_test, y_test) = data.load("cifar10")
    source = y_train < 5
    x_src, y_src = x_train[source].astype("float32"), y_train[source]
    picked = np.flatnonzero(~source)[:n_labelled]
    x_tgt, y_tgt = x_train[picked].astype("float32"), y_train[picked] - 5
    test = y_test >= 5
    x_val, y_val = x_test[test].astype("float32"), y_test[test] - 5
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    keras.utils.set_random_seed(seed)
    base = models.create(backbone, num_classes=5)
    base.compile(keras.optimizers.SGD(lr, momentum=0.9), loss, metrics=["accuracy"])
    base.fit(x_src, y_src, epochs=pretrain_epochs, batch_size=128, verbose=0)

    def pretrained():
        copy = keras.models.clone_model(base)
        copy.set_weights(base.get_weights())
        return with_new_head(copy, 5)

    def fit(model, optimizer):
        model.compile(optimizer, loss, metrics=["accuracy"])
        return model.fit(x_tgt, y_tgt, epochs=transfer_epochs, batch_size=32, verbose=0,
                         validation_data=(x_val, y_val)).history

    keras.utils.set_random_seed(seed + 1)
    results = {"from scratch": fit(with_new_head(models.create(backbone, num_classes=5), 5),
                                   keras.optimizers.SGD(lr, momentum=0.9))}
    results["feature extraction"] = fit(freeze(pretrained(), up_to="new_logits"),
                                        keras.optimizers.SGD(lr, momentum=0.9))
    finetune = pretrained()
    multipliers = layer_multipliers(finetune, [(None, 0.01), (middle, 0.1), ("new_logits", 1.0)])
    results["fine-tune, discriminative rates"] = fit(
        finetune, DiscriminativeSGD(multipliers=multipliers, learning_rate=lr, momentum=0.9))
    return results
