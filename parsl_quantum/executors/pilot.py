"""A running pilot: its HighThroughputExecutor, its workers' capacity and its state.

Every pilot (CPU or GPU simulator workers, a QPU session) is a Parsl ``HighThroughputExecutor`` whose
blocks come from the pilot's provider. The HTEX reports as *outstanding* the tasks it holds plus the
tasks waiting in the quantum executor's queue that this pilot could serve, so Parsl's own scaling
strategy grows the pilot while work waits for it and shrinks it when it idles.
"""

from __future__ import annotations

import enum
import logging
import math
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from parsl.executors import HighThroughputExecutor
from parsl.executors.high_throughput.executor import DEFAULT_LAUNCH_CMD
from parsl.jobs.states import JobState
from parsl.providers import LocalProvider

from parsl_quantum.executors.task import QuantumTask
from parsl_quantum.executors.worker import describe_device
from parsl_quantum.providers.pilot import PilotDescription
from parsl_quantum.providers.qpu_session import QPUSessionProvider

logger = logging.getLogger(__name__)


def htex_launch_options() -> dict[str, Any]:
    """HTEX launch commands that start the interchange and worker pool with this interpreter.

    Parsl's defaults run ``interchange.py`` and ``process_worker_pool.py`` from ``PATH``, which fails
    when the virtual environment is not activated (``.venv/bin/python workflow.py``).
    """
    worker = f"{sys.executable} -m parsl.executors.high_throughput.process_worker_pool"
    return {
        "launch_cmd": DEFAULT_LAUNCH_CMD.replace("process_worker_pool.py", worker, 1),
        "interchange_launch_cmd": [sys.executable, "-m", "parsl.executors.high_throughput.interchange"],
    }


MAX_PREFETCH = 8
"""Most tasks per worker an adaptive prefetch hands a pilot beyond the ones running."""
PREFETCH_HORIZON_S = 0.02
"""Seconds of work an adaptive prefetch keeps queued per worker."""


class PilotState(enum.StrEnum):
    """Life of a pilot: starting (no worker yet), active, draining, failed, removed."""

    STARTING = "starting"
    ACTIVE = "active"
    DRAINING = "draining"
    FAILED = "failed"
    REMOVED = "removed"


