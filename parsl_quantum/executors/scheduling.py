"""Scheduling: the queue of waiting tasks, where each may go, late binding, dispatch and completion.

A task waits in the queue until some pilot it may use has a free slot; only then does the policy choose
the pilot (:func:`~parsl_quantum.executors.binding.choose_bindings`). What comes back from a worker is
classified by the fault model: a result or the task's own error completes the future here; anything else
goes to :class:`~parsl_quantum.executors.supervision.Supervisor`. No future is ever left pending.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Any

from parsl.app.errors import RemoteExceptionWrapper

from parsl_quantum.executors.binding import choose_bindings
from parsl_quantum.executors.errors import UnschedulableTaskError
from parsl_quantum.executors.faults import Fault, classify_exception, classify_outcome
from parsl_quantum.executors.metrics import dfk_task_id
from parsl_quantum.executors.pilot_states import LIVE_STATES, PilotState
from parsl_quantum.executors.running_pilot import Pilot
from parsl_quantum.executors.state import ExecutorState
from parsl_quantum.executors.task import QuantumTask
from parsl_quantum.executors.worker import unship

logger = logging.getLogger(__name__)

FaultHandler = Callable[[Pilot, "QuantumTask | None", int, Fault, str], None]
Stranded = list[tuple[QuantumTask, str]]


def _guarded(method: Callable[..., None]) -> Callable[..., None]:
    """Run a completion callback so that an exception inside it fails its task instead of vanishing."""

    @functools.wraps(method)
    def wrapper(self: Scheduler, task: QuantumTask, *args: Any) -> None:
        try:
            method(self, task, *args)
        except Exception as exc:
            logger.exception("executor %s: handling task %s failed", self.state.label, task.task_id)
            with self.state.lock:
                self.state.tasks.pop(task.task_id, None)
                for pilot in self.state.pilots.values():
                    pilot.in_flight.pop(task.task_id, None)
            self.complete(task, exception=exc, outcome="failed")

    return wrapper


class Scheduler:
    """Queue, placement, binding and completion over an :class:`ExecutorState`.

    Methods whose names end in ``_locked`` expect the state's lock to be held; the others take it.

    Parameters
    ----------
    state
        The shared state.
    on_fault
        Called with ``(pilot, task, generation, fault, cause)`` for an attempt that ended in a task fault,
        backend error or pilot fault (the supervisor's business).
    on_retire
        Called with a removed pilot once its last task finished, to stop it.
    """

    def __init__(
        self, state: ExecutorState, on_fault: FaultHandler, on_retire: Callable[[Pilot], None]
    ) -> None:
        self.state = state
        self.on_fault = on_fault
        self.on_retire = on_retire

    # -- where a task may go (lock held) --------------------------------------------------------------
    def eligible_locked(self, task: QuantumTask) -> frozenset[str]:
        """Live pilots that meet the task's requirements (cached per requirements)."""
        req = task.requirements
        known = self.state.eligibility.get(req)
        if known is None:
            known = frozenset(p.name for p in self.state.live_pilots() if req.unmet_by(p) is None)
            self.state.eligibility[req] = known
        return known

    def place_locked(self, task: QuantumTask, now: float) -> str | None:
        """Set the task's eligible pilots; returns why it can never run, or ``None`` if it can wait.

        A task no live pilot can serve waits only while a pilot may still come: one is draining, the user
        removed one (and may add another), or the executor has none yet. If live pilots exist and none
        can serve it, or every pilot failed, no pilot could ever serve it.
        """
        task.eligible = self.eligible_locked(task)
        if task.eligible:
            task.waiting_since = None
            return None
        if self.state.live_pilots() or not self.state.may_come():
            return self.why_unschedulable_locked(task)
        if task.waiting_since is None:
            task.waiting_since = now
        return None

    def why_unschedulable_locked(self, task: QuantumTask) -> str:
        """Why no pilot can serve ``task``: its requirements, what each pilot lacks, each dead pilot."""
        req = task.requirements
        live = self.state.live_pilots()
        parts = [f"requirements {req.describe()}"]
        if live:
            parts.append("; ".join(f"{p.name}: {req.unmet_by(p)}" for p in live))
        known = [p for p in live if p.qubits is not None]
        if known and req.qubits:
            largest = max(known, key=lambda p: p.qubits or 0)
            parts.append(f"largest pilot is '{largest.name}' with {largest.qubits} qubits")
        gone = [p for p in self.state.pilots.values() if p.state not in LIVE_STATES]
        if gone:
            parts.append("not live: " + ", ".join(f"{p.name} ({p.state.value}: {p.reason})" for p in gone))
        return "no pilot can serve it: " + "; ".join(parts)

    def reclassify_locked(self, now: float) -> Stranded:
        """Recompute where waiting tasks may go after pilots changed; returns those no pilot can ever
        serve, with why (removed from the queue)."""
        state = self.state
        state.eligibility.clear()
        state.queue.reclassify(self.eligible_locked)
        stranded = []
        waiting = state.queue.without_pilot()
        if waiting and (state.live_pilots() or not state.may_come()):
            for task in waiting:
                state.queue.remove(task)
                state.tasks.pop(task.task_id, None)
                stranded.append((task, self.why_unschedulable_locked(task)))
        else:
            for task in waiting:
                if task.waiting_since is None:
                    task.waiting_since = now
        for task in state.queue:
            if task.eligible:
                task.waiting_since = None
        return stranded

    def requeue_locked(self, task: QuantumTask, now: float) -> None:
        """Put a task whose attempt ended back in the queue; older attempts are ignored from now on."""
        task.generation += 1
        task.pilot = None
        task.eligible = self.eligible_locked(task)
        if not task.eligible and task.waiting_since is None:
            task.waiting_since = now
        self.state.queue.push(task)

    def demand(self, pilot: str) -> int:
        """Waiting tasks that ``pilot`` could serve (drives its scaling)."""
        with self.state.lock:
            return self.state.queue.demand(pilot)

    # -- submission and binding ------------------------------------------------------------------------
    def enqueue(self, task: QuantumTask) -> None:
        """Queue a new task, or fail it at once if no pilot could ever serve it."""
        with self.state.lock:
            reason = self.place_locked(task, time.time())
            first_of_its_kind = False
            if reason is None:
                self.state.tasks[task.task_id] = task
                first_of_its_kind = self.state.queue.push(task) and bool(task.eligible)
        if reason is not None:
            self.fail_unschedulable([(task, reason)])
        elif first_of_its_kind:  # otherwise tasks like it already wait for a slot to open
            self.dispatch()

    def dispatch(self) -> None:
        """Bind what can be bound now and send it to the pilots.

        Called inline where a slot may have opened or work arrived (submission, completion), so that no
        thread hand-off sits on a task's path; the supervisor's poller covers capacity changes.
        """
        bound = []
        state = self.state
        with state.lock:
            if not any(p.wants_work for p in state.pilots.values()):
                return  # every pilot is full: nothing to bind (the common case while work waits)
            now = time.time()
            for task, name in choose_bindings(state.queue, state.pilots.values(), state.policy):
                pilot = state.pilots[name]
                state.queue.remove(task)
                task.attempt += 1
                task.pilot = name
                record = task.record
                record.bind, record.attempts = now, task.attempt
                record.pilot, record.backend, record.kind = name, pilot.backend, pilot.kind
                pilot.in_flight[task.task_id] = task
                bound.append((task, pilot, task.generation))
        for task, pilot, generation in bound:
            try:
                inner = pilot.submit(task)
            except Exception as exc:
                self.on_fault(pilot, task, generation, Fault.PILOT, f"could not submit to its workers: {exc}")
                continue
            inner.add_done_callback(partial(self.on_done, task, pilot, generation))

    # -- completion ----------------------------------------------------------------------------------
    @_guarded
    def on_done(self, task: QuantumTask, pilot: Pilot, generation: int, inner: Future) -> None:
        """Result of one attempt (called on the pilot HTEX's result thread)."""
        with self.state.lock:
            if task.task_id not in self.state.tasks:
                return  # the task is finished
            stale = task.generation != generation
        exc = inner.exception()
        if stale:
            # an attempt given up already (its pool was replaced): only a worker it killed still counts
            if exc is not None and classify_exception(exc) is Fault.TASK:
                self.on_fault(pilot, task, generation, Fault.TASK, f"{type(exc).__name__}: {exc}")
            return
        if exc is not None:
            fault = classify_exception(exc)
            if fault is Fault.USER:
                self.finish(task, pilot, exception=exc)
            else:
                self.on_fault(pilot, task, generation, fault, f"{type(exc).__name__}: {exc}")
        else:
            shipped, start, end, worker = inner.result()
            value = unship(shipped)
            record = task.record
            record.start, record.end, record.worker = start, end, worker
            record.host = worker.rsplit(":", 1)[0]
            fault = classify_outcome(value)
            if fault is not None and fault is not Fault.USER:
                self.on_fault(pilot, task, generation, fault, f"{value.e_type.__name__}: {value.e_value}")
            else:
                if fault is None:
                    self.state.estimator.observe(task.info, pilot.name, end - start)
                self.finish(task, pilot, result=value)
        self.dispatch()

    def finish(
        self, task: QuantumTask, pilot: Pilot, result: Any = None, exception: BaseException | None = None
    ) -> None:
        """A task ran to its end on ``pilot`` (a result or its own error); a removed pilot that just
        became idle is stopped."""
        retire = False
        with self.state.lock:
            self.state.tasks.pop(task.task_id, None)
            pilot.in_flight.pop(task.task_id, None)
            pilot.tasks_done += 1
            pilot.breaker.record_success()
            if pilot.state is PilotState.DRAINING and not pilot.in_flight:
                pilot.move_to(PilotState.STOPPED, "removed")
                retire = True
        failed = exception is not None or isinstance(result, RemoteExceptionWrapper)
        self.complete(task, result=result, exception=exception, outcome="error" if failed else "success")
        if retire:
            self.on_retire(pilot)

    def fail_unschedulable(self, stranded: Stranded) -> None:
        """Fail tasks no pilot can ever serve, each with why."""
        for task, reason in stranded:
            self.complete(
                task,
                exception=UnschedulableTaskError(self.state.label, task.task_id, reason),
                outcome="unschedulable",
            )

    def complete(
        self,
        task: QuantumTask,
        result: Any = None,
        exception: BaseException | None = None,
        outcome: str = "success",
    ) -> None:
        """Record the outcome and complete the task's future (never with the lock held)."""
        record = task.record
        record.done = time.time()
        record.outcome = outcome
        record.parsl_task_id = dfk_task_id(task.future)
        if exception is not None:
            record.error = str(exception)
        elif isinstance(result, RemoteExceptionWrapper):
            record.error = f"{result.e_type.__name__}: {result.e_value}"
        self.state.metrics.add(record)
        if not task.future.done():
            if exception is not None:
                task.future.set_exception(exception)
            else:
                task.future.set_result(result)
        for listener in list(self.state.listeners):
            try:
                listener(record)
            except Exception:
                logger.exception("executor %s: completion listener %r failed", self.state.label, listener)
