"""What motifs and planners ask of the DataFlowKernel's executors: how many workers the quantum executors of
an app offer right now, and the DataFlowKernel's own thread executor."""

from __future__ import annotations

from collections.abc import Sequence

from parsl_quantum.executors.pilot_states import PilotState

INTERNAL_EXECUTOR = "_parsl_internal"
"""The DataFlowKernel's own thread executor, for small steps on the submitting host.

Parsl runs join apps there, and its own ``AppFuture[key]`` and ``AppFuture.attr`` steps as python apps on
it. Motifs and Q-Dreamer use it the same way: to assemble results of other tasks without a thread waiting
for them, so that what the assembling step raises is what the caller's future raises.
"""

SERVING = frozenset({PilotState.STARTING, PilotState.ACTIVE})
"""States of a pilot whose workers count as slots: those up, and those a starting pilot will have."""


def worker_slots(executors: Sequence[str]) -> int:
    """Workers across the pilots of the named executors (at least 1): those connected, or for a pilot
    still starting, those it will have once its initial blocks are up.

    Motifs use it to split work into enough tasks to keep every worker busy. Executors that are not
    quantum pilot executors count as one slot each.
    """
    import parsl

    try:
        dfk = parsl.dfk()
    except Exception:  # no DataFlowKernel loaded: nothing to ask
        return 1
    total = 0
    for label in executors:
        executor = dfk.executors.get(label)
        pilots = getattr(executor, "pilots", None)
        if isinstance(pilots, dict):
            running = [p for p in pilots.values() if PilotState(p.state) in SERVING]
            total += sum(max(p.workers, p.planned_workers) for p in running)
        elif executor is not None:
            total += 1
    return max(total, 1)