@dataclass(frozen=True)
class PilotStatus:
    """A snapshot of one pilot, as ``QuantumPilotExecutor.pilots`` reports it.

    Attributes
    ----------
    name, kind, backend
        From the description.
    state
        ``starting``, ``active``, ``draining``, ``failed`` or ``removed``.
    workers
        Workers connected now.
    slots
        Tasks the pilot may hold at once (workers plus prefetch).
    busy
        Tasks bound to it and not finished.
    tasks_done
        Tasks that finished on it (successfully or with the task's own error).
    blocks
        Count of its blocks per Parsl job state.
    qubits, fidelity
        What its device offers (``None`` until known).
    reason
        Why it failed, when it did.
    planned_workers
        Workers it will have once its initial blocks are up.
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
    reason: str | None = None
    planned_workers: int = 0


class PilotHTEX(HighThroughputExecutor):
    """An HTEX that counts the quantum executor's waiting tasks for this pilot as outstanding work."""

    def __init__(self, *, demand: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._demand = demand

    def outstanding(self) -> int:
        return len(self.tasks) + self._demand()

    def scale_in(self, blocks: int, max_idletime: float | None = None) -> list[str]:
        """Scale in ``blocks`` blocks; asked for none, release none.

        Parsl's ``htex_auto_scale`` strategy asks for ``scale_in(0, max_idletime)`` when a block has more
        slots than tasks, and HTEX's ``scale_in`` checks the count only after picking a block: a block whose
        workers have not connected yet counts as idle forever, so it is released and then requested again,
        in a loop (Parsl issue #3696). Seen here with one task on a two-worker pilot.
        """
        if blocks <= 0:
            return []
        return super().scale_in(blocks, max_idletime=max_idletime)


def _is_local(provider: Any) -> bool:
    return isinstance(provider, (LocalProvider, QPUSessionProvider))


class Pilot:
    """One pilot of a :class:`QuantumPilotExecutor`.

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
    """

    def __init__(
        self,
        description: PilotDescription,
        executor_label: str,
        prefetch: int | None,
        demand: Callable[[], int],
        mean_runtime: Callable[[], float | None] = lambda: None,
    ) -> None:
        self.description = description
        self.name = description.name
        self.kind = description.kind
        self.backend = description.backend
        self.prefetch = description.prefetch if description.prefetch is not None else prefetch
        self._mean_runtime = mean_runtime
        self.provider = description.resolved_provider()
        self.state = PilotState.STARTING
        self.reason: str | None = None
        self.capacity = 0
        self.in_flight: dict[int, QuantumTask] = {}
        self.tasks_done = 0
        self._device_qubits: int | None = None
        self._fidelity: float | None = None
        self._submit_lock = threading.Lock()  # the HTEX's task socket is not thread-safe
        htex_options: dict[str, Any] = {
            "max_workers_per_node": description.workers,
            # The prefetched tasks wait at the worker pool, not in the interchange: a worker that finishes
            # starts its next task at once instead of idling through a round trip to the interchange.
            "prefetch_capacity": (MAX_PREFETCH if self.prefetch is None else self.prefetch)
            * description.workers,
            "heartbeat_period": 2,
            "heartbeat_threshold": 15,
            **htex_launch_options(),
        }
        if self.kind == "gpu":
            htex_options["available_accelerators"] = description.options.get("gpus", description.workers)
        if _is_local(self.provider):
            htex_options["address"] = "127.0.0.1"
        htex_options.update(description.executor_options)
        self.htex = PilotHTEX(
            demand=demand, label=f"{executor_label}-{self.name}", provider=self.provider, **htex_options
        )
        self._describe_locally()

    # -- what the device offers -------------------------------------------------------------------
    def _describe_locally(self) -> None:
        """Learn the device's width and fidelity by building it here, when this host can."""
        from parsl_quantum.providers.registry import get_device

        try:
            device = get_device(self.backend, **self._device_options)
        except Exception as exc:  # e.g. a GPU backend described on a login node without GPUs
            logger.info(
                "pilot %s: device not built on this host (%s); its workers will report it", self.name, exc
            )
            return
        self._device_qubits = device.num_qubits
        self._fidelity = device.fidelity

    @property
    def _device_options(self) -> dict[str, Any]:
        options = {k: v for k, v in self.description.options.items() if k != "gpus"}
        if isinstance(self.provider, QPUSessionProvider) and self.provider.session_s is not None:
            if self.backend.startswith("ibm_"):
                options.setdefault("session_max_time", int(self.provider.session_s))
        return options

    @property
    def qubits(self) -> int | None:
        """Widest circuit the pilot takes (``None`` until its device is known)."""
        if self.description.qubits is not None:
            if self._device_qubits is None:
                return self.description.qubits
            return min(self.description.qubits, self._device_qubits)
        return self._device_qubits

    @property
    def fidelity(self) -> float | None:
        """The device's fidelity (``None`` until known)."""
        return self._fidelity

    @property
    def described(self) -> bool:
        """Whether the device's width and fidelity are known."""
        return self._device_qubits is not None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self, run_dir: str, run_id: str | None, monitoring_messages: Any, log_config: Any) -> None:
        """Start the pilot's HTEX (its interchange); blocks follow through the scaling strategy."""
        import os

        self.htex.run_dir = run_dir
        self.htex.run_id = run_id
        self.htex.monitoring_messages = monitoring_messages
        self.htex.log_config = log_config
        script_dir = os.path.join(run_dir, "submit_scripts")
        os.makedirs(script_dir, exist_ok=True)
        self.provider.script_dir = script_dir
        self.htex.start()
        if not self.described:
            probe = self.htex.submit(describe_device, {}, self.backend, self._device_options)
            probe.add_done_callback(self._on_probe)

    def _on_probe(self, future: Future) -> None:
        try:
            info = future.result()
        except Exception as exc:
            logger.warning("pilot %s: workers could not build the device: %s", self.name, exc)
            return
        self._device_qubits = info["qubits"]
        self._fidelity = info["fidelity"]

    @property
    def limit(self) -> int:
        """Tasks the pilot may hold: connected workers plus prefetch per worker."""
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

    @property
    def accepting(self) -> bool:
        """Whether new tasks may be bound to this pilot."""
        return self.state in (PilotState.STARTING, PilotState.ACTIVE) and self.described

    def refresh_capacity(self) -> None:
        """Count connected, active workers (a call to the pilot's interchange)."""
        if self.state in (PilotState.FAILED, PilotState.REMOVED):
            self.capacity = 0
            return
        managers = self.htex.connected_managers()
        self.capacity = sum(m["worker_count"] for m in managers if m["active"] and not m["draining"])
        if self.capacity and self.state is PilotState.STARTING:
            self.state = PilotState.ACTIVE

    def submit(self, task: QuantumTask) -> Future:
        """Send a bound task to the pilot's workers."""
        context = {
            "task_executor": {
                "f": "parsl_quantum.executors.worker.execute_on_device",
                "a": (self.backend, self._device_options, task.inject_device),
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

    def has_live_block(self) -> bool:
        """Whether some block is pending or running."""
        return any(s.state in (JobState.PENDING, JobState.RUNNING) for s in self.htex.status_facade.values())

    def stop(self) -> None:
        """Release every block and stop the interchange."""
        try:
            live = [b for b, s in self.htex.status_facade.items() if not s.terminal]
            if live and not self.htex.bad_state_is_set:
                self.htex.scale_in_facade(len(live))
        except Exception:
            logger.exception("pilot %s: scaling in its blocks failed", self.name)
        finally:
            self.htex.shutdown()

    def status(self) -> PilotStatus:
        """A snapshot for reporting."""
        return PilotStatus(
            name=self.name,
            kind=self.kind,
            backend=self.backend,
            state=self.state.value,
            workers=self.capacity,
            slots=self.limit,
            busy=len(self.in_flight),
            tasks_done=self.tasks_done,
            blocks=self.blocks(),
            qubits=self.qubits,
            fidelity=self.fidelity,
            reason=self.reason,
            planned_workers=self.description.workers * max(int(getattr(self.provider, "init_blocks", 1)), 1),
        )
