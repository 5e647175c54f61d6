"""The judge's hands in a student's kernel: calls the student's code, sends back plain data.

When a notebook is autograded, the check cells run in the judge's process, not in the student's
kernel. Where a check needs the student's code (call ``conv2d_naive`` on these arrays, build
``vgg_stage`` on this input), the judge writes a request into the exchange folder and has the
kernel run ``serve(REQUEST)``: this module looks up the names in the notebook's namespace, runs
the call, and writes the result with ``wire.Encoder``: plain values and arrays, Keras models as
``.keras`` files, anything else as a reference that stays here.

This code runs in the student's process, so a student can change what it does; that only changes
what the student's code appears to return. The judge decides nothing from it but the values it
reads, and compares them with its own references in its own process.
"""
from __future__ import annotations

import builtins
import dataclasses
import importlib
import os
import sys
import traceback

from course.grading.notebooks import wire

#: Objects the judge holds references to, by number.
_REFS: dict[int, object] = {}
def _namespace() -> dict:
    try:
        shell = sys.modules["IPython"].get_ipython()
        return shell.user_ns
    except (KeyError, AttributeError):
        return sys.modules["__main__"].__dict__


def _ref(value, why: str | None = None) -> dict:
    number = len(_REFS) + 1
    _REFS[number] = value
    kind = type(value)
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a student's __repr__ may raise
        text = f"<{kind.__name__}>"
    name = getattr(value, "__name__", None) if callable(value) else None
    info = {"type": kind.__name__, "repr": text[:300], "name": name if type(name) is str else "",
            "callable": callable(value), "is_class": isinstance(value, type)}
    if isinstance(value, BaseException):
        info["error"] = True
    if why:
        info["why"] = why
    return {"__ref__": number, "info": info}


def _is_keras_tensor(value) -> bool:
    keras = sys.modules.get("keras")  # not imported here: not a Keras tensor
    return keras is not None and isinstance(value, keras.KerasTensor)


class _Other:
    """What ``Encoder`` does with values that are not plain data, on the kernel's side."""

    def __init__(self, folder: str, prefix: str):
        self.folder, self.prefix, self.count = folder, prefix, 0

    def __call__(self, value):
        keras = sys.modules.get("keras")  # not imported: the value is no Keras object
        if keras is not None and isinstance(value, keras.Model):
            return self.model(value)
        if keras is not None and hasattr(value, "numpy") and hasattr(value, "dtype") \
                and not _is_keras_tensor(value):
            try:
                array = keras.ops.convert_to_numpy(value)
                return wire.Encoder(self.folder, f"{self.prefix}-t{self._next()}")(array)
            except Exception:  # noqa: BLE001 - not a tensor after all: a reference
                pass
        if dataclasses.is_dataclass(value) and not isinstance(value, type) \
                and type(value).__module__.startswith("course."):
            try:
                fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
                encoded = wire.Encoder(self.folder, f"{self.prefix}-d{self._next()}")(fields)
                return {"__dataclass__": f"{type(value).__module__}.{type(value).__qualname__}",
                        "fields": encoded}
            except wire.WireError:
                pass
        return _ref(value)

    def _next(self) -> int:
        self.count += 1
        return self.count

    def model(self, model) -> dict:
        name = f"{self.prefix}-m{self._next()}.keras"
        try:
            model.save(os.path.join(self.folder, name))
        except Exception as err:  # noqa: BLE001 - a model Keras cannot save stays here
            return _ref(model, f"Keras could not save it ({type(err).__name__}: {err})")
        return {"__keras__": name, "info": _ref(model)["info"] | {"ref": len(_REFS)}}


