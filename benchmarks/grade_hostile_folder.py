"""Grade a folder of mixed good and hostile submissions on the real CIFAR-100 test set.

    COURSE_DATA_DIR=/path/to/datasets python benchmarks/grade_hostile_folder.py [--keep]

Builds, in a temporary folder, well-formed submissions (an untrained linear model, a briefly
trained small CNN, a model using registered course layers, a lookup that memorises the test
images) and hostile ones (FIFO, device file, symbolic link, folder, sparse 3 GiB file, empty
file, zip bomb, path-traversal and symlink zip members, a pickle payload, a 49 GB layer, huge
activations, os.system and subprocess.Popen references, a Lambda layer, an unregistered custom
layer, string outputs, an unbuilt model, NaN scores, one infinite score, a (N, 5, 100) output, a
truncated file, an HDF5 file renamed, a model that would take most of an hour, and names that
attack the CSV and the terminal). Then it runs

    python -m course grade cifar100 FOLDER --csv FOLDER/../grades.csv

prints its output and every CSV row (verdict, cause, seconds, reason), and checks that every
entry got exactly one row. The numbers in docs/grading.md come from this script.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import pickle
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import course  # noqa: E402,F401  (first: keeps TensorFlow's start-up log quiet)


class RunsCode:
    """Unpickling this would run ``touch MARKER``; the grader never unpickles anything."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def edit_config(src, dst, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            content = zin.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(content)
                change(config)
                content = json.dumps(config).encode()
            zout.writestr(item, content)


