"""The life of a pilot as one state machine: its states, which of them are terminal, and the legal moves.

::

    STARTING -> ACTIVE <-> DEGRADED
    any live state -> RECOVERING -> ACTIVE, or FAILED once its restarts are spent
    any live state -> FAILED (its device cannot be built, its supervision broke, restarts spent)
    ACTIVE/DEGRADED/STARTING -> DRAINING -> STOPPED
    any live state -> STOPPED (shutdown, removal)

Every change goes through :func:`transition` with the executor's lock held, so an illegal move (a failed
pilot coming back to life, a stopped one taking work) is a bug that raises instead of a silent state.
"""

from __future__ import annotations

import enum


class PilotState(enum.StrEnum):
    """States of a pilot (their values are what ``QuantumPilotExecutor.pilots`` reports)."""

    STARTING = "starting"
    ACTIVE = "active"
    DEGRADED = "degraded"
    RECOVERING = "recovering"
    DRAINING = "draining"
    STOPPED = "stopped"
    FAILED = "failed"


TERMINAL_STATES = frozenset({PilotState.STOPPED, PilotState.FAILED})
"""States a pilot never leaves."""

LIVE_STATES = frozenset({PilotState.STARTING, PilotState.ACTIVE, PilotState.DEGRADED, PilotState.RECOVERING})
"""States of a pilot that serves, or will serve again, new work: waiting tasks may count on it."""

LEGAL_TRANSITIONS: dict[PilotState, frozenset[PilotState]] = {
    PilotState.STARTING: frozenset(
        {PilotState.ACTIVE, PilotState.RECOVERING, PilotState.DRAINING, PilotState.STOPPED, PilotState.FAILED}
    ),
    PilotState.ACTIVE: frozenset(
        {
            PilotState.DEGRADED,
            PilotState.RECOVERING,
            PilotState.DRAINING,
            PilotState.STOPPED,
            PilotState.FAILED,
        }
    ),
    PilotState.DEGRADED: frozenset(
        {PilotState.ACTIVE, PilotState.RECOVERING, PilotState.DRAINING, PilotState.STOPPED, PilotState.FAILED}
    ),
    PilotState.RECOVERING: frozenset(
        {PilotState.ACTIVE, PilotState.FAILED, PilotState.DRAINING, PilotState.STOPPED}
    ),
    PilotState.DRAINING: frozenset({PilotState.STOPPED, PilotState.FAILED}),
    PilotState.STOPPED: frozenset(),
    PilotState.FAILED: frozenset(),
}


class IllegalTransitionError(RuntimeError):
    """A pilot state change that the state machine does not allow."""


def transition(pilot_name: str, current: PilotState, new: PilotState) -> PilotState:
    """Check the move ``current -> new`` of pilot ``pilot_name``; returns ``new``.

    Staying in the same state is allowed (and a no-op).

    Raises
    ------
    IllegalTransitionError
        If the state machine has no such move.
    """
    if new is current or new in LEGAL_TRANSITIONS[current]:
        return new
    raise IllegalTransitionError(f"pilot '{pilot_name}' cannot go from {current.value} to {new.value}")
