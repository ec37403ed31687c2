"""``QuantumPilotExecutor``: a Parsl executor that late-binds quantum tasks to heterogeneous pilots.

Life of a task here:

1. ``submit`` (called by the DataFlowKernel once the task's dependencies are done) parses the task's
   requirements. A task that no pilot, running or recovering, could ever serve fails at once, saying why;
   while no pilot is up at all, tasks wait for one (up to ``pilot_wait_timeout``).
2. Late binding (:mod:`~parsl_quantum.executors.binding`): only when an active pilot the task may use has
   a free slot does the policy choose the pilot.
3. The pilot's HighThroughputExecutor runs the task on a worker, which passes its device as ``device=``
   to functions that declare that parameter; any other Parsl app runs as it would on HTEX.
4. What comes back is classified by the fault model (:mod:`~parsl_quantum.executors.faults`): a result or
   the task's own error completes the future; a task fault or a backend error requeues the task (one
   attempt of its own); a pilot fault puts the pilot into recovery and requeues its tasks free of charge.
   No future is ever left pending.

Where things live: the pilot state machine in ``pilot_states.py``, a running pilot in
``pilot_runtime.py``, block and worker health in ``health.py``, fault classes and counters in
``faults.py``, the dispatch pass in ``binding.py``, serialisation of calls in ``serialization.py``.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any

import typeguard
from parsl.app.errors import RemoteExceptionWrapper
from parsl.executors.base import ParslExecutor
from parsl.jobs.strategy import Strategy
from parsl.monitoring.radios.base import RadioConfig
from parsl.monitoring.radios.htex import HTEXRadio
from parsl.serialize.errors import SerializationError
from parsl.utils import RepresentationMixin

from parsl_quantum.executors.binding import choose_bindings
from parsl_quantum.executors.errors import (
    ExecutorShutdownError,
    PilotError,
    TaskFailoverExhaustedError,
    UnschedulableTaskError,
)
from parsl_quantum.executors.faults import Fault, classify_exception, classify_outcome
from parsl_quantum.executors.health import (
    describe_block_end,
    expired_sessions,
    has_live_block,
    lost_blocks,
    overdue,
    stalled,
)
from parsl_quantum.executors.metrics import MetricsStore, TaskRecord, dfk_task_id
from parsl_quantum.executors.pilot_runtime import HEARTBEAT_THRESHOLD_S, Pilot, PilotStatus
from parsl_quantum.executors.pilot_states import LIVE_STATES, TERMINAL_STATES, PilotState
from parsl_quantum.executors.policies import POLICIES, make_policy
from parsl_quantum.executors.requirements import Requirements
from parsl_quantum.executors.runtime_estimates import Prior, RuntimeEstimator, signature_of
from parsl_quantum.executors.serialization import KeywordCache, pack_call
from parsl_quantum.executors.task import QuantumTask
from parsl_quantum.executors.task_queue import TaskQueue
from parsl_quantum.executors.worker import unship
from parsl_quantum.providers.pilot import PilotDescription

logger = logging.getLogger(__name__)

CompletionListener = Callable[[TaskRecord], None]


def _guarded(method: Callable[..., None]) -> Callable[..., None]:
    """Run a completion callback so that an exception inside it fails its task instead of vanishing."""

    @functools.wraps(method)
    def wrapper(self: QuantumPilotExecutor, task: QuantumTask, *args: Any) -> None:
        try:
            method(self, task, *args)
        except Exception as exc:
            logger.exception("executor %s: handling task %s failed", self.label, task.task_id)
            with self._lock:
                self._tasks.pop(task.task_id, None)
                for pilot in self._pilots.values():
                    pilot.in_flight.pop(task.task_id, None)
            self._complete(task, exception=exc, outcome="failed")

    return wrapper


class QuantumPilotExecutor(ParslExecutor, RepresentationMixin):
    """Late binding of quantum tasks to CPU, GPU and QPU pilots that recover from faults.

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
        Attempts a task may spend on task faults (its worker died) and backend errors before it fails with
        an error naming its pilots and causes. The task's own exceptions are never retried here (Parsl's
        ``retries`` does that); pilot faults cost the task nothing.
    prefetch
        Tasks handed to each worker beyond the one it runs (a pilot description may override it). ``None``
        adapts it to the observed task runtimes: one task for long tasks, up to 8 for very short ones.
    strategy
        Parsl scaling strategy for the pilots' blocks (``"htex_auto_scale"``, ``"simple"``, ``"none"``).
    max_idletime
        Seconds a pilot's block may idle before the strategy releases it (down to ``min_blocks``).
    strategy_period
        Seconds between scaling decisions and block status checks.
    runtime_prior
        Runtime predictions for tasks not yet observed, ``prior(signature_info, pilot_name) -> seconds``
        (e.g. from Q-Dreamer); used by ``earliest_finish``. See also :meth:`set_runtime_prior`.
    remote_monitoring_radio
        How workers report to Parsl monitoring (default: through the pilots' HTEX result channels).
    max_pilot_restarts
        New blocks a pilot may acquire after pilot faults within ``restart_window_s`` before it is failed.
    restart_window_s
        The window over which a pilot's restarts are counted.
    pilot_wait_timeout
        Seconds a task waits while no live pilot could serve it (every pilot down, draining or removed)
        for one to recover or be added, before it fails with each pilot's state and reason.
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
        max_pilot_restarts: int = 3,
        restart_window_s: float = 600.0,
        pilot_wait_timeout: float = 600.0,
    ) -> None:
        super().__init__()
        if policy not in POLICIES:
            raise ValueError(f"unknown policy {policy!r}; choose one of {', '.join(POLICIES)}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        if prefetch is not None and prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {prefetch}")
        if max_pilot_restarts < 0:
            raise ValueError(f"max_pilot_restarts must be >= 0, got {max_pilot_restarts}")
        if pilot_wait_timeout < 0:
            raise ValueError(f"pilot_wait_timeout must be >= 0, got {pilot_wait_timeout}")
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
        self.max_pilot_restarts = max_pilot_restarts
        self.restart_window_s = restart_window_s
        self.pilot_wait_timeout = pilot_wait_timeout
        self._descriptions = list(pilots)
        self.estimator = RuntimeEstimator(prior=runtime_prior)
        self._policy = make_policy(policy, self.estimator)
        self._pilots: dict[str, Pilot] = {}
        self._eligibility: dict[Requirements, frozenset[str]] = {}
        self._lock = threading.Lock()
        self._queue = TaskQueue()
        self._tasks: dict[int, QuantumTask] = {}
        self._next_id = 0
        self._stop = threading.Event()
        self._started = False
        self._scaling = Strategy(strategy=strategy, max_idletime=max_idletime)
        self._threads: list[threading.Thread] = []
        self._metrics = MetricsStore(None)
        self._keywords = KeywordCache()
        self._listeners: list[CompletionListener] = []

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
            "max_pilot_restarts": self.max_pilot_restarts,
            "restart_window_s": self.restart_window_s,
            "pilot_wait_timeout": self.pilot_wait_timeout,
        }
        inner = ",\n    ".join(f"{k}={v!r}" for k, v in args.items())
        return f"{type(self).__name__}(\n    {inner}\n)"

    # -- public interface for planners and tools -----------------------------------------------------
    def set_runtime_prior(self, prior: Prior | None) -> None:
        """Use ``prior(signature_info, pilot_name) -> seconds | None`` for tasks not yet observed."""
        self.runtime_prior = prior
        self.estimator.prior = prior

    def add_completion_listener(self, listener: CompletionListener) -> None:
        """Call ``listener(record)`` once for every task that finishes, with its :class:`TaskRecord`.

        Listeners run on the thread that completed the task and must be quick; what they raise is logged.
        """
        with self._lock:
            self._listeners.append(listener)

    def remove_completion_listener(self, listener: CompletionListener) -> None:
        """Stop calling ``listener``."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every pilot's HTEX and the poller; run files are readable by their owner only."""
        super().start()
        from parsl_quantum.caching import register_memo_keys

        register_memo_keys()  # Parsl's cache=True and checkpoints for circuits, operators and arrays
        label_dir = os.path.join(self.run_dir, self.label)
        os.makedirs(label_dir, mode=0o700, exist_ok=True)
        for path in (self.run_dir, label_dir):
            os.chmod(path, 0o700)
        self._metrics = MetricsStore(os.path.join(label_dir, "tasks.sqlite"))
        for description in self._descriptions:
            self._start_pilot(description)
        self._started = True
        thread = threading.Thread(target=self._poll_loop, name=f"{self.label}-poller", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_pilot(self, description: PilotDescription) -> Pilot:
        pilot = Pilot(
            description,
            self.label,
            self.prefetch,
            partial(self._demand, description.name),
            partial(self.estimator.pilot_mean, description.name),
            max_restarts=self.max_pilot_restarts,
            restart_window_s=self.restart_window_s,
        )
        pilot.start(self.run_dir, self.run_id, self.monitoring_messages, self.log_config)
        self._scaling.add_executors([pilot.htex])
        pilot.probe(self._probe_failed)
        with self._lock:
            self._pilots[pilot.name] = pilot
            stranded = self._reclassify(time.time())
        self._fail_unschedulable(stranded)
        logger.info("pilot %s started (%s on %s)", pilot.name, pilot.kind, pilot.backend)
        return pilot

    def shutdown(self) -> None:
        """Fail tasks still waiting or running, release every pilot's blocks and stop the poller."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        with self._lock:
            pilots = list(self._pilots.values())
            leftovers = list(self._tasks.values())
            self._tasks.clear()
            for pilot in pilots:
                pilot.in_flight.clear()
                if pilot.state not in TERMINAL_STATES:
                    pilot.move_to(PilotState.STOPPED, "executor shut down")
        for task in leftovers:
            self._complete(
                task,
                exception=ExecutorShutdownError(
                    self.label, f"task {task.task_id} ({task.record.name}) was unfinished at shutdown"
                ),
                outcome="cancelled",
            )
        stoppers = [threading.Thread(target=p.stop, name=f"stop-{p.name}") for p in pilots]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(timeout=60)
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
        inject_device = self._keywords.declares(func, "device")
        if "parsl_resource_specification" in kwargs and not self._keywords.accepts(
            func, "parsl_resource_specification"
        ):
            # Parsl passes the specification on to the function; one that does not take it has no use for
            # it (the executor consumed it).
            kwargs = {k: v for k, v in kwargs.items() if k != "parsl_resource_specification"}
        try:
            # Serialised here, on the submitting thread as Parsl's own executors do, not when bound.
            buffer = pack_call(func, args, kwargs)
        except Exception as exc:
            raise SerializationError(name) from exc
        future: Future = Future()
        now = time.time()
        with self._lock:
            if self._stop.is_set():
                raise ExecutorShutdownError(self.label, "executor is shut down")
            self._next_id += 1
            task_id = self._next_id
            future.parsl_executor_task_id = task_id  # type: ignore[attr-defined]
            record = TaskRecord(
                task_id=task_id,
                name=name,
                submit=now,
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
            reason = self._place(task, now)
            first_of_its_kind = False
            if reason is None:
                self._tasks[task_id] = task
                first_of_its_kind = self._queue.push(task) and bool(task.eligible)
        if reason is not None:
            self._complete(
                task, exception=UnschedulableTaskError(self.label, task_id, reason), outcome="unschedulable"
            )
        elif first_of_its_kind:  # otherwise tasks like it already wait for a slot to open
            self._dispatch()
        return future

    # -- eligibility (lock held) ---------------------------------------------------------------------
    def _live_pilots(self) -> list[Pilot]:
        return [p for p in self._pilots.values() if p.state in LIVE_STATES]

    def _eligible(self, task: QuantumTask) -> frozenset[str]:
        """Live pilots that meet the task's requirements (cached per requirements)."""
        req = task.requirements
        known = self._eligibility.get(req)
        if known is None:
            known = frozenset(p.name for p in self._live_pilots() if req.unmet_by(p) is None)
            self._eligibility[req] = known
        return known

    def _place(self, task: QuantumTask, now: float) -> str | None:
        """Set the task's eligible pilots; returns why it can never run, or ``None`` if it can wait.

        A task with no eligible live pilot waits only while no pilot is live at all (every pilot down,
        draining or removed): one may recover or be added. If live pilots exist and none can serve it, no
        pilot could ever serve it.
        """
        task.eligible = self._eligible(task)
        if task.eligible:
            task.waiting_since = None
            return None
        if self._live_pilots():
            return self._why_unschedulable(task)
        if task.waiting_since is None:
            task.waiting_since = now
        return None

    def _why_unschedulable(self, task: QuantumTask) -> str:
        req = task.requirements
        live = self._live_pilots()
        parts = [f"requirements {req.describe()}"]
        parts.append("; ".join(f"{p.name}: {req.unmet_by(p)}" for p in live))
        known = [p for p in live if p.qubits is not None]
        if known and req.qubits:
            largest = max(known, key=lambda p: p.qubits or 0)
            parts.append(f"largest pilot is '{largest.name}' with {largest.qubits} qubits")
        gone = [p for p in self._pilots.values() if p.state not in LIVE_STATES]
        if gone:
            parts.append("not live: " + ", ".join(f"{p.name} ({p.state.value}: {p.reason})" for p in gone))
        return "no pilot can serve it: " + "; ".join(parts)

    def _pilots_report(self) -> str:
        if not self._pilots:
            return "the executor has no pilot"
        return "; ".join(
            f"{p.name}: {p.state.value} ({p.reason or 'no fault'})" for p in self._pilots.values()
        )

    def _demand(self, pilot: str) -> int:
        with self._lock:
            return self._queue.demand(pilot)

    def _reclassify(self, now: float) -> list[tuple[QuantumTask, str]]:
        """Recompute where waiting tasks may go after pilots changed; returns those no pilot can ever
        serve, with why (removed from the queue)."""
        self._eligibility.clear()
        self._queue.reclassify(self._eligible)
        stranded = []
        waiting = self._queue.without_pilot()
        if waiting and self._live_pilots():
            for task in waiting:
                self._queue.remove(task)
                self._tasks.pop(task.task_id, None)
                stranded.append((task, self._why_unschedulable(task)))
        else:
            for task in waiting:
                if task.waiting_since is None:
                    task.waiting_since = now
        for task in self._queue:
            if task.eligible:
                task.waiting_since = None
        return stranded

    def _fail_unschedulable(self, stranded: list[tuple[QuantumTask, str]]) -> None:
        for task, reason in stranded:
            self._complete(
                task,
                exception=UnschedulableTaskError(self.label, task.task_id, reason),
                outcome="unschedulable",
            )

    def _requeue(self, task: QuantumTask, now: float) -> None:
        """Put a task whose attempt ended back in the queue (lock held); older attempts are ignored."""
        task.generation += 1
        task.pilot = None
        task.eligible = self._eligible(task)
        if not task.eligible and task.waiting_since is None:
            task.waiting_since = now
        self._queue.push(task)

    # -- binding -------------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Bind what can be bound now and send it to the pilots.

        Called inline where a slot may have opened or work arrived (submission, completion), so that no
        thread hand-off sits on a task's path; the poller covers capacity changes.
        """
        bound = []
        with self._lock:
            if not any(p.wants_work for p in self._pilots.values()):
                return  # every pilot is full: nothing to bind (the common case while work waits)
            now = time.time()
            for task, name in choose_bindings(self._queue, self._pilots.values(), self._policy):
                pilot = self._pilots[name]
                self._queue.remove(task)
                task.attempt += 1
                task.pilot = name
                record = task.record
                record.bind, record.attempts = now, task.attempt
                record.pilot, record.backend, record.kind = name, pilot.backend, pilot.kind
                if not pilot.in_flight:
                    pilot.last_progress = now  # the pilot's silence is counted from its first task
                pilot.in_flight[task.task_id] = task
                bound.append((task, pilot, task.generation))
        for task, pilot, generation in bound:
            try:
                inner = pilot.submit(task)
            except Exception as exc:
                self._fault(pilot, task, generation, Fault.PILOT, f"could not submit to its workers: {exc}")
                continue
            inner.add_done_callback(partial(self._on_done, task, pilot, generation))

    # -- completion ----------------------------------------------------------------------------------
    @_guarded
    def _on_done(self, task: QuantumTask, pilot: Pilot, generation: int, inner: Future) -> None:
        """Result of one attempt (called on the pilot HTEX's result thread)."""
        with self._lock:
            pilot.last_progress = time.time()
            if task.generation != generation or task.task_id not in self._tasks:
                return  # an attempt that was already given up
        exc = inner.exception()
        if exc is not None:
            fault = classify_exception(exc)
            if fault is Fault.USER:
                self._finish(task, pilot, exception=exc)
            else:
                self._fault(pilot, task, generation, fault, f"{type(exc).__name__}: {exc}")
        else:
            shipped, start, end, worker = inner.result()
            value = unship(shipped)
            record = task.record
            record.start, record.end, record.worker = start, end, worker
            record.host = worker.rsplit(":", 1)[0]
            fault = classify_outcome(value)
            if fault is not None and fault is not Fault.USER:
                self._fault(pilot, task, generation, fault, f"{value.e_type.__name__}: {value.e_value}")
            else:
                if fault is None:
                    self.estimator.observe(task.info, pilot.name, end - start)
                self._finish(task, pilot, result=value)
        self._dispatch()

    def _finish(
        self, task: QuantumTask, pilot: Pilot, result: Any = None, exception: BaseException | None = None
    ) -> None:
        retire = False
        with self._lock:
            self._tasks.pop(task.task_id, None)
            pilot.in_flight.pop(task.task_id, None)
            pilot.tasks_done += 1
            pilot.breaker.record_success()
            if pilot.state is PilotState.DRAINING and not pilot.in_flight:
                pilot.move_to(PilotState.STOPPED, "removed")
                retire = True
        failed = exception is not None or isinstance(result, RemoteExceptionWrapper)
        self._complete(task, result=result, exception=exception, outcome="error" if failed else "success")
        if retire:
            self._stop_async(pilot)

    def _complete(
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
        self._metrics.add(record)
        if not task.future.done():
            if exception is not None:
                task.future.set_exception(exception)
            else:
                task.future.set_result(result)
        for listener in list(self._listeners):
            try:
                listener(record)
            except Exception:
                logger.exception("executor %s: completion listener %r failed", self.label, listener)

    # -- faults --------------------------------------------------------------------------------------
    def _fault(
        self, pilot: Pilot, task: QuantumTask | None, generation: int, fault: Fault, cause: str
    ) -> None:
        """Handle a task fault, backend error or pilot fault seen on ``pilot`` (for ``task``'s attempt)."""
        now = time.time()
        exhausted: list[QuantumTask] = []
        stranded: list[tuple[QuantumTask, str]] = []
        stop = False
        with self._lock:
            pilot.last_fault = f"{time.strftime('%H:%M:%S')} {fault.value}: {cause}"
            pilot.faults[fault.value] = pilot.faults.get(fault.value, 0) + 1
            current = task is not None and task.generation == generation and task.task_id in self._tasks
            if current:
                pilot.in_flight.pop(task.task_id, None)
                task.failures.append(
                    f"attempt {task.attempt} on pilot '{pilot.name}': {fault.value}: {cause}"
                )
                if fault is Fault.PILOT:
                    self._requeue(task, now)
                else:
                    task.counted += 1
                    if fault is Fault.BACKEND:
                        task.avoid.add(pilot.name)
                    if task.counted >= self.max_attempts:
                        self._tasks.pop(task.task_id, None)
                        exhausted.append(task)
                    else:
                        self._requeue(task, now)
            if (
                fault is Fault.BACKEND
                and pilot.breaker.record_error(now)
                and pilot.state is PilotState.ACTIVE
            ):
                until = time.strftime("%H:%M:%S", time.localtime(pilot.breaker.open_until))
                pilot.move_to(
                    PilotState.DEGRADED,
                    f"{pilot.breaker.threshold} backend errors in a row; paused until {until}",
                )
                logger.warning("pilot %s degraded: %s", pilot.name, cause)
            if fault is Fault.PILOT:
                stop = self._recover(pilot, cause, now)
                stranded = self._reclassify(now)
        for t in exhausted:
            self._complete(
                t,
                exception=TaskFailoverExhaustedError(self.label, t.task_id, t.failures, t.record.name),
                outcome="failed",
            )
        self._fail_unschedulable(stranded)
        if stop:
            self._stop_async(pilot)
        self._dispatch()

    def _recover(self, pilot: Pilot, reason: str, now: float) -> bool:
        """A pilot fault (lock held): requeue the pilot's tasks free of charge and start its recovery, or
        fail it once its restarts are spent. Returns whether the pilot must be stopped."""
        for task in list(pilot.in_flight.values()):
            task.failures.append(
                f"attempt {task.attempt} on pilot '{pilot.name}': {Fault.PILOT.value}: {reason}"
            )
            self._requeue(task, now)
        pilot.in_flight.clear()
        if pilot.state in TERMINAL_STATES:
            return False
        if pilot.state is PilotState.DRAINING:
            pilot.move_to(PilotState.STOPPED, f"removed; its last fault: {reason}")
            return True
        if pilot.state is PilotState.RECOVERING and pilot.restart_at is not None:
            return False  # already waiting to restart: this fault is the same outage
        logger.warning("pilot %s: %s", pilot.name, reason)
        if pilot.budget.exhausted(now):
            first = pilot.outage_reason
            history = "" if first in (None, reason) else f"; the outage began with: {first}"
            pilot.move_to(
                PilotState.FAILED,
                f"{reason}{history} (gave up after {pilot.budget.max_restarts} restarts within "
                f"{pilot.budget.window_s:g} s)",
            )
            return True
        if pilot.state is not PilotState.RECOVERING:
            pilot.outage_reason = reason
        pilot.move_to(PilotState.RECOVERING, reason)
        pilot.restart_at = now + pilot.budget.next_delay(now)
        pilot.release_pending = True
        return False

    def _probe_failed(self, pilot: Pilot, reason: str) -> None:
        self._fault(pilot, None, 0, Fault.PILOT, reason)

    def _stop_async(self, pilot: Pilot) -> None:
        """Stop a pilot on a thread of its own: stopping an HTEX joins its result thread, which may be the
        caller."""
        thread = threading.Thread(target=pilot.stop, name=f"stop-{pilot.name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- polling: capacity, block health, recovery, scaling, waiting tasks ----------------------------
    def _poll_loop(self) -> None:
        last_strategy = 0.0
        while not self._stop.wait(0.2):
            now = time.time()
            strategize = now - last_strategy >= self.strategy_period
            for pilot in list(self._pilots.values()):
                if pilot.state in TERMINAL_STATES:
                    continue
                try:
                    self._poll_pilot(pilot, now, strategize)
                except Exception:
                    if self._stop.is_set():
                        return
                    logger.exception("poller: pilot %s", pilot.name)
            try:
                self._expire_waiting(now)
                if strategize:
                    last_strategy = now
                    self._metrics.flush()
            except Exception:
                logger.exception("poller")
            self._dispatch()

    def _poll_pilot(self, pilot: Pilot, now: float, strategize: bool) -> None:
        if pilot.state is PilotState.RECOVERING:
            self._advance_recovery(pilot, now)
        pilot.refresh_capacity(now)
        if strategize:
            pilot.htex.poll_facade()
            self._check_blocks(pilot)
            if pilot.state in (PilotState.STARTING, PilotState.ACTIVE, PilotState.DEGRADED):
                self._scaling.strategize([pilot.htex])
        changed = False
        stranded: list[tuple[QuantumTask, str]] = []
        with self._lock:
            ready = pilot.capacity > 0 and pilot.described
            if (
                pilot.state in (PilotState.STARTING, PilotState.RECOVERING)
                and ready
                and pilot.restart_at is None
            ):
                pilot.move_to(PilotState.ACTIVE)
                changed = True
            elif pilot.state is PilotState.DEGRADED and not pilot.breaker.is_open(now):
                pilot.move_to(PilotState.ACTIVE)
            if pilot.described and pilot.info is not pilot.reclassified_for:
                pilot.reclassified_for = pilot.info
                changed = True
            if changed:
                stranded = self._reclassify(now)
            silent = overdue(
                [self.estimator.predict(t.info, pilot.name) for t in pilot.in_flight.values()],
                pilot.last_progress,
                now,
            )
            no_worker = stalled(
                len(pilot.in_flight), pilot.capacity, pilot.no_worker_since, now, HEARTBEAT_THRESHOLD_S
            )
        self._fail_unschedulable(stranded)
        if silent is not None and not no_worker:
            self._fault(
                pilot,
                None,
                0,
                Fault.PILOT,
                f"no result for {silent:.0f} s with tasks in flight: its workers are stuck",
            )
        if no_worker:
            self._fault(
                pilot,
                None,
                0,
                Fault.PILOT,
                f"no live worker for {HEARTBEAT_THRESHOLD_S} s with tasks in flight",
            )

    def _advance_recovery(self, pilot: Pilot, now: float) -> None:
        """Release the failed blocks, then acquire new ones once the backoff has passed."""
        if pilot.release_pending:
            pilot.release_pending = False
            pilot.release_blocks()
        with self._lock:
            due = (
                pilot.restart_at is not None
                and now >= pilot.restart_at
                and pilot.state is PilotState.RECOVERING
            )
            if due:
                pilot.restart_at = None
                pilot.budget.spend(now)
                pilot.restarts += 1
        if due:
            logger.info("pilot %s: acquiring a new block (restart %d)", pilot.name, pilot.restarts)
            pilot.acquire_blocks()
            pilot.probe(self._probe_failed)

    def _check_blocks(self, pilot: Pilot) -> None:
        """A block that ended without being asked to is a pilot fault; an expired QPU session returns its
        tasks to the queue (the scaling strategy acquires a new session while work waits)."""
        statuses = dict(pilot.htex.status_facade)
        lost = lost_blocks(statuses, pilot.htex.cancelled_blocks, pilot.handled_blocks)
        if lost:
            pilot.handled_blocks.update(block for block, _ in lost)
            pilot.htex.hold([block for block, _ in lost])
            pilot.htex.kill_leftovers([block for block, _ in lost])
            self._fault(pilot, None, 0, Fault.PILOT, describe_block_end(*lost[0]))
            return
        expired = expired_sessions(statuses, pilot.handled_blocks)
        if expired and not has_live_block(statuses):
            pilot.handled_blocks.update(expired)
            with self._lock:
                returned = list(pilot.in_flight.values())
                pilot.in_flight.clear()
                pilot.capacity = 0
                now = time.time()
                for task in returned:
                    task.failures.append(
                        f"attempt {task.attempt} on pilot '{pilot.name}': QPU session expired"
                    )
                    self._requeue(task, now)
            if returned:
                logger.info(
                    "pilot %s: session expired; %d tasks back in the queue", pilot.name, len(returned)
                )

    def _expire_waiting(self, now: float) -> None:
        """Fail tasks that waited ``pilot_wait_timeout`` for a live pilot that could serve them."""
        expired = []
        with self._lock:
            for task in self._queue.without_pilot():
                if task.waiting_since is not None and now - task.waiting_since > self.pilot_wait_timeout:
                    self._queue.remove(task)
                    self._tasks.pop(task.task_id, None)
                    expired.append(task)
            report = self._pilots_report() if expired else ""
        for task in expired:
            reason = f"no live pilot could serve it for {self.pilot_wait_timeout:g} s; pilots: {report}"
            self._complete(
                task,
                exception=UnschedulableTaskError(self.label, task.task_id, reason),
                outcome="unschedulable",
            )

    # -- public pilot management ------------------------------------------------------------------------
    def add_pilot(self, description: PilotDescription) -> None:
        """Add a pilot; it takes waiting work as soon as its workers connect and describe themselves.

        A stopped or failed pilot's name may be used again.

        Raises
        ------
        PilotError
            If a pilot of this name is still live or draining.
        """
        with self._lock:
            existing = self._pilots.get(description.name)
            if existing is not None and existing.state not in TERMINAL_STATES:
                raise PilotError(self.label, f"a pilot named '{description.name}' already exists")
        self._descriptions = [d for d in self._descriptions if d.name != description.name] + [description]
        if self._started:
            self._start_pilot(description)

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
            If there is no live pilot of that name.
        """
        now = time.time()
        with self._lock:
            pilot = self._pilots.get(name)
            if pilot is None or pilot.state in TERMINAL_STATES or pilot.state is PilotState.DRAINING:
                raise PilotError(self.label, f"no live pilot named '{name}'")
            self._descriptions = [d for d in self._descriptions if d.name != name]
            pilot.move_to(PilotState.DRAINING, "removed")
            if not drain:
                for task in list(pilot.in_flight.values()):
                    self._requeue(task, now)
                pilot.in_flight.clear()
            idle = not pilot.in_flight
            if idle:
                pilot.move_to(PilotState.STOPPED, "removed")
            stranded = self._reclassify(now)
        self._fail_unschedulable(stranded)
        if idle:
            self._stop_async(pilot)
        self._dispatch()

    def wait_for_pilots(self, names: Sequence[str] | None = None, timeout: float = 120.0) -> float:
        """Block until the named pilots (default: every live one) are active with workers; returns the
        seconds waited. Pilots that failed are skipped while others come up.

        Raises
        ------
        PilotError
            If every pilot waited for failed (the message gives each one's reason), or the timeout passed
            first (the message gives the state and reason of those not up).
        """
        start = time.time()
        while True:
            status = self.pilots
            wanted = (
                list(names) if names is not None else [n for n, s in status.items() if s.state != "stopped"]
            )
            failed = [n for n in wanted if n in status and status[n].state == "failed"]
            if wanted and len(failed) == len(wanted):
                raise PilotError(
                    self.label, "; ".join(f"pilot '{n}' failed: {status[n].reason}" for n in failed)
                )
            waiting = [
                n
                for n in wanted
                if n not in failed
                and (n not in status or status[n].state != "active" or not status[n].workers)
            ]
            if not waiting:
                return time.time() - start
            if time.time() - start > timeout:
                detail = ", ".join(
                    f"{n} ({status[n].state}: {status[n].reason})" if n in status else f"{n} (unknown)"
                    for n in waiting
                )
                raise PilotError(self.label, f"pilots not active with workers after {timeout} s: {detail}")
            time.sleep(0.1)

    @property
    def pilot_descriptions(self) -> list[PilotDescription]:
        """The descriptions of the pilots asked for (at construction and by :meth:`add_pilot`)."""
        return list(self._descriptions)

    @property
    def pilots(self) -> dict[str, PilotStatus]:
        """Status of every pilot, live or not, by name."""
        with self._lock:
            every = list(self._pilots.values())
        return {p.name: p.status() for p in every}

    def metrics(self) -> list[TaskRecord]:
        """Records of finished tasks, in completion order (from ``<run_dir>/<label>/tasks.sqlite``)."""
        return self._metrics.records()

    @property
    def metrics_path(self) -> str | None:
        """The SQLite file the task records are written to (after start)."""
        return self._metrics.path

    def outstanding(self) -> int:
        """Tasks waiting or running."""
        with self._lock:
            return len(self._tasks)

    def monitor_resources(self) -> bool:
        """Pilot workers are processes, so Parsl resource monitoring works on them."""
        return True