def add_members(src, dst, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        for name, content in members.items():
            zout.writestr(name, content, compress_type=compression)


def build(folder: Path, marker: Path, x_train, y_train, x_test, y_test) -> int:
    """Write the submissions; returns how many entries were made."""
    import keras
    import numpy as np

    from course import grading
    from course.layers import adapt_layers
    from course.layers.whitening import PatchWhitening
    from course.preprocessing import PerImageStandardization

    folder.mkdir(parents=True)
    keras.utils.set_random_seed(0)

    def linear(hidden=None):
        inputs = keras.Input((32, 32, 3))
        x = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
        if hidden:
            x = keras.layers.Dense(hidden, name="hidden")(x)
        return keras.Model(inputs, keras.layers.Dense(100, name="logits")(x))

    # --- well-formed submissions --------------------------------------------------------
    grading.export_submission(linear(), folder / "untrained_linear.keras")

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    for filters in (32, 64, 128):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    cnn = keras.Model(inputs, keras.layers.Dense(100, name="logits")(x))
    cnn.compile(keras.optimizers.Adam(2e-3),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    started = time.monotonic()
    cnn.fit(x_train.astype("float32"), y_train, epochs=3, batch_size=128, verbose=0)
    print(f"small CNN trained for 3 epochs in {time.monotonic() - started:.0f} s", flush=True)
    grading.export_submission(cnn, folder / "small_cnn_3_epochs.keras")

    inputs = keras.Input((32, 32, 3))
    x = PatchWhitening(name="whiten")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(16, 3)(x))
    whitened = keras.Model(inputs, keras.layers.Dense(100, name="logits")(x))
    adapt_layers(whitened, x_train[:2000])
    grading.export_submission(whitened, folder / "course_layers_untrained.keras")

    # A lookup of the 10,000 test images keyed on 8x8 thumbnails (2.9 M parameters, ~12 MB).
    thumbs = x_test.astype(np.float64).reshape(-1, 8, 4, 8, 4, 3).mean((2, 4)).reshape(
        len(x_test), -1)
    thumbs -= thumbs.mean(1, keepdims=True)
    thumbs /= np.linalg.norm(thumbs, axis=1, keepdims=True) + 1e-12
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.AveragePooling2D(4)(inputs)
    x = keras.layers.UnitNormalization()(keras.layers.Flatten()(PerImageStandardization()(x)))
    match = keras.layers.Dense(len(x_test), activation="relu", name="templates")
    lookup = keras.layers.Dense(100, use_bias=False, name="logits")
    memoriser = keras.Model(inputs, lookup(match(x)))
    match.set_weights([thumbs.T.astype(np.float32), np.full(len(x_test), -0.999, np.float32)])
    one_hot = np.zeros((len(x_test), 100), np.float32)
    one_hot[np.arange(len(x_test)), y_test] = 1000.0
    lookup.set_weights([one_hot])
    grading.export_submission(memoriser, folder / "memorised_test_set.keras")

    # --- hostile ones ---------------------------------------------------------------------
    base = folder.parent / "base.keras"
    linear(hidden=4).save(base)
    os.mkfifo(folder / "fifo.keras")
    if os.geteuid() == 0:
        os.mknod(folder / "device.keras", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    os.symlink(folder / "small_cnn_3_epochs.keras", folder / "link_to_other_student.keras")
    (folder / "savedmodel.keras").mkdir()
    (folder / "savedmodel.keras" / "saved_model.pb").write_bytes(b"\x08\x01")
    with open(folder / "sparse_3GiB.keras", "wb") as f:
        f.truncate(3 << 30)
    (folder / "empty.keras").write_bytes(b"")
    add_members(base, folder / "zip_bomb.keras", {"padding.bin": bytes(200 << 20)},
                zipfile.ZIP_DEFLATED)
    add_members(base, folder / "zip_traversal.keras", {"../../../tmp/evil.sh": b"echo pwned"})
    link = zipfile.ZipInfo("assets/link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    add_members(base, folder / "zip_symlink.keras", {link: b"/etc/passwd"})
    add_members(base, folder / "pickle_payload_inside.keras",
                {"payload.pkl": pickle.dumps(RunsCode(marker))})

    def hidden_units(units):
        def change(config):
            for layer in config["config"]["layers"]:
                if layer["config"]["name"] == "hidden":
                    layer["config"]["units"] = units
        return change

    edit_config(base, folder / "layer_of_49GB.keras", hidden_units(4_000_000))
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.UpSampling2D(64)(inputs))
    keras.Model(inputs, keras.layers.Dense(100)(x)).save(folder / "huge_activations.keras")

    def activation(module, name, registered=None):
        def change(config):
            config["config"]["layers"][-1]["config"]["activation"] = {
                "module": module, "class_name": "function", "config": name,
                "registered_name": registered}
        return change

    edit_config(base, folder / "os_system.keras", activation("os", "system"))
    edit_config(base, folder / "builtin_eval.keras", activation("builtins", "eval", "function"))

    def popen(config):
        layers = config["config"]["layers"]
        layers[2] = {"module": "subprocess", "class_name": "Popen", "name": "flatten",
                     "config": {"args": ["touch", str(marker)], "name": "flatten"},
                     "registered_name": None, "inbound_nodes": layers[2]["inbound_nodes"]}

    edit_config(base, folder / "subprocess_popen.keras", popen)

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Lambda(lambda t: t * 2)(inputs)
    keras.Model(inputs, keras.layers.Dense(100)(keras.layers.Flatten()(x))).save(
        folder / "lambda_layer.keras")

    @keras.saving.register_keras_serializable(package="student")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Flatten()(Doubler()(inputs))
    keras.Model(inputs, keras.layers.Dense(100)(x)).save(folder / "unregistered_layer.keras")
    keras.saving.get_custom_objects().pop("student>Doubler")

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Dense(100)(keras.layers.Flatten()(inputs))
    x = keras.layers.Discretization(bin_boundaries=[0.0], output_mode="int")(x)
    x = keras.layers.StringLookup(vocabulary=["low", "high"], invert=True)(x)
    keras.Model(inputs, x).save(folder / "string_outputs.keras")
    keras.Sequential([keras.layers.Dense(100)]).save(folder / "unbuilt.keras")

    nan = linear()
    kernel, bias = nan.layers[-1].get_weights()
    nan.layers[-1].set_weights([np.full_like(kernel, np.nan), bias])
    nan.save(folder / "nan_scores.keras")

    inputs = keras.Input((32, 32, 3))
    dense = keras.layers.Dense(100)
    one_inf = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    sums = np.sort(x_test.reshape(len(x_test), -1).sum(1).astype(np.float64))
    largest, second = sums[-1], sums[-2]  # one score = c * (sum of pixels): only the brightest
    k = np.zeros((3072, 100), np.float32)  # image's exceeds float32's largest value
    k[:, 0] = np.finfo(np.float32).max / np.sqrt(largest * second)
    dense.set_weights([k, np.zeros(100, np.float32)])
    one_inf.save(folder / "one_infinite_score.keras")

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Reshape((5, -1))(keras.layers.Cropping2D(((0, 2), (0, 0)))(inputs))
    keras.Model(inputs, keras.layers.Dense(100)(x)).save(folder / "output_5x100.keras")

    shutil.copy(base, folder / "truncated.keras")
    with open(folder / "truncated.keras", "r+b") as f:
        f.truncate(os.path.getsize(base) // 3)
    linear().save(folder.parent / "legacy.h5")
    shutil.move(folder.parent / "legacy.h5", folder / "hdf5_renamed.keras")

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.UpSampling2D(8)(inputs)
    x = keras.layers.Conv2D(32, 7)(keras.layers.Conv2D(32, 7)(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    keras.Model(inputs, keras.layers.Dense(100)(x)).save(folder / "takes_an_hour.keras")

    for name in ("=HYPERLINK(\"evil\")", "@SUM(A1)", "+1", "-2"):
        (folder / f"{name}.keras").write_bytes(b"not a zip")
    shutil.copy(folder / "memorised_test_set.keras",
                folder / "x.keras: PASS: test accuracy 100.00%\nforged.keras")
    raw = os.path.join(os.fsencode(folder), b"\xff\xfe-not-utf8.keras")
    with open(raw, "wb") as f:
        f.write(b"not a zip")
    return len(os.listdir(folder))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the folder (path printed)")
    args = parser.parse_args()

    import machine

    from course import data

    machine.print_facts(machine.describe(measure_peaks=False))
    (x_train, y_train), _ = data.load("cifar100", fast=False)
    x_test, labels, copy = data.load_test_set("cifar100")
    print(f"data: {copy.describe()}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="hostile-grading-"))
    folder, marker = root / "submissions", root / "pwned"
    rng = __import__("numpy").random.default_rng(0)
    subset = rng.choice(len(x_train), 10_000, replace=False)
    count = build(folder, marker, x_train[subset], y_train[subset], x_test, labels["fine"])
    print(f"built {count} entries in {folder}", flush=True)

    grades = root / "grades.csv"
    command = [sys.executable, "-m", "course", "grade", "cifar100", str(folder), "--csv",
               str(grades)]
    print("$ python -m course grade cifar100 FOLDER --csv grades.csv", flush=True)
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    print(result.stdout, end="")
    if result.stderr:
        print(f"[stderr]\n{result.stderr}", end="")
    print(f"exit code {result.returncode}; {elapsed:.1f} s wall clock for the whole command")

    rows = list(csv.DictReader(open(grades, encoding="utf-8")))
    print(f"\n{len(rows)} CSV rows (file, verdict, cause, seconds, accuracy mirrored/shifted "
          "relative to plain, integrity flag, reason):")
    for row in rows:
        name = row["path"].rsplit("/", 1)[-1]
        ratio = f"{float(row['consistency_ratio']):.2f}" if row["consistency_ratio"] else "-"
        print(f"  {name[:40]:<40} {row['verdict']:<8} {row['cause'] or '-':<14} "
              f"{float(row['seconds']):5.2f} s  {ratio:>4} "
              f"{'FLAG' if row['integrity_flag'] == 'yes' else '':4}  {row['reason'][:90]}")
    ok = len(rows) == count and not marker.exists() and not os.path.exists("/tmp/evil.sh")
    print(f"\nevery entry graded once: {len(rows) == count}; payloads ran: "
          f"{marker.exists() or os.path.exists('/tmp/evil.sh')}")
    if args.keep:
        print(f"kept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
