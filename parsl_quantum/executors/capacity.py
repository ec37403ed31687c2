"""How much parallelism the quantum executors of an app offer right now."""

from __future__ import annotations

from collections.abc import Sequence


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
            running = [p for p in pilots.values() if p.state in ("starting", "active")]
            total += sum(max(p.workers, p.planned_workers) for p in running)
        elif executor is not None:
            total += 1
    return max(total, 1)
