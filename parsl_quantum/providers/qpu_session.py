"""A Parsl execution provider that models a QPU access session as a block.

A QPU is not acquired like a node: a user holds a *session* (a reservation, a dedicated-mode window, a
runtime session) for a bounded time, during which a number of jobs may be in flight. Here a block is
one session:

- ``submit`` acquires the session and starts the block's workers on this host (they submit QPU jobs,
  so they need no compute node); the block is RUNNING at once;
- the session's end (``session_s`` after it was acquired) makes the block TIMEOUT, not FAILED: nothing
  went wrong, the session simply expired, and the scaling strategy may acquire a new one;
- ``cancel`` releases the session.

The worker processes are launched through a :class:`parsl.providers.LocalProvider`, so they behave
like every other Parsl block on this host.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import typeguard
from parsl.jobs.states import JobState, JobStatus
from parsl.launchers import SingleNodeLauncher
from parsl.launchers.base import Launcher
from parsl.providers import LocalProvider
from parsl.providers.base import ExecutionProvider
from parsl.utils import RepresentationMixin

logger = logging.getLogger(__name__)


@dataclass
class Session:
    """One acquired QPU session.

    Attributes
    ----------
    acquired_at, expires_at
        Wall-clock times (``time.time()``); ``expires_at`` is ``inf`` for an unbounded session.
    released
        Whether the session was released by ``cancel``.
    expired
        Whether the session reached its end.
    """

    acquired_at: float
    expires_at: float
    released: bool = False
    expired: bool = False

    def remaining(self, now: float | None = None) -> float:
        """Seconds left in the session."""
        return self.expires_at - (time.time() if now is None else now)


class QPUSessionProvider(ExecutionProvider, RepresentationMixin):
    """Blocks that are QPU access sessions.

    Parameters
    ----------
    session_s
        Length of a session in seconds (``None``: until released).
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
        """Acquire a session and start its workers; returns the block's job id."""
        job_id = self._local.submit(command, tasks_per_node, job_name)
        now = time.time()
        expires = now + self.session_s if self.session_s is not None else float("inf")
        self.sessions[job_id] = Session(acquired_at=now, expires_at=expires)
        logger.info("QPU session %s acquired for %s s", job_id, self.session_s)
        return job_id

    def status(self, job_ids: list[Any]) -> list[JobStatus]:
        """RUNNING while the session lasts, TIMEOUT once it expired, CANCELLED once released."""
        now = time.time()
        for job_id in job_ids:
            session = self.sessions.get(job_id)
            if session and not (session.released or session.expired) and session.remaining(now) <= 0:
                session.expired = True
                logger.info(
                    "QPU session %s expired after %s s; releasing its workers", job_id, self.session_s
                )
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
        """Release the sessions and stop their workers."""
        for job_id in job_ids:
            session = self.sessions.get(job_id)
            if session is not None and not session.expired:
                session.released = True
        return self._local.cancel(job_ids)
