"""A Parsl execution provider that models a QPU access session as a block.

A QPU is not acquired like a node: a user holds a *session* (a reservation, a dedicated-mode window, a
runtime session) for a bounded time, during which a number of jobs may be in flight. Here a block is
one session:

- ``submit`` acquires the session and starts the block's workers on this host (they submit QPU jobs,
  so they need no compute node); the block is RUNNING at once. With a ``backend``, acquiring means opening
  a qiskit-ibm-runtime ``Session`` (or ``Batch``) on it; its id reaches the block's workers in their
  environment (:data:`~parsl_quantum.devices.ibm_runtime.SESSION_ENV`), and they run their jobs in it;
- the session's end (``session_s`` after it was acquired) makes the block TIMEOUT, not FAILED: nothing
  went wrong, the session simply expired, and the scaling strategy may acquire a new one;
- ``cancel`` releases the session, and :meth:`QPUSessionProvider.close_sessions` (shutdown) every one.

The workers record each job's timestamps; :meth:`QPUSessionProvider.observed_queue_wait_s` is the queue
wait they observed, for performance models.

The worker processes are launched through a :class:`parsl.providers.LocalProvider`, so they behave
like every other Parsl block on this host.
"""

from __future__ import annotations

import logging
import os
import shlex
import statistics
import tempfile
import time
import uuid
import weakref
from dataclasses import dataclass
from typing import Any

import typeguard
from parsl.jobs.states import JobState, JobStatus
from parsl.launchers import SingleNodeLauncher
from parsl.launchers.base import Launcher
from parsl.providers import LocalProvider
from parsl.providers.base import ExecutionProvider
from parsl.utils import RepresentationMixin

from parsl_quantum.devices.ibm_runtime import JOB_LOG_ENV, MODES, SESSION_ENV, read_records
from parsl_quantum.providers.ibm_sessions import RuntimeSession, open_session

logger = logging.getLogger(__name__)


@dataclass
class Session:
    """One acquired QPU session (one block).

    Attributes
    ----------
    acquired_at, expires_at
        Wall-clock times (``time.time()``); ``expires_at`` is ``inf`` for an unbounded session.
    released
        Whether the session was released by ``cancel``.
    expired
        Whether the session reached its end.
    runtime
        The qiskit-ibm-runtime session or batch held for the block (``None`` without a ``backend``).
    job_log
        The file where the block's workers record their jobs.
    """

    acquired_at: float
    expires_at: float
    released: bool = False
    expired: bool = False
    runtime: RuntimeSession | None = None
    job_log: str | None = None

    @property
    def session_id(self) -> str | None:
        """The runtime session's id (``None`` without one)."""
        return self.runtime.session_id if self.runtime is not None else None

    def remaining(self, now: float | None = None) -> float:
        """Seconds left in the session."""
        return self.expires_at - (time.time() if now is None else now)

    def close(self) -> None:
        """Close the runtime session, if any (idempotent)."""
        if self.runtime is not None:
            self.runtime.close()


def _close_all(sessions: dict[Any, Session]) -> None:
    for session in list(sessions.values()):
        session.close()


def learned_queue_wait_s(waits: list[float], window: int = 20) -> float | None:
    """The queue wait to expect next: the median of the last ``window`` observed waits (``None`` if none).

    The median, because queue waits are heavy-tailed: one job held behind a long reservation should
    not make every later prediction wrong.
    """
    recent = waits[-window:]
    return float(statistics.median(recent)) if recent else None


