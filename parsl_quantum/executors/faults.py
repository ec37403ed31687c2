"""The fault model: what went wrong with a task's attempt, and what that costs.

Four classes of fault, each with its own handling (see the design's fault model):

==============  =============================================  ===============================================
fault           examples                                       handling
==============  =============================================  ===============================================
user error      the function raised; a circuit the backend     reaches the future unchanged; never retried by
                rejects (``IBMInputValueError``)               the executor (Parsl's ``retries`` may)
task fault      the worker died running it (segfault,          the task is requeued and one attempt of *that
                ``os._exit``, OOM kill)                        task* is counted; the pilot is not blamed
backend error   a QPU job error, a network error               the task retries elsewhere (one attempt); the
                                                               pilot's :class:`CircuitBreaker` counts it
pilot fault     block failed or lost, worker pool gone, no     the pilot recovers (new block, with backoff);
                live worker, device cannot be built, session   its tasks are requeued free of charge
                lost
==============  =============================================  ===============================================

:func:`classify_exception` and :func:`classify_outcome` decide the class from what an attempt returned;
:class:`CircuitBreaker` and :class:`RestartBudget` are the two small pieces of state that decide when a
pilot is degraded, and when a recovering pilot gives up. They are plain objects with no lock: the executor
calls them with its lock held.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from parsl.app.errors import RemoteExceptionWrapper
from parsl.executors.errors import BadStateException
from parsl.executors.high_throughput.errors import ManagerLost, WorkerLost

from parsl_quantum.errors import BackendError


class Fault(enum.StrEnum):
    """The four classes of fault."""

    USER = "user error"
    TASK = "task fault"
    BACKEND = "backend error"
    PILOT = "pilot fault"


class DeviceBuildError(BackendError):
    """A worker could not build its pilot's device: the pilot, not the task, is at fault."""


class DeviceConfigError(DeviceBuildError):
    """A worker could not build its pilot's device because the pilot's backend or options are invalid:
    no restart can help, so the pilot fails at once."""


NETWORK_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
"""Exceptions a task raises when the network to a backend failed (backend errors, not the task's fault)."""


def classify_exception(exc: BaseException) -> Fault:
    """The class of fault of an exception that the pilot's executor (not the task's function) raised.

    ``WorkerLost``: the worker process running the task died, which the task itself may have caused, so it
    is a task fault. ``ManagerLost`` and ``BadStateException``: the worker pool or the pilot's executor is
    gone, a pilot fault. Otherwise the exception's type decides, as for :func:`classify_error_type`.
    """
    if isinstance(exc, WorkerLost):
        return Fault.TASK
    if isinstance(exc, (ManagerLost, BadStateException)):
        return Fault.PILOT
    return classify_error_type(type(exc))


def classify_error_type(error_type: type[BaseException]) -> Fault:
    """The class of fault of an exception type that the task's function raised on the worker."""
    if issubclass(error_type, DeviceBuildError):
        return Fault.PILOT
    if issubclass(error_type, (BackendError, *NETWORK_ERRORS)):
        return Fault.BACKEND
    return Fault.USER


def classify_outcome(value: object) -> Fault | None:
    """The class of fault of a value the worker sent back, or ``None`` for a plain result."""
    if isinstance(value, RemoteExceptionWrapper):
        return classify_error_type(value.e_type)
    return None


@dataclass
class CircuitBreaker:
    """Counts a pilot's consecutive backend errors and opens (degrades the pilot) after ``threshold``.

    An open breaker stays open for a backoff that doubles with each opening (``base_s``, ``2 base_s``...,
    at most ``max_s``); then the pilot takes work again (half-open). A success closes it and resets the
    backoff. A single transient error therefore costs one retry, never the pilot.

    Parameters
    ----------
    threshold
        Consecutive backend errors that open the breaker.
    base_s, max_s
        First and largest backoff, in seconds.
    """

    threshold: int = 3
    base_s: float = 5.0
    max_s: float = 120.0
    consecutive: int = 0
    openings: int = 0
    open_until: float = 0.0

    def record_success(self) -> None:
        """A task ran to completion on the pilot's backend."""
        self.consecutive = 0
        self.openings = 0

    def record_error(self, now: float) -> bool:
        """A backend error; returns whether the breaker opened now."""
        self.consecutive += 1
        if self.consecutive < self.threshold:
            return False
        self.open_until = now + min(self.max_s, self.base_s * 2**self.openings)
        self.openings += 1
        self.consecutive = 0
        return True

    def is_open(self, now: float) -> bool:
        """Whether the pilot should still take no work."""
        return now < self.open_until


@dataclass
class RestartBudget:
    """How often a pilot may acquire a new block after pilot faults: ``max_restarts`` within ``window_s``.

    Like Parsl's ``windowed_error_handler``, it gives up only after a window of failures: restarts older
    than the window are forgiven. The wait before a restart doubles with each restart in the window
    (``base_s``, ``2 base_s``..., at most ``max_s``).
    """

    max_restarts: int = 3
    window_s: float = 600.0
    base_s: float = 1.0
    max_s: float = 60.0
    times: deque[float] = field(default_factory=deque)

    def _forget(self, now: float) -> None:
        while self.times and now - self.times[0] > self.window_s:
            self.times.popleft()

    def exhausted(self, now: float) -> bool:
        """Whether the restarts of the window are spent."""
        self._forget(now)
        return len(self.times) >= self.max_restarts

    def next_delay(self, now: float) -> float:
        """Seconds to wait before the next restart."""
        self._forget(now)
        return min(self.max_s, self.base_s * 2 ** len(self.times))

    def spend(self, now: float) -> None:
        """Record a restart."""
        self.times.append(now)
