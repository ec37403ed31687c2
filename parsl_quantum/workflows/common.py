"""What every mini-app shares: loading the default configuration, reporting the run and judging it.

A mini-app ends with :func:`verdict`: one line per :class:`Check` (``PASS <what> <figure> (<bound>)`` or
``FAIL ...``) and its figures returned with ``"passed"``. :func:`exit_code` maps that to the process's
exit status (1 on FAIL), for ``python -m parsl_quantum.workflows.NAME`` and ``parsl-quantum run NAME``.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import parsl

from parsl_quantum.motifs import TimeBreakdown


def run(module: str, argv: list[str] | None = None) -> dict:
    """Run mini-app ``module`` (e.g. ``"parsl_quantum.workflows.qaoa_maxcut"``) by its importable name.

    Imported under its real name, the mini-app's functions travel to the workers by reference (the
    workers import the module) rather than by value, as a script's ``__main__`` functions would.
    """
    import importlib

    return importlib.import_module(module).main(argv)


def script(module: str) -> None:
    """Run mini-app ``module`` as a script: exit 0 if its verdict is PASS, 1 if FAIL."""
    sys.exit(exit_code(run(module, sys.argv[1:])))


def exit_code(figures: Any) -> int:
    """The exit status for a mini-app's returned figures: 0 when ``figures["passed"]`` is true, else 1."""
    return 0 if isinstance(figures, dict) and figures.get("passed") is True else 1


@dataclass(frozen=True)
class Check:
    """One figure a mini-app is judged on, and the bound it must meet.

    Attributes
    ----------
    what
        What the figure is, e.g. ``"VQE energy error vs exact"``.
    figure
        Its measured value; NaN or infinity always fails.
    bound
        The threshold.
    at_most
        ``True``: the figure must be at most ``bound`` (an error); ``False``: at least ``bound`` (a score).
    unit
        Printed after the figure and the bound (``"Ha"``, ``"sigma"``...).
    why
        Where the bound comes from, printed with it (e.g. ``"best grid point 0.79 - 0.03"``).
    """

    what: str
    figure: float
    bound: float
    at_most: bool
    unit: str = ""
    why: str = ""

    @property
    def passed(self) -> bool:
        if not math.isfinite(self.figure):
            return False
        return self.figure <= self.bound if self.at_most else self.figure >= self.bound

    def line(self) -> str:
        """``PASS <what> <figure> (<= <bound>)``, or ``FAIL ...``."""
        unit = f" {self.unit}" if self.unit else ""
        why = f": {self.why}" if self.why else ""
        relation = "<=" if self.at_most else ">="
        return (
            f"{'PASS' if self.passed else 'FAIL'} {self.what} {self.figure:.4g}{unit} "
            f"({relation} {self.bound:.4g}{unit}{why})"
        )


def at_most(what: str, figure: float, bound: float, unit: str = "", why: str = "") -> Check:
    """A check that ``figure`` (an error, a deviation) is at most ``bound``."""
    return Check(what, float(figure), float(bound), True, unit, why)


def at_least(what: str, figure: float, bound: float, unit: str = "", why: str = "") -> Check:
    """A check that ``figure`` (a score, an accuracy) is at least ``bound``."""
    return Check(what, float(figure), float(bound), False, unit, why)


def verdict(figures: dict, *checks: Check) -> dict:
    """Print one verdict line per check and return ``figures`` with ``passed`` and ``verdict`` added.

    Parameters
    ----------
    figures
        What the mini-app measured.
    *checks
        The checks it is judged on; it passes only if every one does.

    Returns
    -------
    dict
        ``figures`` plus ``"passed"`` (bool) and ``"verdict"`` (the printed lines).
    """
    if not checks:
        raise ValueError("a verdict needs at least one check")
    lines = [check.line() for check in checks]
    for line in lines:
        print(line)
    return {**figures, "passed": all(check.passed for check in checks), "verdict": lines}


def narrow_pilots(name: str, width: int) -> list[Any]:
    """One CPU pilot of two Aer workers (one thread each) holding ``width`` qubits: for a mini-app whose
    circuit must not fit whole."""
    from parsl_quantum.providers import PilotDescription

    return [
        PilotDescription(
            name=name, kind="cpu", backend="aer", workers=2, qubits=width, options={"max_parallel_threads": 1}
        )
    ]


def ready_planner(dreamer: Any, executor: Any, clock: Clock, max_width: int) -> None:
    """Wait for the executor's pilots, then calibrate Q-Dreamer on them unless it has a profile (on the
    clock's classical time)."""
    executor.wait_for_pilots()
    with clock.classical():
        if dreamer.profile is None:
            dreamer.calibrate(executor, max_width=max_width)


@contextmanager
def loaded(config: Any) -> Iterator[Any]:
    """Load a DataFlowKernel for the run and clean it up afterwards."""
    dfk = parsl.load(config)
    try:
        yield dfk
    finally:
        dfk.cleanup()
        parsl.clear()


class Clock:
    """Measures a run's wall time and the classical work inside it (``with clock.classical(): ...``)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.classical_s = 0.0

    @contextmanager
    def classical(self) -> Iterator[None]:
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.classical_s += time.perf_counter() - begin

    def breakdown(self, executor: Any, since: float = 0.0) -> TimeBreakdown:
        """The run's time breakdown from the quantum executor's task records (those submitted after
        ``since``, a ``time.time()``)."""
        records = [r for r in executor.metrics() if r.submit >= since]
        return TimeBreakdown.from_records(records, time.perf_counter() - self.start, self.classical_s)
