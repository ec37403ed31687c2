"""The Parsl ``HighThroughputExecutor`` behind each pilot, with what a pilot needs of it.

- Its *outstanding* work includes the quantum executor's waiting tasks that the pilot could serve, so that
  Parsl's own scaling strategy grows the pilot while work waits for it and shrinks it when it idles.
- It remembers which blocks were cancelled on purpose (scale-in, recovery, shutdown), so that any other end
  of a block is seen as a fault.
- Each block of a provider that runs on this host is a process group; the group is recorded at launch so
  that processes a killed worker pool left behind can be killed too.
- Workers start through :mod:`parsl_quantum.executors.pool_guard`, with this interpreter.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from parsl.executors import HighThroughputExecutor
from parsl.executors.high_throughput.executor import DEFAULT_LAUNCH_CMD
from parsl.jobs.states import JobState, JobStatus

logger = logging.getLogger(__name__)


def htex_launch_options(guard_grace_s: float | None = None, preload: tuple[str, ...] = ()) -> dict[str, Any]:
    """HTEX launch commands that start the interchange and worker pool with this interpreter.

    Parsl's defaults run ``interchange.py`` and ``process_worker_pool.py`` from ``PATH``, which fails
    when the virtual environment is not activated (``.venv/bin/python workflow.py``).

    Parameters
    ----------
    guard_grace_s
        When given, the worker pool runs under :mod:`~parsl_quantum.executors.pool_guard`, which ends a
        block whose pool has had no live worker for this many seconds.
    preload
        Modules for the guarded pool's fork server to import (see :mod:`~parsl_quantum.executors.pool_boot`).
    """
    worker = f"{sys.executable} -m parsl.executors.high_throughput.process_worker_pool"
    if guard_grace_s is not None:
        worker = (
            f"{sys.executable} -m parsl_quantum.executors.pool_guard --grace {guard_grace_s:g} "
            f"--preload {','.join(preload) or ','} -- " + worker
        )
    return {
        "launch_cmd": DEFAULT_LAUNCH_CMD.replace("process_worker_pool.py", worker, 1),
        "interchange_launch_cmd": [sys.executable, "-m", "parsl.executors.high_throughput.interchange"],
    }


class PilotHTEX(HighThroughputExecutor):
    """A pilot's HTEX.

    Parameters
    ----------
    demand
        Number of waiting tasks of the quantum executor that this pilot could serve.
    **kwargs
        Arguments of :class:`~parsl.executors.HighThroughputExecutor`.
    """

    def __init__(self, *, demand: Callable[[], int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._demand = demand
        self.cancelled_blocks: set[str] = set()
        self.process_groups: dict[str, int] = {}

    def outstanding(self) -> int:
        return len(self.tasks) + self._demand()

    def status(self) -> dict[str, JobStatus]:
        """Block statuses; a QPU session that expired stays TIMEOUT.

        HTEX reports any ended block whose workers never registered as MISSING; a session that ran out
        before its workers registered (a short session on a busy host) is not a fault, so it keeps its
        TIMEOUT.
        """
        statuses = super().status()
        sessions = getattr(self.provider, "sessions", None)
        if sessions:
            for block, status in statuses.items():
                session = sessions.get(self.blocks_to_job_id.get(block))
                if status.state is JobState.MISSING and session is not None and session.expired:
                    status.state = JobState.TIMEOUT
        return statuses

    def _launch_block(self, block_id: str) -> Any:
        job_id = super()._launch_block(block_id)
        pid = (getattr(self.provider, "resources", {}) or {}).get(job_id, {}).get("remote_pid")
        if isinstance(pid, int):
            with contextlib.suppress(OSError):
                self.process_groups[block_id] = os.getpgid(pid)
        return job_id

    def scale_in(self, blocks: int, max_idletime: float | None = None) -> list[str]:
        """Scale in ``blocks`` blocks; asked for none, release none.

        Parsl's ``htex_auto_scale`` strategy asks for ``scale_in(0, max_idletime)`` when a block has more
        slots than tasks, and HTEX's ``scale_in`` checks the count only after picking a block: a block whose
        workers have not connected yet counts as idle forever, so it is released and then requested again,
        in a loop (Parsl issue #3696). Seen here with one task on a two-worker pilot.
        """
        if blocks <= 0:
            return []
        cancelled = super().scale_in(blocks, max_idletime=max_idletime)
        self.cancelled_blocks.update(cancelled)
        return cancelled

    def hold(self, blocks: list[str] | None = None) -> None:
        """Tell the interchange to send nothing more to the worker pools of ``blocks`` (default: all).

        A pool that was killed stays registered until its heartbeats are missed; without a hold, tasks sent
        meanwhile would be lost with it.
        """
        try:
            managers = self.connected_managers()
        except Exception:
            logger.exception("%s: could not list worker pools to hold", self.label)
            return
        self.hold_managers({m["manager"] for m in managers if blocks is None or m["block_id"] in blocks})

    def hold_managers(self, managers: set[str]) -> None:
        """Tell the interchange to send nothing more to these worker pools."""
        for manager in managers:
            with contextlib.suppress(Exception):
                self._hold_manager(manager)

    def cancel_all_blocks(self) -> None:
        """Cancel every block that has not ended, and kill what is left of blocks that did."""
        if not self.bad_state_is_set:
            self.hold()
        live = [b for b, s in self.status_facade.items() if not s.terminal]
        self.cancelled_blocks.update(self.status_facade)
        if live and self.provider is not None:
            job_ids = [self.blocks_to_job_id[b] for b in live if b in self.blocks_to_job_id]
            try:
                self.provider.cancel(job_ids)
            except Exception:
                logger.exception("%s: cancelling blocks %s failed", self.label, live)
        self.kill_leftovers()

    def kill_leftovers(self, blocks: list[str] | None = None) -> None:
        """Kill the process groups of ended blocks on this host (helpers a killed worker pool left)."""
        for block in blocks if blocks is not None else list(self.process_groups):
            group = self.process_groups.pop(block, None)
            if group is not None and group != os.getpgid(0):
                with contextlib.suppress(OSError):
                    os.killpg(group, signal.SIGKILL)
