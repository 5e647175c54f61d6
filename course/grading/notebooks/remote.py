"""The judge's side of the student's kernel: ``Remote`` proxies and the request channel.

A check cell runs in the judge's process with the student's names bound to what the kernel sends
back: plain values and arrays as themselves, Keras models loaded from ``.keras`` files in safe
mode (``artifact.load_checked``: no code from the file runs), and everything else (a student's
function, class, layer) as a ``Remote``. Calling a ``Remote`` sends the arguments to the kernel
as plain data (``wire``), runs the student's code there (``agent.serve``) and reads the result
back the same way. An exception the student's code raised becomes one of the same builtin type
here (``ValueError``, ``NotImplementedError``, ...; never ``StopIteration``, ``SystemExit`` or
``AssertionError``, which would change how the judge's own code runs), carrying its message.
"""
from __future__ import annotations

import builtins
import os
import shutil
import sys

from course.grading.notebooks import wire

#: Builtin exceptions a student's error may take the type of on the judge's side.
MAPPED_ERRORS = {name: getattr(builtins, name) for name in (
    "ValueError", "TypeError", "KeyError", "IndexError", "AttributeError", "LookupError",
    "ArithmeticError", "ZeroDivisionError", "OverflowError", "FloatingPointError",
    "NotImplementedError", "RuntimeError", "RecursionError", "NameError", "UnboundLocalError",
    "ImportError", "ModuleNotFoundError", "MemoryError", "OSError", "FileNotFoundError",
    "UnicodeError", "BufferError")}


class StudentError(Exception):
    """An exception raised by the student's code in the kernel (its type is named like it)."""

    trace = ""


class KernelGone(RuntimeError):
    """The student's kernel stopped answering (died, killed at a limit, out of time)."""


def student_error(error: dict) -> StudentError:
    name = str(error.get("type") or "Error")
    name = "".join(ch for ch in name if ch.isalnum() or ch == "_")[:60] or "Error"
    bases = [MAPPED_ERRORS[b] for b in error.get("bases", []) if b in MAPPED_ERRORS][:1]
    cls = type(name, (*bases, StudentError), {"__module__": "student"})
    err = cls(str(error.get("message", ""))[:4000])
    err.trace = str(error.get("trace", ""))[-2000:]
    return err


class Remote:
    """An object that lives in the student's kernel. Calls, attributes, items, ``len`` and
    ``np.asarray`` are asked of the kernel; the answers come back as plain data."""

    def __init__(self, channel, number: int, info: dict):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_number", number)
        object.__setattr__(self, "_info", info)
        if info.get("name"):
            object.__setattr__(self, "__name__", str(info["name"])[:100])

    @property
    def __course_remote__(self) -> dict:
        """What the judge knows of the object (its type name, and why it stayed remote)."""
        return self._info

    def __call__(self, *args, **kwargs):
        return self._channel.request("call", args, kwargs, ref=self._number)

    def __course_run__(self, helper: str, args: tuple, kwargs: dict):
        """Run the course's check helper ``helper`` (one marked ``checks.helpers.kernel_side``)
        on ``args`` in the kernel, where this object lives; its plain result comes back."""
        return self._channel.request("run", args, kwargs, helper=helper)

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return self._channel.request("getattr", ref=self._number, name=name)

    def __getitem__(self, key):
        return self._channel.request("getitem", (key,), ref=self._number)

    def __len__(self) -> int:
        value = self._channel.request("len", ref=self._number)
        if type(value) is not int or value < 0:
            raise TypeError("len() of the student's object is not a count")
        return value

    def __iter__(self):
        value = self._channel.request("list", ref=self._number)
        return iter(value if type(value) is list else [])

    def __array__(self, dtype=None, copy=None):
        import numpy as np

        value = self._channel.request("array", ref=self._number)
        return np.asarray(value, dtype=dtype)

    def __repr__(self) -> str:
        return str(self._info.get("repr", f"<{self._info.get('type', 'object')}>"))

    def __setattr__(self, name, value):
        raise AttributeError("the judge does not change the student's objects")


def remote_class(channel, number: int, info: dict) -> Remote:
    """A ``Remote`` whose type is named like the object's (so messages say ``RandomCropFlip``,
    not ``Remote``), with ``__name__`` for functions and classes."""
    name = "".join(ch for ch in str(info.get("type", "object")) if ch.isalnum() or ch == "_")
    cls = type(name or "object", (Remote,), {"__module__": "student"})
    obj = cls(channel, number, info)
    return obj


