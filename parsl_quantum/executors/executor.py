"""``QuantumPilotExecutor``: a Parsl executor that late-binds quantum tasks to heterogeneous pilots.

This module is the Parsl surface (construct, start, submit, shutdown, add/remove/wait for pilots, status).
The work is done by two parts that share one :class:`~parsl_quantum.executors.state.ExecutorState`:

- :mod:`~parsl_quantum.executors.scheduling`: the queue, where each task may go, late binding, dispatch and
  completion;
- :mod:`~parsl_quantum.executors.supervision`: liveness from evidence, the fault model, recovery, polling
  and scaling.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any

import typeguard
from parsl.executors.base import ParslExecutor
from parsl.jobs.strategy import Strategy
from parsl.monitoring.radios.base import RadioConfig
from parsl.monitoring.radios.htex import HTEXRadio
from parsl.serialize.errors import SerializationError
from parsl.utils import RepresentationMixin

from parsl_quantum.executors.durations import Prior, RuntimeEstimator, signature_of
from parsl_quantum.executors.errors import ExecutorShutdownError, PilotError
from parsl_quantum.executors.metrics import MetricsStore, TaskRecord
from parsl_quantum.executors.pilot_states import TERMINAL_STATES
from parsl_quantum.executors.policies import POLICIES, make_policy
from parsl_quantum.executors.requirements import Requirements
from parsl_quantum.executors.running_pilot import Pilot, PilotStatus
from parsl_quantum.executors.scheduling import Scheduler
from parsl_quantum.executors.serialization import KeywordCache, pack_call
from parsl_quantum.executors.state import CompletionListener, ExecutorState
from parsl_quantum.executors.supervision import Supervisor
from parsl_quantum.executors.task import QuantumTask
from parsl_quantum.providers.pilot_description import PilotDescription

logger = logging.getLogger(__name__)


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
        Seconds a task that no live pilot can serve waits for one: while a pilot is draining, or after
        :meth:`remove_pilot` (for an :meth:`add_pilot`). Then it fails with each pilot's state and reason.
        A task that only failed pilots could serve fails at once.
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
        self._state = ExecutorState(
            label=label,
            max_attempts=max_attempts,
            pilot_wait_timeout=pilot_wait_timeout,
            estimator=self.estimator,
            policy=make_policy(policy, self.estimator),
        )
        self._scheduler = Scheduler(self._state, self._on_fault, self._on_retire)
        self._supervisor = Supervisor(
            self._state,
            self._scheduler,
            Strategy(strategy=strategy, max_idletime=max_idletime),
            strategy_period,
        )
        self._started = False
        self._keywords = KeywordCache()

    def _on_fault(self, *args: Any) -> None:
        self._supervisor.fault(*args)

    def _on_retire(self, pilot: Pilot) -> None:
        self._supervisor.stop_async(pilot)

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
        with self._state.lock:
            self._state.listeners.append(listener)

    def remove_completion_listener(self, listener: CompletionListener) -> None:
        """Stop calling ``listener``."""
        with self._state.lock:
            if listener in self._state.listeners:
                self._state.listeners.remove(listener)

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every pilot's HTEX and the poller; run files are readable by their owner only.

        Raises
        ------
        ValueError
            If ``PARSL_QUANTUM_STANDBY`` is set to something other than ``eager`` or ``idle``.
        """
        from parsl_quantum.executors.pool_guard import standby_mode

        standby_mode()  # a bad value is refused here, where it can be seen, not in every pool's guard
        super().start()
        from parsl_quantum.caching import register_memo_keys

        register_memo_keys()  # Parsl's cache=True and checkpoints for circuits, operators and arrays
        label_dir = os.path.join(self.run_dir, self.label)
        os.makedirs(label_dir, mode=0o700, exist_ok=True)
        for path in (self.run_dir, label_dir):
            os.chmod(path, 0o700)
        self._state.metrics = MetricsStore(os.path.join(label_dir, "tasks.sqlite"))
        for description in self._descriptions:
            self._start_pilot(description)
        self._started = True
        self._supervisor.start()

    def _start_pilot(self, description: PilotDescription) -> Pilot:
        pilot = Pilot(
            description,
            self.label,
            self.prefetch,
            partial(self._scheduler.demand, description.name),
            partial(self.estimator.pilot_mean, description.name),
            max_restarts=self.max_pilot_restarts,
            restart_window_s=self.restart_window_s,
        )
        pilot.start(self.run_dir, self.run_id, self.monitoring_messages, self.log_config)
        self._supervisor.scaling.add_executors([pilot.htex])
        pilot.probe(self._supervisor.probe_failed)
        self._supervisor.adopt(pilot)
        logger.info("pilot %s started (%s on %s)", pilot.name, pilot.kind, pilot.backend)
        return pilot

    def shutdown(self) -> None:
        """Fail tasks still waiting or running, release every pilot's blocks and stop the poller."""
        pilots = self._supervisor.shutdown()
        stoppers = [threading.Thread(target=p.stop, name=f"stop-{p.name}") for p in pilots]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(timeout=60)
        self._state.metrics.flush()
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
        state = self._state
        with state.lock:
            if state.stop.is_set():
                raise ExecutorShutdownError(self.label, "executor is shut down")
            state.next_id += 1
            task_id = state.next_id
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
        self._scheduler.enqueue(task)
        return future

    # -- public pilot management ------------------------------------------------------------------------
    def add_pilot(self, description: PilotDescription) -> None:
        """Add a pilot; it takes waiting work as soon as its workers connect and describe themselves.

        A stopped or failed pilot's name may be used again.

        Raises
        ------
        PilotError
            If a pilot of this name is still live or draining.
        """
        with self._state.lock:
            existing = self._state.pilots.get(description.name)
            if existing is not None and existing.state not in TERMINAL_STATES:
                raise PilotError(self.label, f"a pilot named '{description.name}' already exists")
        self._descriptions = [d for d in self._descriptions if d.name != description.name] + [description]
        if self._started:
            self._start_pilot(description)

    def remove_pilot(self, name: str, drain: bool = True) -> None:
        """Remove a pilot while tasks run.

        Tasks that only the removed pilot could serve wait (up to ``pilot_wait_timeout``) for a pilot added
        in its place.

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
        self._supervisor.remove(name, drain)
        self._descriptions = [d for d in self._descriptions if d.name != name]

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
        with self._state.lock:
            every = list(self._state.pilots.values())
        return {p.name: p.status() for p in every}

    def metrics(self) -> list[TaskRecord]:
        """Records of finished tasks, in completion order (from ``<run_dir>/<label>/tasks.sqlite``)."""
        return self._state.metrics.records()

    @property
    def metrics_path(self) -> str | None:
        """The SQLite file the task records are written to (after start)."""
        return self._state.metrics.path

    def outstanding(self) -> int:
        """Tasks waiting or running."""
        with self._state.lock:
            return len(self._state.tasks)

    def monitor_resources(self) -> bool:
        """Pilot workers are processes, so Parsl resource monitoring works on them."""
        return True
