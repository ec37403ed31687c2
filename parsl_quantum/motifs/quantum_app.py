"""``quantum_app``: one quantum task, bound late to a pilot and handed that pilot's device.

Coupling: none (a single task). Quantum work runs on the pilot the executor binds the task to; nothing
classical runs besides the function itself. Returns a Parsl ``AppFuture`` of the function's value.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from parsl import join_app, python_app
from parsl.dataflow.futures import AppFuture

from parsl_quantum.executors.requirements import REQUIREMENT_KEYS

Requirement = Any  # a value, or a function of the call's arguments returning the value


def check_requirements(requirements: dict[str, Requirement], where: str) -> dict[str, Requirement]:
    """Drop unset requirements and reject unknown keys, naming them.

    Raises
    ------
    TypeError
        For a key that is not a requirement the quantum executor knows.
    """
    unknown = set(requirements) - REQUIREMENT_KEYS
    if unknown:
        raise TypeError(
            f"{where}: unknown requirement(s) {sorted(unknown)}; known: {', '.join(sorted(REQUIREMENT_KEYS))}"
        )
    return {k: v for k, v in requirements.items() if v is not None}


def has_futures(args: Sequence[Any], kwargs: dict[str, Any]) -> bool:
    """Whether any argument (top level) is still a future."""
    return any(isinstance(a, Future) for a in args) or any(isinstance(v, Future) for v in kwargs.values())


class QuantumApp:
    """A function run as a Parsl app on a quantum executor, with ``device=`` injected by the pilot.

    Parameters
    ----------
    func
        The function; it takes the bound pilot's device as the keyword argument ``device``.
    executors
        Labels of the executors the app may run on (a :class:`QuantumPilotExecutor`).
    requirements
        Task requirements (``qubits``, ``kinds``, ``pilot``, ``shots``, ``priority``,
        ``min_fidelity``): each a value or a function of the call's arguments.
    cache
        Parsl app caching.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        executors: Sequence[str],
        requirements: dict[str, Requirement],
        cache: bool = False,
    ) -> None:
        if not executors or isinstance(executors, str):
            raise TypeError(
                f"quantum app '{func.__name__}' must name its executors as a list, e.g. "
                "executors=['quantum']: Parsl sends apps without executors to a random executor"
            )
        functools.update_wrapper(self, func)
        self.func = func
        self.executors = list(executors)
        self.requirements = check_requirements(requirements, f"quantum app '{func.__name__}'")
        self._app = python_app(func, executors=self.executors, cache=cache)

    def specification(self, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The resource specification of one call (requirement functions evaluated on its arguments)."""
        return {k: (v(*args, **kwargs) if callable(v) else v) for k, v in self.requirements.items()}

    def __call__(
        self, *args: Any, parsl_resource_specification: dict | None = None, **kwargs: Any
    ) -> AppFuture:
        """Submit one task. ``parsl_resource_specification`` overrides the decorator's requirements."""
        override = dict(parsl_resource_specification or {})
        if any(callable(v) for v in self.requirements.values()) and has_futures(args, kwargs):
            return self._deferred(args, kwargs, override)
        spec = {**self.specification(args, kwargs), **override}
        return self._app(*args, parsl_resource_specification=spec, **kwargs)

    def _deferred(self, args: Sequence[Any], kwargs: dict[str, Any], override: dict) -> AppFuture:
        """Evaluate requirement functions once the arguments are known, then submit."""

        def submit_when_ready(*ready_args: Any, **ready_kwargs: Any) -> AppFuture:
            spec = {**self.specification(ready_args, ready_kwargs), **override}
            return self._app(*ready_args, parsl_resource_specification=spec, **ready_kwargs)

        submit_when_ready.__name__ = f"{self.func.__name__}_requirements"
        return join_app(submit_when_ready)(*args, **kwargs)


def quantum_app(
    function: Callable[..., Any] | None = None,
    *,
    executors: Sequence[str],
    qubits: Requirement = None,
    kinds: Requirement = None,
    pilot: Requirement = None,
    shots: Requirement = None,
    priority: Requirement = None,
    min_fidelity: Requirement = None,
    cache: bool = False,
) -> Any:
    """Make ``function`` a quantum app: a Parsl app whose calls run on a pilot's device.

    Coupling: none, one task. The function runs on a worker of the pilot it is bound to and receives
    that pilot's device as ``device=``; the call returns an ``AppFuture`` of its value.

    Parameters
    ----------
    function
        The decorated function (omit when using the decorator with arguments).
    executors
        Labels of the quantum executors the app may run on.
    qubits, kinds, pilot, shots, priority, min_fidelity
        Requirements of each call: a value, or a function of the call's arguments (e.g.
        ``qubits=lambda n: n``). A call's ``parsl_resource_specification`` overrides them.
    cache
        Parsl app caching.

    Examples
    --------
    >>> @quantum_app(executors=["quantum"], qubits=lambda n: n)
    ... def ghz_counts(n, *, device):
    ...     ...
    """
    requirements = {
        "qubits": qubits,
        "kinds": kinds,
        "pilot": pilot,
        "shots": shots,
        "priority": priority,
        "min_fidelity": min_fidelity,
    }

    def decorate(func: Callable[..., Any]) -> QuantumApp:
        return QuantumApp(func, executors, requirements, cache)

    return decorate(function) if function is not None else decorate
