"""How motifs wait for their tasks without holding a thread: a step runs when its futures are done.

A control loop (an optimiser's step, a training step) needs the results of the tasks it submitted before
it can go on. Blocking on them (``future.result()``) inside a Parsl join app holds one of the
DataFlowKernel's internal threads (``Config.internal_tasks_max_threads``, 10 by default) for the whole
loop, so a few concurrent loops starve every other join app, and more loops than threads deadlock.

:func:`when_done` waits by callbacks instead: the futures' done-callbacks count down, and when the last
one is done the step is run as a short Parsl app on the DataFlowKernel's internal executor (not on the
thread that completed the last future, which is a pilot's result thread: classical work there would stall
that pilot's result handling). While a loop waits, no thread is held; while a step runs, one internal
thread is, for the milliseconds the step takes. A loop is then a chain of such steps, each submitting
the next round of tasks and the next step, the last one completing a plain :class:`Future`.

:func:`background_app` turns a function that starts such work and returns that plain future into a Parsl
app: its ``AppFuture`` takes the work's value, or fails with the work's own exception (a join app would
wrap it in Parsl's ``JoinError``), and no thread waits in between.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from parsl import join_app, python_app
from parsl.dataflow.futures import AppFuture

from parsl_quantum.executors.dfk_executors import INTERNAL_EXECUTOR


def done_future(value: Any) -> Future:
    """A completed future of ``value`` (what a join app returns when its work is already done)."""
    future: Future = Future()
    future.set_result(value)
    return future


def all_done(futures: Sequence[Future]) -> Future:
    """A future that completes, with the list of ``futures``, once each of them is done (succeeded or
    failed). Nothing waits in a thread: the futures' done-callbacks count down."""
    gathered: Future = Future()
    pending = list(futures)
    if not pending:
        gathered.set_result([])
        return gathered
    remaining = [len(pending)]
    lock = threading.Lock()

    def one_done(_: Future) -> None:
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            gathered.set_result(pending)

    for future in pending:
        future.add_done_callback(one_done)
    return gathered


def when_done(futures: Sequence[Future], step: Callable[[list[Future]], Any], name: str) -> AppFuture:
    """Run ``step(futures)`` once every future is done, on the DataFlowKernel's internal executor.

    Parameters
    ----------
    futures
        The futures to wait for; ``step`` receives them done, and reads each one's result or exception
        itself (a failed future does not stop the step from running).
    step
        A short function on the submitting host.
    name
        The step app's name (in Parsl's monitoring and logs).

    Returns
    -------
    AppFuture
        Of ``step``'s value.
    """

    def body(done: list[Future]) -> Any:
        return step(done)

    body.__name__ = body.__qualname__ = name
    return python_app(body, executors=[INTERNAL_EXECUTOR])(all_done(futures))


@dataclass(frozen=True)
class Raised:
    """An exception carried as a value (so that a join app's inner future never fails)."""

    exception: BaseException


def settle(outcome: Any) -> Any:
    """The value, or raise the exception of a :class:`Raised`."""
    if isinstance(outcome, Raised):
        raise outcome.exception
    return outcome


def background_app(start: Callable[..., Future], name: str) -> Callable[..., AppFuture]:
    """A Parsl app of ``start``: a function that starts work and returns a plain future of its value.

    Calling the app waits (without a thread) for the future arguments, runs ``start`` on the
    DataFlowKernel's internal executor (it must return at once), and gives an ``AppFuture`` that takes the
    value of the future ``start`` returned, or fails with its exception (or with ``start``'s own) unchanged.

    Parameters
    ----------
    start
        ``start(*args, **kwargs) -> Future``.
    name
        The app's name (in Parsl's monitoring and logs).
    """

    def body(*args: Any, **kwargs: Any) -> Future:
        try:
            work = start(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the caller's future gets it unchanged
            return done_future(Raised(exc))
        carried: Future = Future()

        def relay(done: Future) -> None:
            exc = done.exception()
            carried.set_result(Raised(exc) if exc is not None else done.result())

        work.add_done_callback(relay)
        return carried

    def unwrap(outcome: Any) -> Any:
        return settle(outcome)

    body.__name__ = body.__qualname__ = name
    unwrap.__name__ = unwrap.__qualname__ = f"{name}_result"
    joined, result = join_app(body), python_app(unwrap, executors=[INTERNAL_EXECUTOR])

    def submit(*args: Any, **kwargs: Any) -> AppFuture:
        return result(joined(*args, **kwargs))

    return submit
