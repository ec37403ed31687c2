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

from parsl_quantum.motifs.task_requirements import Requirement, TaskRequirements


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
        Task requirements: a :class:`TaskRequirements`, or a mapping of requirement names to values or
        functions of the call's arguments.
    cache
        Parsl app caching.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        executors: Sequence[str],
        requirements: TaskRequirements | dict[str, Requirement],
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
        if not isinstance(requirements, TaskRequirements):
            requirements = TaskRequirements.from_mapping(requirements, f"quantum app '{func.__name__}'")
        self.requirements = requirements
        self._app = python_app(func, executors=self.executors, cache=cache)

    def specification(
        self, args: Sequence[Any], kwargs: dict[str, Any], override: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The resource specification of one call (requirement functions evaluated on its arguments)."""
        return self.requirements.specification(args, kwargs, override)

    def __call__(
        self, *args: Any, parsl_resource_specification: dict | None = None, **kwargs: Any
    ) -> AppFuture:
        """Submit one task. ``parsl_resource_specification`` overrides the decorator's requirements."""
        override = dict(parsl_resource_specification or {})
        if self.requirements.has_functions and has_futures(args, kwargs):
            return self._deferred(args, kwargs, override)
        spec = self.specification(args, kwargs, override)
        return self._app(*args, parsl_resource_specification=spec, **kwargs)

    def _deferred(self, args: Sequence[Any], kwargs: dict[str, Any], override: dict) -> AppFuture:
        """Evaluate requirement functions once the arguments are known, then submit."""

        def submit_when_ready(*ready_args: Any, **ready_kwargs: Any) -> AppFuture:
            spec = self.specification(ready_args, ready_kwargs, override)
            return self._app(*ready_args, parsl_resource_specification=spec, **ready_kwargs)

        submit_when_ready.__name__ = f"{self.func.__name__}_requirements"
        return join_app(submit_when_ready)(*args, **kwargs)


def quantum_app(
    function: Callable[..., Any] | None = None,
    *,
    executors: Sequence[str],
    cache: bool = False,
    **requirements: Requirement,
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
    cache
        Parsl app caching.
    **requirements
        ``qubits``, ``kinds``, ``pilot``, ``shots``, ``priority``, ``min_fidelity``, ``walltime`` (see
        :class:`~parsl_quantum.motifs.task_requirements.TaskRequirements`): a value, or a function of the
        call's arguments (e.g. ``qubits=lambda n: n``). A call's ``parsl_resource_specification``
        overrides them.

    Examples
    --------
    >>> @quantum_app(executors=["quantum"], qubits=lambda n: n)
    ... def ghz_counts(n, *, device):
    ...     ...
    """

    def decorate(func: Callable[..., Any]) -> QuantumApp:
        where = f"quantum app '{getattr(func, '__name__', 'app')}'"
        return QuantumApp(func, executors, TaskRequirements.from_mapping(requirements, where), cache)

    return decorate(function) if function is not None else decorate
