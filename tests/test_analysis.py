"""course.analysis: the lecture's AlexNet cost table, row by row, and receptive fields."""
from __future__ import annotations

import keras
import pytest

from course import analysis, models

# The lecture's table for the 64-192-384-256-256 AlexNet (227x227 input, conv1 padding 2):
# name: (output C, H, W), memory KB, parameters, FLOPs (multiply-adds)
LECTURE_ALEXNET = {
    "conv1": ((64, 56, 56), 784, 23_296, 72_855_552),
    "pool1": ((64, 27, 27), 182.25, 0, 419_904),
    "conv2": ((192, 27, 27), 546.75, 307_392, 223_948_800),
    "pool2": ((192, 13, 13), 126.75, 0, 292_032),
    "conv3": ((384, 13, 13), 253.5, 663_936, 112_140_288),
    "conv4": ((256, 13, 13), 169, 884_992, 149_520_384),
    "conv5": ((256, 13, 13), 169, 590_080, 99_680_256),
    "pool5": ((256, 6, 6), 36, 0, 82_944),
    "fc6": ((4096,), 16, 37_752_832, 37_748_736),
    "fc7": ((4096,), 16, 16_781_312, 16_777_216),
    "logits": ((1000,), 3.90625, 4_097_000, 4_096_000),
}


def test_alexnet_table_row_by_row():
    rows = {r.name: r for r in analysis.layer_table(models.create("alexnet_lecture"))}
    for name, (shape, memory, params, flops) in LECTURE_ALEXNET.items():
        row = rows[name]
        assert row.output_shape == shape, name
        assert row.memory_kb == pytest.approx(memory), name
        assert row.params == params, name
        assert row.flops == flops, name
    assert rows["conv1"].kernel == (11, 11) and rows["conv1"].stride == (4, 4)
    assert rows["pad1"].pad == (2, 2)
    total = analysis.totals(rows.values())
    assert total["params"] == 61_100_840


def test_lenet_partial_and_subsampling_layers_are_counted():
    rows = {r.name: r for r in analysis.layer_table(models.create("lenet5"))}
    # C3: 10x10 outputs per map, 60 input maps read in total (Table I), 5x5 kernels
    assert rows["C3"].flops == 10 * 10 * (6 * 3 + 9 * 4 + 6) * 25 == 150_000
    assert rows["S2"].flops == 6 * 14 * 14 * 4 and rows["S2"].stride == (2, 2)
    assert rows["C1"].flops == 6 * 28 * 28 * 25 and rows["F6"].flops == 120 * 84
    text = analysis.format_table(list(rows.values()))
    assert "60,850" in text and "150.0k" in text


def test_grouped_convolutions_cost_half():
    one = {r.name: r for r in analysis.layer_table(models.create("alexnet"))}
    two = {r.name: r for r in analysis.layer_table(models.create("alexnet", groups=2))}
    assert two["conv2"].flops * 2 == one["conv2"].flops
    assert two["conv3"].flops == one["conv3"].flops  # conv3 talks across the towers


def test_receptive_fields():
    fields = {f.name: f for f in analysis.receptive_field(models.create("vgg16"))}
    assert fields["block1_conv2"].size == 5       # two stacked 3x3
    assert fields["block1_pool"].size == 6 and fields["block1_pool"].jump == 2
    assert fields["block5_conv3"].size == 196     # VGG-16 conv5_3 (Araujo et al. 2019)
    assert fields["block5_pool"].size == 212 and fields["block5_pool"].jump == 32
    stack = keras.Sequential([keras.Input((32, 32, 1))] + [
        keras.layers.Conv2D(1, 3, padding="same", name=f"c{i}") for i in range(1, 4)])
    assert [f.size for f in analysis.receptive_field(stack)] == [3, 5, 7]  # three 3x3 = 7x7
    lenet = {f.name: f for f in analysis.receptive_field(models.create("mnist_two_layer_cnn"))}
    assert lenet["pool2"].size == 16


def test_summary_cli(capsys):
    from course.__main__ import main

    assert main(["summary", "alexnet_lecture"]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "61,100,840" in out and "784KB" in out


def test_response_stds_one_per_3x3_layer():
    import numpy as np

    model = models.create("cifar_resnet20")
    stds = analysis.response_stds(model, np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)))
    assert len(stds) == 9 and all(s > 0 for _, s in stds)
    assert stds[0][0] == "stage1_block1_bn2"


def test_saliency_is_the_input_gradient():
    import keras
    import numpy as np

    from course.visualize import saliency

    inputs = keras.Input((4, 4, 1))
    dense = keras.layers.Dense(3, use_bias=False)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 1)).astype("float32")
    maps = saliency(model, x, classes=[1, 2])
    kernel = dense.kernel.numpy()
    np.testing.assert_allclose(maps[0], np.abs(kernel[:, 1]).reshape(4, 4), rtol=1e-6)
    np.testing.assert_allclose(maps[1], np.abs(kernel[:, 2]).reshape(4, 4), rtol=1e-6)
