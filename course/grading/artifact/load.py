"""One ``.keras`` artifact: load it safely, check the contract, export it.

``load_submission`` is what a notebook (and ``export_submission``) calls in its own process;
``load_checked`` is what the grader's worker (``evaluate``) loads with. Both load with
``keras.saving.load_model(..., safe_mode=True, compile=False)`` after the checks of
``precheck`` and after ``course.saving.register_all()``, so whatever ``export_submission``
accepts, the grader accepts, and no code from the file ever runs.
"""
from __future__ import annotations

from pathlib import Path

from course.grading.artifact.precheck import inspect_archive, take_file
from course.grading.contract import TASKS, GradingError, Limits, Refusal, Task, io_problem

MEMORY_WORDS = ("ResourceExhausted", "MemoryError", "OOM when allocating", "bad_alloc",
                 "Cannot allocate memory", "failed to allocate", "Unable to allocate")


def registration_problem(names) -> Refusal | None:
    """A ``Refusal`` if the config names ``package>Name`` objects that are not registered."""
    import keras

    from course.saving import register_all

    register_all()
    known = keras.saving.get_custom_objects()
    missing = sorted(n for n in names if n not in known)
    if not missing:
        return None
    course_names = [n for n in missing if n.startswith("course>")]
    if course_names:
        return Refusal("unregistered",
                       f"it uses {', '.join(course_names)}, which this version of the course "
                       "package does not define. Use the course package the grader uses "
                       "(or Keras layers).")
    return Refusal("unregistered",
                   f"it needs custom objects that are not registered here: "
                   f"{', '.join(missing)}. The grader only knows Keras layers and the course's "
                   "registered layers; rewrite your own layer with those.")


def classify_load_error(err: BaseException) -> Refusal:
    """A ``Refusal`` for an exception from ``keras.saving.load_model`` (after the prechecks)."""
    import re
    import zipfile

    text = f"{type(err).__name__}: {err}"
    if isinstance(err, zipfile.BadZipFile) or "CRC-32" in text:
        return Refusal("bad_zip", "a member of the zip archive is damaged (its checksum does "
                                  "not match): the file was altered or cut short. "
                                  "Re-export it with course.grading.export_submission().", text)
    if isinstance(err, MemoryError) or any(word in text for word in MEMORY_WORDS):
        return Refusal("memory", "loading the model exceeded the grader's memory limit.", text)
    if "safe_mode" in text:
        return Refusal("code", "Keras safe mode refused it: it contains Python code. Replace "
                               "Lambda layers and Python functions with Keras or course layers.",
                       text)
    if "not a modeling function" in text or "Non-modeling APIs" in text \
            or "not a KerasSaveable" in text:
        return Refusal("foreign_object", "it refers to a Python object that is not a model "
                                         "part (Keras refused it). Use Keras or course layers.",
                       text)
    if "Could not locate" in text or "cannot be imported" in text:
        named = re.search(r"Could not (?:locate|deserialize) (class|function) '([^']{1,200})'",
                          text)
        what = f"the {named.group(1)} '{named.group(2)}'" if named else "a class or function"
        return Refusal("unknown_object", f"it uses {what}, which neither Keras nor the course "
                                         "defines. Use Keras or course layers and functions.",
                       text)
    return Refusal("keras_load", "Keras could not rebuild the model from the file (see detail: "
                                 "weights that do not match the layers, or a layer config this "
                                 "Keras version rejects). Re-export it with "
                                 "course.grading.export_submission().", text)


def load_checked(path, limits: Limits = Limits()):
    """Load an already-copied ``.keras`` file after every check; returns the model or raises
    ``Refusal``."""
    import keras

    info, _ = inspect_archive(path, limits)
    problem = registration_problem(info.registered_names)
    if problem:
        raise problem
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - every failure becomes a verdict, not a traceback
        raise classify_load_error(err) from None
    if not isinstance(model, keras.Model):
        raise Refusal("not_model", f"it holds a {type(model).__name__}, not a keras.Model.")
    return model


def load_submission(path, limits: Limits = Limits()):
    """Load a ``.keras`` file in this process with the grader's checks; returns ``(model,
    None)`` or ``(None, why)``.

    The same refusals as the grader (code, foreign objects, unregistered objects, damaged or
    oversized archives, FIFOs and devices), so what this accepts the grader accepts. Course
    layers load because ``course.saving.register_all()`` is called.
    """
    import tempfile

    path = Path(path)
    name = path.name
    try:
        with tempfile.TemporaryDirectory(prefix="course-load-") as tmp:
            copy = Path(tmp) / "model.keras"
            take_file(path, copy, limits)
            if path.suffix != ".keras":
                raise Refusal("not_keras", f"{name} does not end in .keras. Save with "
                                           "model.save('model.keras').")
            model = load_checked(copy, limits)
    except Refusal as refusal:
        why = f"cannot load {name}: {refusal.reason}"
        if refusal.cause == "missing":
            why = f"file not found: {path}. Export with course.grading.export_submission()."
        return None, why + (f" [{refusal.detail}]" if refusal.detail else "")
    return model, None


def contract_problem(model, task: Task) -> str | None:
    """Why ``model`` breaks the artifact contract (raw (N,32,32,3) in, classes out), or None."""
    return io_problem(model, task.input_shape, task.num_classes)


def export_submission(model, path="submission/model.keras", task_name: str = "cifar100"):
    """Check ``model`` against the artifact contract, save it, and check the file reloads the
    way the grader loads it."""
    task = TASKS[task_name]
    problem = contract_problem(model, task)
    if problem:
        raise GradingError(problem)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    _, why = load_submission(path)
    if why:
        raise GradingError(why)
    print(f"Saved {path}: raw (N, 32, 32, 3) images in, {task.num_classes} scores out. "
          f"Grade it with: python -m course grade {task_name} {path}")
    return path
