"""A pilot's health, judged from its blocks' statuses and its workers: small pure functions.

They decide *that* something is wrong and say what; what to do about it is the fault model's business
(:mod:`parsl_quantum.executors.faults`) and the executor's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from parsl.jobs.states import JobState, JobStatus

SESSION_END = frozenset({JobState.TIMEOUT})
"""Block states that end a block on schedule (a QPU session that expired): not a fault."""


def describe_block_end(block: str, status: JobStatus) -> str:
    """A short text of how a block ended, with the tail of its stderr when there is one."""
    detail = status.message or ""
    if status.exit_code is not None:
        detail += f" exit code {status.exit_code}"
    try:
        stderr = status.stderr_summary
    except Exception:  # the file may be on a node this host cannot read
        stderr = None
    if stderr:
        detail += f"; stderr: {stderr.strip()[-400:]}"
    return f"block {block} ended {status.state.name} {detail}".strip()


def lost_blocks(
    statuses: Mapping[str, JobStatus], cancelled: Collection[str], handled: Collection[str]
) -> list[tuple[str, JobStatus]]:
    """Blocks that ended without being asked to (and were not already dealt with).

    A block cancelled on purpose (scale-in, recovery, shutdown) or whose QPU session expired is not lost.
    """
    return [
        (block, status)
        for block, status in statuses.items()
        if status.terminal
        and status.state not in SESSION_END
        and block not in cancelled
        and block not in handled
    ]


def expired_sessions(statuses: Mapping[str, JobStatus], handled: Collection[str]) -> list[str]:
    """Blocks whose QPU session expired (not yet dealt with)."""
    return [b for b, s in statuses.items() if s.state in SESSION_END and b not in handled]


def has_live_block(statuses: Mapping[str, JobStatus]) -> bool:
    """Whether some block is pending or running."""
    return any(not s.terminal for s in statuses.values())


def stalled(
    in_flight: int, workers: int, no_worker_since: float | None, now: float, threshold_s: float
) -> bool:
    """Whether tasks are in flight on a pilot that has had no live worker for ``threshold_s`` seconds."""
    return (
        in_flight > 0 and workers == 0 and no_worker_since is not None and now - no_worker_since > threshold_s
    )
