"""A running pilot: its HighThroughputExecutor, what its workers reported, its state and fault counters.

Every pilot (CPU or GPU simulator workers, a QPU session) is a :class:`PilotHTEX` whose blocks come from
the pilot's own provider. A pilot learns what it offers (width, memory, GPUs, fidelity) from a probe that
runs on its own workers each time it acquires blocks, never from the submitting host: on a cluster the
login node is not the compute node.

The pilot holds its state but does not decide it: the executor moves it through
:func:`~parsl_quantum.executors.pilot_states.transition`, with the executor's lock held.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from parsl.jobs.states import JobStatus
from parsl.providers import LocalProvider

from parsl_quantum.executors.faults import CircuitBreaker, RestartBudget
from parsl_quantum.executors.pilot_htex import PilotHTEX, htex_launch_options
from parsl_quantum.executors.pilot_states import PilotState, transition
from parsl_quantum.executors.pool_boot import preload_modules
from parsl_quantum.executors.pool_guard import replaced_managers
from parsl_quantum.executors.task import QuantumTask
from parsl_quantum.executors.worker import describe_device
from parsl_quantum.providers.pilot_description import PilotDescription
from parsl_quantum.providers.qpu_session import QPUSessionProvider

logger = logging.getLogger(__name__)

MAX_PREFETCH = 8
"""Most tasks per worker an adaptive prefetch hands a pilot beyond the ones running."""
PREFETCH_HORIZON_S = 0.02
"""Seconds of work an adaptive prefetch keeps queued per worker."""
HEARTBEAT_PERIOD_S = 1
"""Seconds between a worker pool's heartbeats, and between its watchdog's checks of its workers."""
HEARTBEAT_THRESHOLD_S = 15
"""Seconds of missed heartbeats after which the interchange declares a worker pool lost."""


@dataclass(frozen=True)
class PilotStatus:
    """A snapshot of one pilot, as ``QuantumPilotExecutor.pilots`` reports it.

    Attributes
    ----------
    name, kind, backend
        From the description.
    state
        ``starting``, ``active``, ``degraded``, ``recovering``, ``draining``, ``stopped`` or ``failed``.
    workers
        Live workers now (of connected, active worker pools); 0 for a pilot that is not running.
    slots
        Tasks the pilot may hold at once (workers plus prefetch).
    busy
        Tasks bound to it and not finished.
    tasks_done
        Tasks that finished on it (successfully or with the task's own error).
    blocks
        Count of its blocks per Parsl job state.
    qubits, fidelity, memory_bytes, gpus, hosts
        What its workers reported (``None``/empty until they did): widest circuit, device fidelity, memory
        the job may use, GPUs seen, and the hosts they run on.
    reason
        Why it is failed, recovering or degraded (the last fault), when it is.
    restarts
        New blocks it acquired after pilot faults.
    pool_restarts
        Worker pools replaced in their block after one of their processes died (not a pilot fault: the
        block and its allocation are kept).
    last_fault
        The last fault seen on it, of any class, with its time, or ``None``.
    faults
        How many faults of each class (``"task fault"``, ``"backend error"``, ``"pilot fault"``) it saw.
    planned_workers
        Workers it will have once its initial blocks are up.
    queue_wait_s
        For a QPU session pilot: the queue wait its jobs observed (median of the recent ones), if any.
    """

    name: str
    kind: str
    backend: str
    state: str
    workers: int
    slots: int
    busy: int
    tasks_done: int
    blocks: dict[str, int] = field(default_factory=dict)
    qubits: int | None = None
    fidelity: float | None = None
    memory_bytes: int | None = None
    gpus: int | None = None
    hosts: tuple[str, ...] = ()
    reason: str | None = None
    restarts: int = 0
    pool_restarts: int = 0
    last_fault: str | None = None
    faults: dict[str, int] = field(default_factory=dict)
    planned_workers: int = 0
    queue_wait_s: float | None = None


def is_local_provider(provider: Any) -> bool:
    """Whether the provider starts its blocks on this host."""
    return isinstance(provider, (LocalProvider, QPUSessionProvider))


class Pilot:
    """One pilot of a :class:`~parsl_quantum.executors.QuantumPilotExecutor`.

    Parameters
    ----------
    description
        What to acquire.
    executor_label
        Label of the owning executor; the pilot's HTEX is labelled ``<label>-<pilot name>``.
    prefetch
        Tasks per worker handed beyond the one running, unless the description sets its own; ``None``
        adapts it to the pilot's task runtimes (see :meth:`prefetch_now`).
    demand
        Number of waiting tasks this pilot could serve (drives scaling).
    mean_runtime
        Mean observed runtime of this pilot's tasks, in seconds (``None`` before any).
    max_restarts, restart_window_s
        The pilot's :class:`~parsl_quantum.executors.faults.RestartBudget`.
    """

    def __init__(
        self,
        description: PilotDescription,
        executor_label: str,
        prefetch: int | None,
        demand: Callable[[], int],
        mean_runtime: Callable[[], float | None] = lambda: None,
        max_restarts: int = 3,
        restart_window_s: float = 600.0,
    ) -> None:
        self.description = description
        self.name = description.name
        self.kind = description.kind
        self.backend = description.backend
        self.prefetch = description.prefetch if description.prefetch is not None else prefetch
        self._mean_runtime = mean_runtime
        self.provider = description.resolved_provider()
        if isinstance(self.provider, QPUSessionProvider) and self.backend.startswith("ibm_"):
            if self.provider.backend is None:
                self.provider.backend = self.backend
            elif self.provider.backend != self.backend:
                raise ValueError(
                    f"pilot '{self.name}': its QPUSessionProvider opens sessions on "
                    f"'{self.provider.backend}', not on the pilot's backend '{self.backend}'"
                )
        self.state = PilotState.STARTING
        self.reason: str | None = None
        self.last_fault: str | None = None
        self.faults: dict[str, int] = {}
        self.capacity = 0
        self.in_flight: dict[int, QuantumTask] = {}
        self.tasks_done = 0
        self.breaker = CircuitBreaker()
        self.budget = RestartBudget(max_restarts=max_restarts, window_s=restart_window_s)
        self.restarts = 0
        self.restart_at: float | None = None
        self.release_pending = False
        self.outage_reason: str | None = None
        self.reclassified_for: dict[str, Any] | None = None
        self.handled_blocks: set[str] = set()
        self.no_worker_since: float | None = None
        self.pool_restarts = 0
        self.replaced_managers: set[str] = set()
        self.info: dict[str, Any] = {}
        self.hosts: set[str] = set()
        self._probe_generation = 0
        self._submit_lock = threading.Lock()  # the HTEX's task socket is not thread-safe
        self._stop_lock = threading.Lock()
        self._stopped = False
        self.htex = PilotHTEX(demand=demand, label=f"{executor_label}-{self.name}", **self._htex_options())

    def _htex_options(self) -> dict[str, Any]:
        description = self.description
        options: dict[str, Any] = {
            "provider": self.provider,
            "max_workers_per_node": description.workers,
            # The prefetched tasks wait at the worker pool, not in the interchange: a worker that finishes
            # starts its next task at once instead of idling through a round trip to the interchange.
            "prefetch_capacity": (MAX_PREFETCH if self.prefetch is None else self.prefetch)
            * description.workers,
            "heartbeat_period": HEARTBEAT_PERIOD_S,
            "heartbeat_threshold": HEARTBEAT_THRESHOLD_S,
            # The executor judges blocks itself (health.py): Parsl's handler would put the whole pilot in a
            # bad state, for good, when its blocks fail.
            "block_error_handler": False,
            "encrypted": True,
            **htex_launch_options(
                guard_grace_s=HEARTBEAT_THRESHOLD_S, preload=preload_modules(description.backend, self.kind)
            ),
        }
        if self.kind == "gpu":
            options["available_accelerators"] = description.options.get("gpus", description.workers)
        if is_local_provider(self.provider):
            options["address"] = "127.0.0.1"
        user = dict(description.executor_options)
        if user.get("encrypted") is False and not is_local_provider(self.provider):
            logger.warning(
                "pilot %s: executor_options turn encryption off for workers that run off this host: anyone "
                "who can reach its interchange port can send code to its workers",
                self.name,
            )
        options.update(user)
        return options

    # -- what the workers reported ----------------------------------------------------------------
    @property
    def device_options(self) -> dict[str, Any]:
        """Options the workers build the device with."""
        options = {k: v for k, v in self.description.options.items() if k != "gpus"}
        if isinstance(self.provider, QPUSessionProvider) and self.provider.session_s is not None:
            if self.backend.startswith("ibm_"):
                options.setdefault("session_max_time", int(self.provider.session_s))
        return options

    @property
    def qubits(self) -> int | None:
        """Widest circuit the pilot takes (``None`` until its workers reported, unless the description
        bounds it); ``PilotDescription(qubits=...)`` is an upper bound."""
        reported = self.info.get("qubits")
        bound = self.description.qubits
        if reported is None:
            return bound
        return reported if bound is None else min(bound, reported)

    @property
    def fidelity(self) -> float | None:
        """The device's fidelity (``None`` until known)."""
        return self.info.get("fidelity")

    @property
    def described(self) -> bool:
        """Whether the workers reported what they offer since the pilot last (re)acquired blocks."""
        return "qubits" in self.info

    def probe(self, on_fault: Callable[[Pilot, str, BaseException], None]) -> None:
        """Ask the pilot's workers what they offer; a failure is reported to ``on_fault(pilot, reason,
        exception)``."""
        self._probe_generation += 1
        generation = self._probe_generation
        self.info = {}
        with self._submit_lock:
            future = self.htex.submit(describe_device, {}, self.backend, self.device_options)

        def done(fut: Future) -> None:
            if generation != self._probe_generation:
                return  # a probe of blocks since replaced
            try:
                info = fut.result()
            except Exception as exc:
                on_fault(self, f"workers could not describe the device: {type(exc).__name__}: {exc}", exc)
                return
            self.hosts.add(info.get("host", "?"))
            self.info = info

        future.add_done_callback(done)

    # -- lifecycle --------------------------------------------------------------------------------
    def move_to(self, state: PilotState, reason: str | None = None) -> None:
        """Change state along a legal transition (the executor's lock is held)."""
        self.state = transition(self.name, self.state, state)
        if reason is not None:
            self.reason = reason
        elif state is PilotState.ACTIVE:
            self.reason = None
            self.outage_reason = None

    def start(self, run_dir: str, run_id: str | None, monitoring_messages: Any, log_config: Any) -> None:
        """Start the pilot's HTEX (its interchange); blocks follow through the provider's ``init_blocks``."""
        self.htex.run_dir = run_dir
        self.htex.run_id = run_id
        self.htex.monitoring_messages = monitoring_messages
        self.htex.log_config = log_config
        script_dir = os.path.join(run_dir, "submit_scripts")
        os.makedirs(script_dir, mode=0o700, exist_ok=True)
        self.provider.script_dir = script_dir
        self.htex.start()

    def blocks_wanted(self) -> int:
        """Blocks to acquire when (re)starting: the provider's initial blocks, at least one."""
        provider = self.provider
        return max(int(getattr(provider, "init_blocks", 1)), int(getattr(provider, "min_blocks", 0)), 1)

    def release_blocks(self) -> None:
        """Cancel every block (recovery, removal); the pilot then has no worker."""
        self.htex.cancel_all_blocks()
        self.capacity = 0
        self.info = {}

    def acquire_blocks(self) -> None:
        """Acquire new blocks through the pilot's own provider (recovery)."""
        self.htex.scale_out_facade(self.blocks_wanted())

    @property
    def limit(self) -> int:
        """Tasks the pilot may hold: live workers plus prefetch per worker."""
        return self.capacity * (1 + self.prefetch_now())

    def prefetch_now(self) -> int:
        """Tasks per worker to hand beyond the one it runs.

        A fixed prefetch is used as given. Otherwise the pilot keeps about :data:`PREFETCH_HORIZON_S` of
        work queued per worker, from the mean runtime of its tasks: one task for anything longer than that
        (late binding keeps the rest in the executor's queue, free to go to any pilot), up to
        :data:`MAX_PREFETCH` for tasks so short that the round trip to the submitting host would otherwise
        leave workers idle.
        """
        if self.prefetch is not None:
            return self.prefetch
        mean = self._mean_runtime()
        if mean is None:
            return 1
        return max(1, min(MAX_PREFETCH, math.ceil(PREFETCH_HORIZON_S / max(mean, 1e-6))))

    @property
    def accepting(self) -> bool:
        """Whether new tasks may be bound to this pilot now."""
        return self.state is PilotState.ACTIVE and self.described and self.capacity > 0

    @property
    def wants_work(self) -> bool:
        """Whether to bind tasks to this pilot now.

        A pilot takes work in batches: once half of its prefetch slots are free, or as soon as a worker
        would otherwise idle. Its workers still hold queued tasks while it waits for a batch, so none idles,
        and sending tasks together amortises the per-message costs of the submit side and the interchange.
        """
        if not self.accepting:
            return False
        held = len(self.in_flight)
        return held < self.capacity or self.limit - held >= max(1, self.capacity * self.prefetch_now() // 2)

    def refresh_capacity(self, now: float) -> set[str]:
        """Count live workers (a call to the pilot's interchange); returns the worker pools that their
        block's guard replaced since the last call, which are put on hold (they take no new task)."""
        if self.state in (PilotState.STOPPED, PilotState.FAILED):
            self.capacity = 0
            return set()
        managers = self.managers()
        replaced = replaced_managers([m["manager"] for m in managers]) - self.replaced_managers
        if replaced:
            self.replaced_managers |= replaced
            self.hold_managers(replaced)
        self.capacity = sum(
            m["worker_count"]
            for m in managers
            if m["active"] and not m["draining"] and m["manager"] not in self.replaced_managers
        )
        if self.capacity:
            self.no_worker_since = None
        elif self.no_worker_since is None:
            self.no_worker_since = now
        return replaced

    # -- what the supervisor asks of the pilot's HTEX --------------------------------------------------
    def managers(self) -> list[dict[str, Any]]:
        """The worker pools connected to the pilot's interchange (Parsl's ``connected_managers``)."""
        return self.htex.connected_managers()

    def hold_managers(self, managers: set[str]) -> None:
        """Send nothing more to these worker pools."""
        self.htex.hold_managers(managers)

    def poll_blocks(self) -> dict[str, JobStatus]:
        """The statuses of the pilot's blocks (refreshed from its provider at the provider's pace)."""
        self.htex.poll_facade()
        return dict(self.htex.status_facade)

    @property
    def cancelled_blocks(self) -> set[str]:
        """Blocks released on purpose (scale-in, recovery, shutdown)."""
        return self.htex.cancelled_blocks

    def abandon_blocks(self, blocks: list[str]) -> None:
        """Send nothing more to the pools of ``blocks`` (they ended) and kill what they left behind."""
        self.htex.hold(blocks)
        self.htex.kill_leftovers(blocks)

    def submit(self, task: QuantumTask) -> Future:
        """Send a bound task to the pilot's workers."""
        context = {
            "task_executor": {
                "f": "parsl_quantum.executors.worker.execute_on_device",
                "a": (
                    self.backend,
                    self.device_options,
                    task.inject_device,
                    self.name,
                    task.requirements.walltime,
                ),
            }
        }
        with self._submit_lock:
            return self.htex.submit_payload(context, task.buffer)

    def blocks(self) -> dict[str, int]:
        """Number of blocks per job state."""
        counts: dict[str, int] = {}
        for status in self.htex.status_facade.values():
            counts[status.state.name] = counts.get(status.state.name, 0) + 1
        return counts

    def stop(self) -> None:
        """Release every block, stop the interchange, and kill what killed pools left behind (once)."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        try:
            self.htex.cancel_all_blocks()
        except Exception:
            logger.exception("pilot %s: releasing its blocks failed", self.name)
        finally:
            self.htex.shutdown()
            self.htex.kill_leftovers()
            self.capacity = 0
            if isinstance(self.provider, QPUSessionProvider):
                self.provider.close_sessions()

    def status(self) -> PilotStatus:
        """A snapshot for reporting."""
        live = self.state not in (PilotState.STOPPED, PilotState.FAILED)
        return PilotStatus(
            name=self.name,
            kind=self.kind,
            backend=self.backend,
            state=self.state.value,
            workers=self.capacity if live else 0,
            slots=self.limit if live else 0,
            busy=len(self.in_flight),
            tasks_done=self.tasks_done,
            blocks=self.blocks(),
            qubits=self.qubits,
            fidelity=self.fidelity,
            memory_bytes=self.info.get("memory_bytes"),
            gpus=self.info.get("gpus"),
            hosts=tuple(sorted(self.hosts)),
            reason=self.reason,
            restarts=self.restarts,
            pool_restarts=self.pool_restarts,
            last_fault=self.last_fault,
            faults=dict(self.faults),
            planned_workers=self.description.workers * self.blocks_wanted(),
            queue_wait_s=(
                self.provider.observed_queue_wait_s()
                if isinstance(self.provider, QPUSessionProvider)
                else None
            ),
        )