def _decoder(folder: str, inputs: list) -> wire.Decoder:
    def ref(number, _extra, _depth):
        if number not in _REFS:
            raise wire.WireError(f"no object #{number} in this kernel")
        return _REFS[number]

    def model(name, _extra, _depth):
        from course.saving import load_model

        return load_model(os.path.join(folder, name))

    def placeholder(spec, _extra, _depth):
        import keras

        shape, dtype = spec
        tensor = keras.Input(batch_shape=tuple(shape), dtype=dtype)
        inputs.append(tensor)
        return tensor

    def dataclass(path, fields, depth):
        module, _, name = path.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        return cls(**decoder(fields, depth + 1))

    def generator(state, _extra, _depth):
        import numpy as np

        bits = getattr(np.random, state["bit_generator"])()
        bits.state = state
        return np.random.Generator(bits)

    decoder = wire.Decoder(folder, ref=ref, keras=model, input=placeholder, dataclass=dataclass,
                           rng=generator)
    return decoder


def _builtin_bases(err: BaseException) -> list[str]:
    return [c.__name__ for c in type(err).__mro__ if getattr(builtins, c.__name__, None) is c]


def _graph(result, inputs, encode, other):
    """A function called on symbolic inputs built layers: send the graph as a model."""
    import keras

    model = keras.Model(inputs if len(inputs) > 1 else inputs[0], result)
    sent = other.model(model)
    if "__keras__" not in sent:
        return sent
    outputs = encode(_structure(result))
    return {"__graph__": sent["__keras__"], "outputs": outputs}


def _structure(result):
    """The output structure of a graph: its tensors replaced by their index."""
    counter = [0]

    def walk(value):
        if _is_keras_tensor(value):
            counter[0] += 1
            return counter[0] - 1
        if isinstance(value, (list, tuple)):
            return type(value)(walk(v) for v in value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return walk(result)


def _perform(request: dict, args, kwargs):
    op = request["op"]
    namespace = _namespace()
    if op == "resolve":
        out = {}
        for name in request["names"]:
            if name in namespace:
                out[name] = namespace[name]
        return out
    target = _REFS.get(request.get("ref"))
    if op == "call":
        return target(*args, **kwargs)
    if op == "getattr":
        return getattr(target, request["name"])
    if op == "getitem":
        return target[args[0]]
    if op == "len":
        return len(target)
    if op == "list":
        return list(target)
    if op == "array":
        import numpy as np

        return np.asarray(target)
    if op == "run":
        path = str(request["helper"])
        module, _, name = path.rpartition(".")
        helper = getattr(importlib.import_module(module), name, None) \
            if module.startswith("course.grading.") else None
        if getattr(helper, "__course_helper__", None) != path:
            raise PermissionError(f"{path} is not a check helper (checks.helpers.kernel_side)")
        return helper.__wrapped__(*args, **kwargs)
    raise ValueError(f"unknown request {op!r}")


def serve(request_path: str) -> None:
    """Run the request written at ``request_path`` and write its reply beside it."""
    folder = os.path.dirname(request_path)
    stem = os.path.basename(request_path)[:-len(".json")]
    reply_path = os.path.join(folder, stem.replace("req", "rep") + ".json")
    other = _Other(folder, stem.replace("req", "rep"))
    encode = wire.Encoder(folder, stem.replace("req", "rep"), other)
    inputs: list = []
    try:
        decoder = _decoder(folder, inputs)
        request = decoder.load(os.path.basename(request_path))
        args = decoder(request.get("args", []))
        kwargs = decoder(request.get("kwargs", {"__dict__": []}))
        result = _perform(request, args, kwargs)
        if inputs and (_is_keras_tensor(result) or any(
                _is_keras_tensor(v) for v in _flat(result))):
            reply = {"ok": _graph(result, inputs, encode, other)}
        else:
            reply = {"ok": encode(result)}
    except Exception as err:  # noqa: BLE001 - the judge reads what the student's code raised
        reply = {"error": {"type": type(err).__name__, "bases": _builtin_bases(err),
                           "message": str(err)[:4000],
                           "trace": traceback.format_exc(limit=-3)[-2000:]}}
    wire.write_json(reply_path, reply)


def _flat(value):
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _flat(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _flat(v)
    else:
        yield value
