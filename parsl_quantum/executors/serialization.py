"""How a task's call travels to a worker, and whether its function takes the pilot's device.

Functions that a worker can import (defined in a module) travel by reference, as Parsl sends them.
Functions defined in a user's script (``__main__``), in a notebook, or inside another function cannot be
imported on a worker; Parsl would send them without the module-level names they use (``NameError:
QuantumCircuit``). Those travel by value with cloudpickle, together with the module-level imports, helpers
and constants they use, which is what users of Ray and Dask expect.
"""

from __future__ import annotations

import inspect
import pickle
import threading
import weakref
from collections.abc import Callable
from typing import Any

from parsl.serialize import serialize
from parsl.serialize.base import SerializerBase
from parsl.serialize.facade import pack_buffers

BUFFER_THRESHOLD = 1 << 20
"""Bytes above which Parsl logs that a serialised argument is large."""


class ByValue:
    """A function shipped by value; unpickled once per worker process, then called like the function.

    Parameters
    ----------
    payload
        The function, pickled by cloudpickle.
    """

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._func: Callable[..., Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"payload": self.payload}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.payload = state["payload"]
        self._func = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._func is None:
            import cloudpickle

            self._func = cloudpickle.loads(self.payload)
        return self._func(*args, **kwargs)


def _innermost(func: Callable[..., Any]) -> Any:
    while hasattr(func, "__wrapped__"):
        func = func.__wrapped__
    return func


def _not_importable(func: Any) -> bool:
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", "")
    return module == "__main__" or "<locals>" in qualname or "<lambda>" in qualname


def needs_by_value(func: Callable[..., Any], _depth: int = 0) -> bool:
    """Whether ``func`` (or a function it wraps, or one its closure holds, as a motif's wrapper holds the
    user's function) cannot be imported by reference on a worker."""
    inner = _innermost(func)
    if _not_importable(func) or _not_importable(inner):
        return True
    if _depth >= 3:
        return False
    held = [getattr(inner, "func", None)]  # functools.partial
    for cell in getattr(inner, "__closure__", None) or ():
        try:
            held.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    return any(callable(h) and needs_by_value(h, _depth + 1) for h in held if h is not None)


class PickledArguments(SerializerBase):
    """A task's arguments pickled by the C pickler: a Parsl serialiser plugin, found on the worker by the
    module and class name its header carries (Parsl's own data serialiser is dill, whose pure-Python
    pickler takes 15.7 ms for a 169-gate circuit that ``pickle`` writes in 2 ms)."""

    def serialize(self, data: Any) -> bytes:
        return pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)

    def deserialize(self, payload: bytes) -> Any:
        return pickle.loads(payload)


_PICKLED_ARGUMENTS = PickledArguments()


def serialize_arguments(value: Any) -> bytes:
    """Serialise a task's positional or keyword arguments for a worker, in Parsl's framing: with the C
    pickler where it can, else with Parsl's serialiser (dill), which ships what ``pickle`` cannot (a
    lambda, a local class) or could only name (a function or class of the user's script, ``__main__``,
    which a worker cannot import) by value."""
    try:
        body = _PICKLED_ARGUMENTS.serialize(value)
    except Exception:
        return serialize(value, buffer_threshold=BUFFER_THRESHOLD)
    if b"__main__" in body:  # named, not shipped: a string that merely says it costs dill's time, no more
        return serialize(value, buffer_threshold=BUFFER_THRESHOLD)
    return _PICKLED_ARGUMENTS.identifier + b"\n" + body


def pack_call(func: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> bytes:
    """Serialise a call for a worker (the function by value where :func:`needs_by_value`, the arguments
    by :func:`serialize_arguments`); Parsl's ``unpack_apply_message`` reads it back."""
    if needs_by_value(func):
        import cloudpickle

        func = ByValue(cloudpickle.dumps(func))
    return pack_buffers(
        [
            serialize(func, buffer_threshold=BUFFER_THRESHOLD),
            serialize_arguments(args),
            serialize_arguments(kwargs),
        ]
    )


class KeywordCache:
    """Which functions declare a parameter of a given name, remembered per function object (weakly)."""

    def __init__(self) -> None:
        self._known: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _lookup(self, func: Callable[..., Any], key: str, compute: Callable[[], bool]) -> bool:
        with self._lock:
            try:
                known = self._known.setdefault(func, {})
            except TypeError:  # not weak-referenceable
                known = {}
            if key in known:
                return known[key]
        found = compute()
        with self._lock:
            known[key] = found
        return found

    @staticmethod
    def _parameters(func: Callable[..., Any]) -> Any:
        try:
            return inspect.signature(func).parameters
        except (TypeError, ValueError):
            return {}

    def accepts(self, func: Callable[..., Any], name: str) -> bool:
        """Whether ``func`` can be called with the keyword ``name`` (declared, or taken by ``**kwargs``)."""

        def compute() -> bool:
            params = self._parameters(func)
            return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())

        return self._lookup(func, f"accepts:{name}", compute)

    def declares(self, func: Callable[..., Any], name: str) -> bool:
        """Whether ``func`` (seen through ``functools.wraps`` wrappers) declares a parameter ``name``.

        A ``**kwargs`` parameter does not count: a bash app's wrapper, or any function that passes keywords
        on, must not receive a device it never asked for.
        """

        def compute() -> bool:
            params = self._parameters(func)
            return name in params and params[name].kind is not inspect.Parameter.VAR_KEYWORD

        return self._lookup(func, f"declares:{name}", compute)