class Channel:
    """Requests to the student's kernel through the exchange folder.

    ``execute(code, timeout)`` runs a line of code in the kernel and returns the text it printed
    (``None`` if the kernel is gone); ``load_model(path)`` loads a model the kernel saved, with
    the artifact grader's checks (or raises ``precheck.Refusal``)."""

    def __init__(self, folder: str, execute, load_model, limits: wire.Limits | None = None):
        self.folder, self.execute, self.load_model = folder, execute, load_model
        self.limits = limits or wire.Limits()
        self.count = 0
        self._inputs: list = []

    # -- sending ---------------------------------------------------------------------------

    def _other(self, prefix: str):
        def other(value):
            import numpy as np

            if isinstance(value, Remote):
                return {"__ref__": value._number}
            if isinstance(value, np.random.Generator):
                return {"__rng__": value.bit_generator.state}
            keras = sys.modules.get("keras")
            if keras is None:
                raise wire.WireError(f"a {type(value).__name__} cannot be sent to the student's "
                                     "code")
            if isinstance(value, keras.KerasTensor):
                self._inputs.append(value)
                return {"__input__": [list(value.shape), str(value.dtype)]}
            if isinstance(value, keras.Model):
                name = f"{prefix}-m{len(self._inputs)}-{id(value)}.keras"
                value.save(os.path.join(self.folder, name))
                return {"__keras__": name}
            if hasattr(value, "numpy") and hasattr(value, "dtype"):
                return wire.Encoder(self.folder, f"{prefix}-t{id(value)}")(
                    keras.ops.convert_to_numpy(value))
            raise wire.WireError(f"a {type(value).__name__} cannot be sent to the student's "
                                 "code")
        return other

    # -- receiving -------------------------------------------------------------------------

    def _decoder(self) -> wire.Decoder:
        def ref(number, info, _depth):
            if type(number) is not int or type(info) is not dict:
                raise wire.WireError("a malformed reference")
            info = {k: v for k, v in info.items() if type(v) in (str, bool, int)}
            return remote_class(self, number, info)

        def keras_model(name, info, _depth):
            from course.grading.contract import Refusal

            path = decoder._file(name)
            try:
                return self.load_model(path)
            except Refusal as refusal:
                info = dict(info) if type(info) is dict else {}
                number = info.get("ref")
                info = {k: v for k, v in info.items() if type(v) in (str, bool, int)}
                info["why"] = f"the grader could not load it safely: {refusal.reason}"
                if type(number) is not int:
                    raise wire.WireError(info["why"]) from None
                return remote_class(self, number, info)

        def graph(name, outputs, depth):
            model = keras_model(name, {}, depth)
            if isinstance(model, Remote):
                raise StudentError(model._info.get("why", "the layers could not be sent"))
            return _splice(model, self._inputs, decoder(outputs, depth + 1))

        def dataclass(path, fields, depth):
            import dataclasses
            import importlib

            module, _, name = str(path).rpartition(".")
            if not module.startswith("course."):
                raise wire.WireError(f"{path} is not a course class")
            cls = getattr(importlib.import_module(module), name, None)
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
                raise wire.WireError(f"{path} is not a course dataclass")
            values = decoder(fields, depth + 1)
            if type(values) is not dict:
                raise wire.WireError("malformed dataclass fields")
            return cls(**values)

        decoder = wire.Decoder(self.folder, self.limits, ref=ref, keras=keras_model,
                               graph=graph, dataclass=dataclass)
        return decoder

    AGENT = "__import__('course.grading.notebooks.agent', fromlist=['serve'])"

    def preload(self) -> None:
        """Import the agent in the kernel before the student's first cell: a notebook that
        shadows ``course`` later (a planted package, ``sys.modules`` edited) leaves it working."""
        self.execute(self.AGENT)

    def request(self, op: str, args=(), kwargs=None, **fields):
        """Send one request; returns the decoded result or raises the student's error."""
        self.count += 1
        stem = f"req-{self.count}"
        self._inputs = []
        encode = wire.Encoder(self.folder, stem, self._other(stem))
        message = {"op": op, "args": encode(list(args)), "kwargs": encode(dict(kwargs or {})),
                   **fields}
        path = os.path.join(self.folder, stem + ".json")
        wire.write_json(path, message)
        printed = self.execute(f"{self.AGENT}.serve({path!r})")
        if printed is None:
            raise KernelGone("the student's kernel is gone (it died, or a limit stopped it)")
        if printed:
            print(printed, end="" if printed.endswith("\n") else "\n")
        try:
            reply = self._decoder().load(f"rep-{self.count}.json")
            if type(reply) is not dict or len(reply) != 1:
                raise wire.WireError("a malformed reply")
            if "error" in reply and type(reply["error"]) is dict:
                raise student_error(reply["error"])
            if "ok" not in reply:
                raise wire.WireError("a malformed reply")
            return self._decoder()(reply["ok"])
        finally:
            self._clean(stem)

    def _clean(self, stem: str) -> None:
        reply = stem.replace("req", "rep")
        for name in os.listdir(self.folder):
            if name.startswith((stem + ".", stem + "-", reply + ".", reply + "-")):
                path = os.path.join(self.folder, name)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    try:
                        os.unlink(path)
                    except OSError:
                        pass


def _splice(model, inputs: list, outputs):
    """Call the layers of ``model`` (built in the kernel on placeholders) on the judge's own
    symbolic ``inputs``, node by node as its config lists them, so that a model the check builds
    around ``inputs`` holds those layers themselves (named as the student named them)."""
    import keras

    config = model.get_config()
    by_name = {op.name: op for op in model.operations}

    def triples(value):
        return [value] if value and isinstance(value[0], str) else list(value)

    tensors = {tuple(h): t for h, t in zip(triples(config["input_layers"]), inputs)}

    def fill(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            return tensors[tuple(value["config"]["keras_history"])]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(fill(v) for v in value)
        return value

    for entry in config["layers"]:
        operation = by_name[entry["name"]]
        for index, node in enumerate(entry.get("inbound_nodes") or []):
            produced = operation(*fill(node.get("args", [])), **fill(node.get("kwargs", {})))
            for position, tensor in enumerate(keras.tree.flatten(produced)):
                tensors[(entry["name"], index, position)] = tensor
    produced = [tensors[tuple(h)] for h in triples(config["output_layers"])]

    def rebuild(value):
        if type(value) is int:
            return produced[value]
        if isinstance(value, (list, tuple)):
            return type(value)(rebuild(v) for v in value)
        if isinstance(value, dict):
            return {k: rebuild(v) for k, v in value.items()}
        return value

    return rebuild(outputs)
