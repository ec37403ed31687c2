"""What every mini-app shares: loading the default configuration and reporting the run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import parsl

from parsl_quantum.motifs import TimeBreakdown


def run(module: str, argv: list[str] | None = None) -> dict:
    """Run mini-app ``module`` (e.g. ``"parsl_quantum.workflows.qaoa_maxcut"``) by its importable name.

    A script run as ``__main__`` has its functions shipped to workers by value, without the module's
    globals; imported under its real name, its functions travel by reference and workers import them.
    """
    import importlib

    return importlib.import_module(module).main(argv)


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
