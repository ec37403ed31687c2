"""``QuantumPilotExecutor``: a Parsl executor that late-binds quantum tasks to heterogeneous pilots.

Life of a task here:

1. ``submit`` (called by the DataFlowKernel once the task's dependencies are done) parses the task's
   requirements; a task that no pilot can ever serve fails at once, saying why. The rest wait in a
   priority queue.
2. The dispatcher binds waiting tasks to pilots only when a pilot they may use has a free slot
   (connected workers plus a small prefetch); the placement policy picks among eligible pilots and the
   binding time is recorded.
3. The pilot's HighThroughputExecutor runs the task on a worker, which builds the pilot's device once
   and passes it as ``device=``.
4. On completion the metrics are recorded. A pilot fault (lost worker or block, device that cannot be
   built, a backend error that is not the task's) marks the pilot failed and sends its tasks back to the
   queue, up to ``max_attempts``; an exception of the task's own function reaches its future as it is.
   When no pilot can serve a waiting task any more, the task fails with a message that says so.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any

import typeguard
from parsl.app.errors import RemoteExceptionWrapper
from parsl.executors.base import ParslExecutor
from parsl.executors.errors import BadStateException
from parsl.executors.high_throughput.errors import ManagerLost, WorkerLost
from parsl.jobs.states import JobState
from parsl.jobs.strategy import Strategy
from parsl.monitoring.radios.base import RadioConfig
from parsl.monitoring.radios.htex import HTEXRadio
from parsl.serialize import pack_apply_message
from parsl.serialize.errors import SerializationError
from parsl.utils import RepresentationMixin

from parsl_quantum.executors.errors import (
    ExecutorShutdownError,
    PilotError,
    TaskFailoverExhaustedError,
    UnschedulableTaskError,
)
from parsl_quantum.executors.metrics import MetricsStore, TaskRecord
from parsl_quantum.executors.pilot import Pilot, PilotState, PilotStatus
from parsl_quantum.executors.policies import POLICIES, PilotLoad, make_policy
from parsl_quantum.executors.requirements import Requirements
from parsl_quantum.executors.runtime_estimates import Prior, RuntimeEstimator, signature_of
from parsl_quantum.executors.task import QuantumTask
from parsl_quantum.executors.worker import unship
from parsl_quantum.providers.errors import BackendError
from parsl_quantum.providers.pilot import PilotDescription

logger = logging.getLogger(__name__)

_PILOT_FAULTS = (WorkerLost, ManagerLost, BadStateException, BackendError)
_DEAD_BLOCK = (JobState.FAILED, JobState.MISSING, JobState.CANCELLED, JobState.COMPLETED)


_KEYWORDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def accepts_keyword(func: Callable[..., Any], name: str) -> bool:
    """Whether ``func`` (seen through ``functools.wraps`` wrappers) takes the keyword ``name``.

    Answers are cached per function object: an app submits the same function for every call.
    """
    try:
        known = _KEYWORDS.setdefault(func, {})
    except TypeError:  # not weak-referenceable
        known = {}
    if name not in known:
        try:
            params = inspect.signature(func).parameters
            variadic = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
            known[name] = name in params or variadic
        except (TypeError, ValueError):
            known[name] = False
    return known[name]


class QuantumPilotExecutor(ParslExecutor, RepresentationMixin):
    """Late binding of quantum tasks to CPU, GPU and QPU pilots.

    Parameters
    ----------
    label
        The executor's label; quantum apps name it in ``executors=[...]``.
    pilots
        The pilots to acquire at start. More can be added while tasks run (:meth:`add_pilot`).
    policy
        How a task's pilot is chosen among eligible pilots with a free slot: ``"round_robin"``,
        ``"least_loaded"``, ``"best_fidelity"`` or ``"earliest_finish"``.
    max_attempts
        How many times a task may be bound before pilot faults fail it. The task's own exceptions are
        never retried here (Parsl's ``retries`` does that).
    prefetch
        Tasks handed to each worker beyond the one it runs, so that it never idles while work waits (a
        pilot description may override it). ``None`` adapts it to the observed task runtimes: one task
        for long tasks, up to 8 for tasks of a few milliseconds.
    strategy
        Parsl scaling strategy for the pilots' blocks (``"htex_auto_scale"``, ``"simple"``, ``"none"``).
    max_idletime
        Seconds a pilot's block may idle before the strategy releases it (down to ``min_blocks``).
    strategy_period
        Seconds between scaling decisions and block status checks.
    runtime_prior
        Runtime predictions for tasks not yet observed, ``prior(signature_info, pilot_name) -> seconds``
        (e.g. from Q-Dreamer); used by ``earliest_finish``.
    remote_monitoring_radio
        How workers report to Parsl monitoring (default: through the pilots' HTEX result channels).
    """

    @typeguard.typechecked
    def __init__(
        self,
        label: str = "quantum",
        pilots: Sequence[PilotDescription] = (),
        policy: str = "earliest_finish",
        max_attempts: int = 3,
        prefetch: int | None = None,
        strategy: str = "htex_auto_scale",
        max_idletime: float = 120.0,
        strategy_period: float = 1.0,
        runtime_prior: Prior | None = None,
        remote_monitoring_radio: RadioConfig | None = None,
    ) -> None:
        super().__init__()
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if prefetch is not None and prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        names = [p.name for p in pilots]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"pilot names must be unique; repeated: {', '.join(duplicates)}")
        self.label = label
        self.policy = policy
        self.max_attempts = max_attempts
        self.prefetch = prefetch
        self.strategy = strategy
        self.max_idletime = max_idletime
        self.strategy_period = strategy_period
        self.runtime_prior = runtime_prior
        self.remote_monitoring_radio = remote_monitoring_radio or HTEXRadio()
        self._descriptions = list(pilots)
        self.estimator = RuntimeEstimator(prior=runtime_prior)
        self._policy = make_policy(policy, self.estimator)
        self._pilots: dict[str, Pilot] = {}
        self._eligibility: dict[Requirements, frozenset[str]] = {}
        self._retired: list[Pilot] = []
        self._queue_lock = threading.Lock()
        from parsl_quantum.executors.task_queue import TaskQueue

        self._queue = TaskQueue()
        self._tasks: dict[int, QuantumTask] = {}
        self._next_id = 0
        self._wake = threading.Condition(self._queue_lock)
        self._stop = threading.Event()
        self._started = False
        self._scaling = Strategy(strategy=strategy, max_idletime=max_idletime)
        self._threads: list[threading.Thread] = []
        self._metrics = MetricsStore(None)

    # -- configuration as code ---------------------------------------------------------------------
    def __repr__(self) -> str:
        # RepresentationMixin reads constructor arguments from attributes, but ``pilots`` is the live
        # status; show the descriptions instead so the configuration still prints as code.
        args = {
            "label": self.label,
            "pilots": self._descriptions,
            "policy": self.policy,
            "max_attempts": self.max_attempts,
            "prefetch": self.prefetch,
            "strategy": self.strategy,
            "max_idletime": self.max_idletime,
            "strategy_period": self.strategy_period,
            "runtime_prior": self.runtime_prior,
            "remote_monitoring_radio": self.remote_monitoring_radio,
        }
        inner = ",\n    ".join(f"{k}={v!r}" for k, v in args.items())
        return f"{type(self).__name__}(\n    {inner}\n)"

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every pilot's HTEX, the dispatcher and the poller."""
        super().start()
        label_dir = os.path.join(self.run_dir, self.label)
        os.makedirs(label_dir, exist_ok=True)
        self._metrics = MetricsStore(os.path.join(label_dir, "tasks.sqlite"))
        for description in self._descriptions:
            self._start_pilot(description)
        self._started = True
        for target, name in ((self._dispatch_loop, "dispatcher"), (self._poll_loop, "poller")):
            thread = threading.Thread(target=target, name=f"{self.label}-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _start_pilot(self, description: PilotDescription) -> Pilot:
        pilot = Pilot(
            description,
            self.label,
            self.prefetch,
            partial(self._demand, description.name),
            partial(self.estimator.pilot_mean, description.name),
        )
        pilot.start(self.run_dir, self.run_id, self.monitoring_messages, self.log_config)
        self._scaling.add_executors([pilot.htex])
        with self._queue_lock:
            self._pilots[pilot.name] = pilot
            self._eligibility.clear()
        logger.info("pilot %s started (%s on %s)", pilot.name, pilot.kind, pilot.backend)
        return pilot

    def shutdown(self) -> None:
        """Fail tasks still waiting, release every pilot's blocks and stop the threads."""
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)
        leftovers = []
        with self._queue_lock:
            pilots = list(self._pilots.values())
            for task in list(self._tasks.values()):
                leftovers.append(task)
            self._tasks.clear()
        for task in leftovers:
            self._complete(
                task,
                exception=ExecutorShutdownError(self.label, f"task {task.task_id} unfinished at shutdown"),
                outcome="cancelled",
            )
        for pilot in pilots:
            pilot.stop()
        self._metrics.flush()
        super().shutdown()

    # -- submission ----------------------------------------------------------------------------------
    def submit(
        self, func: Callable[..., Any], resource_specification: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Future:
        """Queue a task; it is bound to a pilot once one it may use has a free slot.

        Raises
        ------
        parsl.executors.errors.InvalidResourceSpecification
            For unknown requirement keys or malformed values.
        parsl.serialize.errors.SerializationError
            If the function or its arguments cannot be serialised.
        """
        requirements = Requirements.from_spec(resource_specification)
        name = getattr(func, "__name__", type(func).__name__)
        inject_device = accepts_keyword(func, "device")
        if "parsl_resource_specification" in kwargs and not accepts_keyword(
            func, "parsl_resource_specification"
        ):
            # Parsl passes the specification on to the function; one that does not declare it has no use
            # for it (the executor consumed it), so it is not forced on the function.
            kwargs = {k: v for k, v in kwargs.items() if k != "parsl_resource_specification"}
        try:
            # Serialised here, on the submitting thread as Parsl's own executors do, not when bound.
            buffer = pack_apply_message(func, args, kwargs, buffer_threshold=1 << 20)
        except TypeError as exc:
            raise SerializationError(name) from exc
        future: Future = Future()
        with self._queue_lock:
            if self._stop.is_set():
                raise ExecutorShutdownError(self.label, "executor is shut down")
            self._next_id += 1
            task_id = self._next_id
            future.parsl_executor_task_id = task_id  # type: ignore[attr-defined]
            record = TaskRecord(
                task_id=task_id,
                name=name,
                submit=time.time(),
                qubits=requirements.qubits,
                shots=requirements.shots,
                priority=requirements.priority,
            )
            task = QuantumTask(
                task_id=task_id,
                seq=task_id,
                buffer=buffer,
                requirements=requirements,
                info=signature_of(name, requirements.qubits, requirements.shots),
                future=future,
                record=record,
                inject_device=inject_device,
            )
            task.eligible = self._eligible(task)
            reason = None if task.eligible else self._why_unschedulable(task)
            first_of_its_kind = False
            if reason is None:
                self._tasks[task_id] = task
                first_of_its_kind = self._queue.push(task)
        if reason is not None:
            self._complete(
                task, exception=UnschedulableTaskError(self.label, task_id, reason), outcome="unschedulable"
            )
        elif first_of_its_kind:  # otherwise tasks like it already wait for a slot to open
            self._dispatch()
        return future

    # -- eligibility ---------------------------------------------------------------------------------
    def _open_pilots(self) -> list[Pilot]:
        return [p for p in self._pilots.values() if p.state in (PilotState.STARTING, PilotState.ACTIVE)]

    def _eligible(self, task: QuantumTask) -> frozenset[str]:
        """Names of the open pilots that meet the task's requirements (lock held).

        Cached per distinct requirements; :meth:`_pilots_changed` clears the cache whenever a pilot is
        added, closes, or becomes known.
        """
        names = self._eligibility.get(task.requirements)
        if names is None:
            names = frozenset(p.name for p in self._open_pilots() if task.requirements.unmet_by(p) is None)
            self._eligibility[task.requirements] = names
        return names

    def _set_state(self, pilot: Pilot, state: PilotState) -> None:
        """Change a pilot's state (lock held)."""
        pilot.state = state
        self._eligibility.clear()

    def _why_unschedulable(self, task: QuantumTask) -> str:
        req = task.requirements
        pilots = self._open_pilots()
        gone = [p for p in list(self._pilots.values()) + self._retired if p not in pilots]
        parts = [f"it requires {req.describe()}"]
        if pilots:
            parts.append("; ".join(f"{p.name}: {req.unmet_by(p)}" for p in pilots))
            known = [p for p in pilots if p.qubits is not None]
            if known:
                largest = max(known, key=lambda p: p.qubits or 0)
                parts.append(f"largest pilot is '{largest.name}' with {largest.qubits} qubits")
        else:
            parts.append("the executor has no running pilot")
        if gone:
            parts.append(
                "no longer available: " + ", ".join(f"{p.name} ({p.state.value}: {p.reason})" for p in gone)
            )
        return "no pilot can serve it: " + "; ".join(parts)

    def _demand(self, pilot: str) -> int:
        with self._queue_lock:
            return self._queue.demand(pilot)

    def _reclassify(self) -> list[QuantumTask]:
        """Recompute eligibility of waiting tasks (lock held); returns those no pilot can serve now."""
        self._eligibility.clear()
        self._queue.reclassify(self._eligible)
        stranded = [t for t in self._queue if not t.eligible]
        for task in stranded:
            self._queue.remove(task)
            self._tasks.pop(task.task_id, None)
        return stranded

    def _fail_stranded(self, stranded: list[QuantumTask], reasons: list[str]) -> None:
        for task, reason in zip(stranded, reasons, strict=True):
            self._complete(
                task,
                exception=UnschedulableTaskError(self.label, task.task_id, reason),
                outcome="unschedulable",
            )

    # -- binding -------------------------------------------------------------------------------------
    def _bind_waiting(self) -> list[tuple[QuantumTask, Pilot, int]]:
        """One dispatch pass (lock held): bind waiting tasks to pilots with free slots."""
        loads = {
            p.name: PilotLoad(
                p.name,
                p.capacity,
                p.limit if p.wants_work else len(p.in_flight),  # a pilot waiting for a batch is full
                len(p.in_flight),
                p.fidelity or 1.0,
            )
            for p in self._pilots.values()
            if p.accepting and p.capacity > 0
        }
        if not any(load.free > 0 for load in loads.values()):
            return []
        lookahead = 2 * sum(load.limit for load in loads.values()) + 8
        chosen: list[tuple[QuantumTask, str]] = []
        for task in self._queue.waiting_for([n for n, load in loads.items() if load.free > 0]):
            candidates = [loads[n] for n in task.eligible if n in loads]
            pick = self._policy.choose(task.info, candidates)
            if pick is not None:
                pick.held += 1
                chosen.append((task, pick.name))
            lookahead -= 1
            if lookahead <= 0 or not any(load.free > 0 for load in loads.values()):
                break
        now = time.time()
        bound = []
        for task, name in chosen:
            pilot = self._pilots[name]
            self._queue.remove(task)
            task.attempt += 1
            task.pilot = name
            record = task.record
            record.bind, record.attempts = now, task.attempt
            record.pilot, record.backend, record.kind = name, pilot.backend, pilot.kind
            pilot.in_flight[task.task_id] = task
            bound.append((task, pilot, task.attempt))
        return bound

    def _launch(self, bound: list[tuple[QuantumTask, Pilot, int]]) -> None:
        for task, pilot, attempt in bound:
            try:
                inner = pilot.submit(task)
            except Exception as exc:
                self._pilot_fault(pilot, f"could not submit to its workers: {exc}", task, attempt)
                continue
            inner.add_done_callback(partial(self._on_done, task, pilot, attempt))

    def _dispatch(self) -> None:
        """Bind what can be bound now and send it to the pilots.

        Called inline where a slot may have opened or work arrived (submission, completion), so that no
        thread hand-off sits on a task's path; the dispatcher thread covers capacity changes.
        """
        with self._queue_lock:
            if not any(p.wants_work for p in self._pilots.values()):
                return  # every pilot is full: nothing to bind (the common case while work waits)
            bound = self._bind_waiting()
        if bound:
            self._launch(bound)

    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            with self._wake:
                self._wake.wait(timeout=0.5)
            self._dispatch()

    def _notify(self) -> None:
        with self._wake:
            self._wake.notify()

    # -- completion ----------------------------------------------------------------------------------
    def _on_done(self, task: QuantumTask, pilot: Pilot, attempt: int, inner: Future) -> None:
        """Result of one attempt (called on the pilot HTEX's result thread)."""
        with self._queue_lock:
            if task.attempt != attempt or task.task_id not in self._tasks:
                return  # an attempt that was already given up
            pilot.in_flight.pop(task.task_id, None)
            drained = pilot.state is PilotState.DRAINING and not pilot.in_flight
        exc = inner.exception()
        if exc is not None:
            if isinstance(exc, _PILOT_FAULTS):
                self._pilot_fault(pilot, f"{type(exc).__name__}: {exc}", task, attempt)
                return
            self._finish(task, pilot, exception=exc)
        else:
            shipped, start, end, host = inner.result()
            value = unship(shipped)
            if isinstance(value, RemoteExceptionWrapper) and issubclass(value.e_type, BackendError):
                self._pilot_fault(pilot, f"backend error: {value.e_value}", task, attempt)
                return
            record = task.record
            record.start, record.end, record.host = start, end, host
            self.estimator.observe(task.info, pilot.name, end - start)
            self._finish(task, pilot, result=value)
        if drained:
            self._retire_async(pilot)
        self._dispatch()

    def _finish(
        self, task: QuantumTask, pilot: Pilot, result: Any = None, exception: BaseException | None = None
    ) -> None:
        with self._queue_lock:
            self._tasks.pop(task.task_id, None)
            pilot.tasks_done += 1
        failed = exception is not None or isinstance(result, RemoteExceptionWrapper)
        self._complete(task, result=result, exception=exception, outcome="error" if failed else "success")

    def _complete(
        self,
        task: QuantumTask,
        result: Any = None,
        exception: BaseException | None = None,
        outcome: str = "success",
    ) -> None:
        """Record the outcome and complete the task's future (never with a lock held)."""
        record = task.record
        record.done = time.time()
        record.outcome = outcome
        if exception is not None:
            record.error = str(exception)
        elif isinstance(result, RemoteExceptionWrapper):
            record.error = f"{result.e_type.__name__}: {result.e_value}"
        self._metrics.add(record)
        if task.future.done():
            return
        if exception is not None:
            task.future.set_exception(exception)
        else:
            task.future.set_result(result)

    # -- faults --------------------------------------------------------------------------------------
    def _pilot_fault(
        self, pilot: Pilot, reason: str, task: QuantumTask | None = None, attempt: int = 0
    ) -> None:
        """Mark ``pilot`` failed and send its tasks back to the queue (or fail them past max_attempts)."""
        exhausted: list[QuantumTask] = []
        with self._queue_lock:
            newly_failed = pilot.state not in (PilotState.FAILED, PilotState.REMOVED)
            returning = []
            if task is not None and task.attempt == attempt and task.task_id in self._tasks:
                returning.append(task)
            if newly_failed:
                logger.warning("pilot %s failed: %s", pilot.name, reason)
                self._set_state(pilot, PilotState.FAILED)
                pilot.reason = reason
                returning.extend(t for t in pilot.in_flight.values() if t is not task)
                pilot.in_flight.clear()
            for t in returning:
                pilot.in_flight.pop(t.task_id, None)
                t.failures.append(f"attempt {t.attempt} on pilot '{pilot.name}': {reason}")
                t.attempt += 1  # results still arriving for the lost attempt are ignored
                if len(t.failures) >= self.max_attempts:
                    self._tasks.pop(t.task_id, None)
                    exhausted.append(t)
                else:
                    t.eligible = self._eligible(t)
                    self._queue.push(t)
            stranded = self._reclassify()
            reasons = [self._why_unschedulable(t) for t in stranded]
            self._wake.notify()
        for t in exhausted:
            self._complete(
                t, exception=TaskFailoverExhaustedError(self.label, t.task_id, t.failures), outcome="failed"
            )
        self._fail_stranded(stranded, reasons)
        if newly_failed:
            self._retire_async(pilot)

    def _retire_async(self, pilot: Pilot) -> None:
        """Retire ``pilot`` on a thread of its own: stopping an HTEX joins its result thread, which may be
        the caller."""
        thread = threading.Thread(target=self._retire, args=(pilot,), name=f"stop-{pilot.name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _retire(self, pilot: Pilot) -> None:
        """Stop a failed, drained or removed pilot and keep it for reporting."""
        with self._queue_lock:
            if self._pilots.get(pilot.name) is pilot:
                del self._pilots[pilot.name]
                self._retired.append(pilot)
            if pilot.state is not PilotState.FAILED:
                self._set_state(pilot, PilotState.REMOVED)
        pilot.stop()

    # -- polling: capacity, block health, scaling, metrics ---------------------------------------------
    def _poll_loop(self) -> None:
        last_strategy = 0.0
        while not self._stop.wait(0.2):
            for pilot in list(self._pilots.values()):
                if pilot.state in (PilotState.FAILED, PilotState.REMOVED):
                    continue
                try:
                    was_described = pilot.described
                    pilot.refresh_capacity()
                    if time.time() - last_strategy >= self.strategy_period:
                        pilot.htex.poll_facade()
                        self._check_blocks(pilot)
                        if pilot.state not in (PilotState.FAILED, PilotState.REMOVED):
                            self._scaling.strategize([pilot.htex])
                    if pilot.described and not was_described:
                        self._on_described()
                except Exception:
                    if self._stop.is_set():
                        return
                    logger.exception("poller: pilot %s", pilot.name)
            if time.time() - last_strategy >= self.strategy_period:
                last_strategy = time.time()
                self._metrics.flush()
            self._notify()

    def _on_described(self) -> None:
        with self._queue_lock:
            stranded = self._reclassify()
            reasons = [self._why_unschedulable(t) for t in stranded]
        self._fail_stranded(stranded, reasons)

    def _check_blocks(self, pilot: Pilot) -> None:
        """Fail a pilot whose block died; return the tasks of an expired QPU session to the queue."""
        statuses = pilot.htex.status_facade
        dead = [(b, s) for b, s in statuses.items() if s.state in _DEAD_BLOCK]
        if dead:
            block, status = dead[0]
            detail = status.message or ""
            if status.stderr_summary:
                detail += f" stderr: {status.stderr_summary[-500:]}"
            self._pilot_fault(pilot, f"block {block} ended {status.state.name} {detail}".strip())
            return
        expired = [b for b, s in statuses.items() if s.state is JobState.TIMEOUT]
        if expired and not pilot.has_live_block():
            with self._queue_lock:
                lost = [t for t in pilot.in_flight.values()]
                pilot.in_flight.clear()
                pilot.capacity = 0
                pilot.state = PilotState.STARTING
                for t in lost:
                    t.failures.append(f"attempt {t.attempt} on pilot '{pilot.name}': QPU session expired")
                    t.attempt += 1
                    t.eligible = self._eligible(t)
                    self._queue.push(t)
                self._wake.notify()
            if lost:
                logger.info("pilot %s: session expired; %d tasks back in the queue", pilot.name, len(lost))

    # -- public pilot management ------------------------------------------------------------------------
    def add_pilot(self, description: PilotDescription) -> None:
        """Add a pilot; it takes waiting work as soon as its workers connect.

        Raises
        ------
        PilotError
            If a running pilot already has this name.
        """
        with self._queue_lock:
            if description.name in self._pilots:
                raise PilotError(self.label, f"a pilot named '{description.name}' already exists")
        self._descriptions.append(description)
        if not self._started:
            return
        self._start_pilot(description)
        with self._queue_lock:
            self._reclassify()
            self._wake.notify()

    def remove_pilot(self, name: str, drain: bool = True) -> None:
        """Remove a pilot while tasks run.

        Parameters
        ----------
        name
            The pilot's name.
        drain
            If true, the pilot finishes the tasks it holds and takes nothing new; otherwise its tasks go
            back to the queue at once (without counting as failed attempts).

        Raises
        ------
        PilotError
            If there is no running pilot of that name.
        """
        with self._queue_lock:
            pilot = self._pilots.get(name)
            if pilot is None:
                raise PilotError(self.label, f"no running pilot named '{name}'")
            self._descriptions = [d for d in self._descriptions if d.name != name]
            self._set_state(pilot, PilotState.DRAINING)
            returning: list[QuantumTask] = []
            if not drain:
                returning = list(pilot.in_flight.values())
                pilot.in_flight.clear()
                for task in returning:
                    task.attempt += 1
                    task.eligible = self._eligible(task)
                    self._queue.push(task)
            stranded = self._reclassify()
            reasons = [self._why_unschedulable(t) for t in stranded]
            idle = not pilot.in_flight
            self._wake.notify()
        self._fail_stranded(stranded, reasons)
        if idle:
            self._retire_async(pilot)

    def wait_for_pilots(self, names: Sequence[str] | None = None, timeout: float = 120.0) -> float:
        """Block until the named pilots (default: all) have connected workers; returns the seconds waited.

        Raises
        ------
        PilotError
            If a pilot failed, or the timeout passed first (the message says which pilots are not up).
        """
        start = time.time()
        while True:
            status = self.pilots
            wanted = list(names) if names is not None else [n for n in status if status[n].state != "removed"]
            failed = [n for n in wanted if n in status and status[n].state == "failed"]
            if failed:
                raise PilotError(
                    self.label, "; ".join(f"pilot '{n}' failed: {status[n].reason}" for n in failed)
                )
            waiting = [n for n in wanted if n not in status or not status[n].workers]
            if not waiting:
                return time.time() - start
            if time.time() - start > timeout:
                raise PilotError(self.label, f"pilots {waiting} have no connected worker after {timeout} s")
            time.sleep(0.1)

    @property
    def pilot_descriptions(self) -> list[PilotDescription]:
        """The descriptions of the pilots asked for (at construction and by :meth:`add_pilot`)."""
        return list(self._descriptions)

    @property
    def pilots(self) -> dict[str, PilotStatus]:
        """Status of every pilot, running or retired, by name."""
        with self._queue_lock:
            every = self._retired + list(self._pilots.values())
        return {p.name: p.status() for p in every}

    def metrics(self) -> list[TaskRecord]:
        """Records of finished tasks, in completion order (also in ``<run_dir>/<label>/tasks.sqlite``)."""
        return self._metrics.records()

    @property
    def metrics_path(self) -> str | None:
        """The SQLite file the task records are written to (after start)."""
        return self._metrics.path

    def outstanding(self) -> int:
        """Tasks waiting or running."""
        with self._queue_lock:
            return len(self._tasks)

    def monitor_resources(self) -> bool:
        """Pilot workers are processes, so Parsl resource monitoring works on them."""
        return True
