"""``pipeline``: stages of classical and quantum work, each input flowing through them independently.

Coupling: medium. Classical stages (transpilation, error mitigation, post-processing) run as Parsl apps
on classical executors; quantum stages run as quantum tasks on the pilots. Stage ``k + 1`` of an input
starts as soon as stage ``k`` of that input is done, whatever the other inputs are doing, so stages of
different inputs overlap. ``pipe(x)`` returns an ``AppFuture`` of the last stage's value;
``pipe.map(xs)`` a list of them.

Each stage receives the previous stage's value as its first argument. Keyword arguments given to the
pipeline call (a calibration, a backend name, futures of other apps) go to every stage whose signature
takes them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from parsl import python_app
from parsl.dataflow.futures import AppFuture

from parsl_quantum.motifs.quantum_app import QuantumApp, Requirement


class Stage:
    """One stage: a Parsl app and the keyword arguments it accepts from the pipeline call."""

    def __init__(self, func: Callable[..., Any], app: Callable[..., AppFuture], kind: str) -> None:
        self.func = func
        self.app = app
        self.kind = kind
        params = inspect.signature(func).parameters
        self.accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        self.keywords = set(params) - {"device"}

    def __call__(self, value: Any, extras: dict[str, Any]) -> AppFuture:
        kwargs = {k: v for k, v in extras.items() if self.accepts_any or k in self.keywords}
        return self.app(value, **kwargs)

    def __repr__(self) -> str:
        return f"<{self.kind} stage {self.func.__name__}>"


class Pipeline:
    """An ordered list of stages (see :func:`pipeline`)."""

    def __init__(self, name: str, executors: Sequence[str], classical_executors: Sequence[str]) -> None:
        self.name = name
        self.executors = list(executors)
        self.classical_executors = list(classical_executors)
        self.stages: list[Stage] = []

    def classical(
        self, function: Callable[..., Any] | None = None, *, executors: Sequence[str] | None = None
    ) -> Any:
        """Decorator: append a classical stage (a Parsl app on ``executors`` or the pipeline's classical
        executors)."""

        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            labels = list(executors or self.classical_executors)
            if not labels:
                raise TypeError(f"pipeline '{self.name}': classical stage '{func.__name__}' needs executors")
            self.stages.append(Stage(func, python_app(func, executors=labels), "classical"))
            return func

        return decorate(function) if function is not None else decorate

    def quantum(
        self,
        function: Callable[..., Any] | None = None,
        *,
        executors: Sequence[str] | None = None,
        **requirements: Requirement,
    ) -> Any:
        """Decorator: append a quantum stage (its function gets ``device=``; requirements as for
        :func:`quantum_app`, values or functions of the stage's arguments)."""

        def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
            app = QuantumApp(func, list(executors or self.executors), dict(requirements))
            self.stages.append(Stage(func, app, "quantum"))
            return func

        return decorate(function) if function is not None else decorate

    def __call__(self, value: Any, **extras: Any) -> AppFuture:
        """Send one input through every stage; the ``AppFuture`` of the last stage."""
        if not self.stages:
            raise ValueError(f"pipeline '{self.name}' has no stages")
        future: Any = value
        for stage in self.stages:
            future = stage(future, extras)
        return future

    def map(self, values: Iterable[Any], **extras: Any) -> list[AppFuture]:
        """Send each input through the stages independently; one ``AppFuture`` per input."""
        return [self(value, **extras) for value in values]

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}: {' -> '.join(s.func.__name__ for s in self.stages)})"


def pipeline(
    name: str = "pipeline", *, executors: Sequence[str], classical_executors: Sequence[str] = ()
) -> Pipeline:
    """A pipeline of classical and quantum stages, declared with ``@pipe.classical`` / ``@pipe.quantum``.

    Coupling: medium. Classical stages run as Parsl apps on ``classical_executors``, quantum stages as
    quantum tasks on ``executors``; each input moves to its next stage as soon as its current stage is
    done. ``pipe(x)`` returns an ``AppFuture`` of the last stage's value.

    Parameters
    ----------
    name
        A name for messages.
    executors
        Quantum executors of the quantum stages.
    classical_executors
        Executors of the classical stages.

    Examples
    --------
    >>> pipe = pipeline("mitigated", executors=["quantum"], classical_executors=["classical"])
    >>> @pipe.classical
    ... def transpile_step(circuit, backend): ...
    >>> @pipe.quantum(kinds=["qpu"])
    ... def execute(isa_circuits, *, device): ...
    >>> @pipe.classical
    ... def mitigate(counts): ...
    >>> result = pipe(circuit, backend="fake_torino")
    """
    return Pipeline(name, executors, classical_executors)