class QPUSessionProvider(ExecutionProvider, RepresentationMixin):
    """Blocks that are QPU access sessions.

    Parameters
    ----------
    backend
        The QPU a block's session is opened on (``ibm_<device>``; ``fake_<device>`` opens one in
        qiskit-ibm-runtime's local testing mode). ``None``: the session is only a time window, and a
        real device's workers open their own session.
    mode
        ``"session"`` (a dedicated runtime ``Session``) or ``"batch"`` (a runtime ``Batch``).
    session_s
        Length of a session in seconds (``None``: until released); also the runtime session's
        ``max_time``.
    init_blocks, min_blocks, max_blocks
        Sessions at start, at least, and at most at once.
    worker_init
        Shell commands run before the workers start (e.g. activating an environment).
    launcher
        How the worker pool is launched on this host.
    cmd_timeout
        Seconds allowed for launching or killing the worker pool.
    parallelism
        Ratio of session slots to waiting tasks the scaling strategy aims for.
    polling_interval
        Seconds between status checks; bounds how late an expiry is noticed.
    """

    @typeguard.typechecked
    def __init__(
        self,
        backend: str | None = None,
        mode: str = "session",
        session_s: float | None = None,
        init_blocks: int = 1,
        min_blocks: int = 0,
        max_blocks: int = 1,
        worker_init: str = "",
        launcher: Launcher = SingleNodeLauncher(),
        cmd_timeout: int = 30,
        parallelism: float = 1.0,
        polling_interval: float = 1.0,
    ) -> None:
        if session_s is not None and session_s <= 0:
            raise ValueError(f"session_s must be positive, got {session_s}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if backend is not None and not backend.startswith(("ibm_", "fake_")):
            raise ValueError(f"backend must be a QPU (ibm_<device> or fake_<device>), got {backend!r}")
        self.backend = backend
        self.mode = mode
        self.session_s = session_s
        self.init_blocks = init_blocks
        self.min_blocks = min_blocks
        self.max_blocks = max_blocks
        self.worker_init = worker_init
        self.launcher = launcher
        self.cmd_timeout = cmd_timeout
        self.parallelism = parallelism
        self.polling_interval = polling_interval
        self.nodes_per_block = 1
        self.cores_per_node = None
        self.mem_per_node = None
        self._local = LocalProvider(
            launcher=launcher,
            init_blocks=init_blocks,
            min_blocks=min_blocks,
            max_blocks=max_blocks,
            worker_init=worker_init,
            cmd_timeout=cmd_timeout,
            parallelism=parallelism,
        )
        self.sessions: dict[Any, Session] = {}
        # Sessions still open when the provider is collected or the interpreter exits are closed then.
        self._finalizer = weakref.finalize(self, _close_all, self.sessions)

    @property
    def script_dir(self) -> str | None:
        """Where the block scripts and their output go (set by the executor)."""
        return self._local.script_dir

    @script_dir.setter
    def script_dir(self, value: str | None) -> None:
        self._local.script_dir = value

    @property
    def resources(self) -> dict[Any, Any]:
        """Per-job records of the underlying local launcher."""
        return self._local.resources

    @property
    def label(self) -> str:
        return "qpu_session"

    @property
    def status_polling_interval(self) -> float:
        return self.polling_interval

    def submit(self, command: str, tasks_per_node: int, job_name: str = "parsl.qpu_session") -> Any:
        """Acquire a session and start its workers in it; returns the block's job id.

        Raises
        ------
        BackendError
            If the runtime session cannot be opened (the block then fails, and the pilot recovers or
            fails through its fault handling).
        """
        runtime = None
        if self.backend is not None:
            max_time = int(self.session_s) if self.session_s is not None else None
            runtime = open_session(self.backend, self.mode, max_time=max_time)
        job_log = self._new_job_log()
        exports = {JOB_LOG_ENV: job_log}
        if runtime is not None:
            exports[SESSION_ENV] = runtime.spec
        prefix = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in exports.items())
        try:
            job_id = self._local.submit(prefix + command, tasks_per_node, job_name)
        except BaseException:
            if runtime is not None:
                runtime.close()
            raise
        now = time.time()
        expires = now + self.session_s if self.session_s is not None else float("inf")
        self.sessions[job_id] = Session(acquired_at=now, expires_at=expires, runtime=runtime, job_log=job_log)
        logger.info(
            "QPU session %s acquired for %s s (%s)",
            job_id,
            self.session_s,
            runtime if runtime is not None else "time window only",
        )
        return job_id

    def _new_job_log(self) -> str:
        """A new private file for one block's job records, next to its scripts."""
        directory = self.script_dir or tempfile.gettempdir()
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"qpu_jobs.{uuid.uuid4().hex[:12]}.jsonl")
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return path

    def status(self, job_ids: list[Any]) -> list[JobStatus]:
        """RUNNING while the session lasts, TIMEOUT once it expired, CANCELLED once released."""
        now = time.time()
        for job_id in job_ids:
            session = self.sessions.get(job_id)
            if session and not (session.released or session.expired) and session.remaining(now) <= 0:
                session.expired = True
                logger.info(
                    "QPU session %s expired after %s s; closing it and releasing its workers",
                    job_id,
                    self.session_s,
                )
                session.close()
                self._local.cancel([job_id])
        base = self._local.status(job_ids)
        out = []
        for job_id, status in zip(job_ids, base, strict=True):
            session = self.sessions.get(job_id)
            if session is not None and session.expired:
                out.append(JobStatus(JobState.TIMEOUT, message=f"QPU session of {self.session_s} s expired"))
            elif session is not None and session.released:
                out.append(JobStatus(JobState.CANCELLED, message="QPU session released"))
            else:
                out.append(status)
        return out

    def cancel(self, job_ids: list[Any]) -> list[bool]:
        """Release the sessions (closing their runtime sessions) and stop their workers."""
        for job_id in job_ids:
            session = self.sessions.get(job_id)
            if session is not None:
                if not session.expired:
                    session.released = True
                session.close()
        return self._local.cancel(job_ids)

    def close_sessions(self) -> None:
        """Close every runtime session still open (at shutdown; the blocks' workers are not touched)."""
        _close_all(self.sessions)

    # -- what the workers observed --------------------------------------------------------------------
    def job_records(self) -> list[dict[str, Any]]:
        """Every job the blocks' workers ran, in the order each block recorded them.

        Each record has ``backend``, ``session_id``, ``job_id``, ``created``, ``running`` and ``finished``
        (epoch seconds, or ``None``) and ``queue_wait_s``.
        """
        records: list[dict[str, Any]] = []
        for session in list(self.sessions.values()):
            if session.job_log is not None:
                records += read_records(session.job_log)
        return records

    def observed_queue_wait_s(self, window: int = 20) -> float | None:
        """The queue wait the QPU's jobs observed: median of the last ``window`` (``None`` before any).

        Jobs are ordered by the time they were created; a job without timestamps does not count.
        """
        records = [r for r in self.job_records() if r.get("queue_wait_s") is not None]
        records.sort(key=lambda r: r.get("created") or 0.0)
        return learned_queue_wait_s([float(r["queue_wait_s"]) for r in records], window)
