"""Soak: 2,000 tasks with exactly known results while workers and worker pools are killed at three points
and the QPU emulator's backend fails every third job; against the same run without faults.

Pilots: two CPU simulator pilots (aer, one worker each) and a QPU emulator pilot (fake_manila through its
backend's own ``run``). The faulty run uses a real ``FakeManilaV2`` subclass whose ``run`` raises on every
third job (tests/flaky_backend.py), SIGKILLs a worker of ``cpu1`` at 25 % of the tasks, the whole worker pool
of ``cpu2`` at 50 % and the pool of ``qpu`` at 75 %.

Reported: ok, lost (never completed), wrong (completed with a wrong value), retries (bindings beyond the
first), pilot restarts, pools replaced in their blocks, time to recover (from each kill until the killed
pool's replacement has completed a task) with its median, and the faulty run's throughput against the
clean run's (goals: median recovery <= 5 s, throughput ratio >= 0.8). The clean and faulty runs alternate
(``--pairs``, 3 by default) and each faulty run is compared with the clean run just before it: the figures
are the medians over the pairs and over every kill.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _pilots(flaky: bool) -> list[Any]:
    from parsl_quantum.providers import PilotDescription

    options: dict[str, Any] = {"emulation": "backend_run"}
    if flaky:
        options["backend_class"] = "tests.flaky_backend:FlakyManila"
    return [
        PilotDescription(name="cpu1", kind="cpu", backend="aer", workers=1),
        PilotDescription(name="cpu2", kind="cpu", backend="aer", workers=1),
        PilotDescription(name="qpu", kind="qpu", backend="fake_manila", workers=1, options=options),
    ]


def _pool(qex: Any, pilot: str) -> Any:
    import psutil

    from parsl_quantum.executors.pool_guard import is_standby

    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if (
            "process_worker_pool" in cmd
            and "pool_guard" not in cmd
            and f"{qex.label}-{pilot}" in cmd
            and qex.run_dir in cmd
            and not is_standby(proc)  # not a guard's standby interpreter
        ):
            return proc
    return None


def _kill(qex: Any, pilot: str, what: str) -> float:
    pool = _pool(qex, pilot)
    if pool is None:
        return float("nan")
    if what == "worker":
        from parsl_quantum.executors.pool_guard import pool_workers

        workers = pool_workers(pool)
        if workers:
            workers[-1].kill()
    else:
        pool.kill()
    return time.time()


def run(tasks: int, faults: bool, run_dir: str) -> dict[str, Any]:
    """One run of ``tasks`` tasks; returns its figures."""
    from parsl import python_app

    from benchmarks.common import Loaded
    from parsl_quantum.executors import QuantumPilotExecutor
    from tests import apps

    decode_square = python_app(apps.decode_square, executors=["quantum"])
    qex = QuantumPilotExecutor(label="quantum", pilots=_pilots(faults), policy="least_loaded", max_attempts=6)
    with Loaded(qex, run_dir=run_dir):
        qex.wait_for_pilots(timeout=300)
        inputs = [i % 32 for i in range(tasks)]
        start = time.perf_counter()
        futures = [decode_square(x) for x in inputs]
        kills = (
            [(tasks // 4, "cpu1", "worker"), (tasks // 2, "cpu2", "pool"), (3 * tasks // 4, "qpu", "pool")]
            if faults
            else []
        )
        recoveries: dict[str, float] = {}
        # pilot -> (kill time, replacements then, tasks done once replaced or None)
        pending: dict[str, tuple[float, int, int | None]] = {}
        pinned: list[Any] = []
        deadline = time.time() + 1800
        while time.time() < deadline:
            done = sum(f.done() for f in futures)
            status = qex.pilots
            while kills and done >= kills[0][0]:
                _, pilot, what = kills.pop(0)
                replaced = status[pilot].pool_restarts + status[pilot].restarts
                pending[pilot] = (_kill(qex, pilot, what), replaced, None)
            for pilot, (at, replaced, tasks_then) in list(pending.items()):
                now_status = status[pilot]
                if tasks_then is None:
                    if now_status.pool_restarts + now_status.restarts > replaced:
                        pending[pilot] = (at, replaced, now_status.tasks_done)
                elif now_status.tasks_done > tasks_then and now_status.state == "active":
                    # recovered: its pool was replaced and the new one completed a task
                    recoveries[pilot] = round(time.time() - at, 2)
                    del pending[pilot]
            if done == tasks and not pending:
                break
            if done == tasks and not pinned:
                # the work ran out before a replaced pool took any: one task pinned to each such pilot
                pinned = [decode_square(0, parsl_resource_specification={"pilot": p}) for p in pending]
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        ok = wrong = lost = 0
        for x, f in zip(inputs, futures, strict=True):
            if not f.done():
                lost += 1
            elif f.exception() is None and f.result() == x * x:
                ok += 1
            else:
                wrong += 1
        records = [r for r in qex.metrics() if r.name == "decode_square"]
        status = qex.pilots
        return {
            "tasks": tasks,
            "ok": ok,
            "lost": lost,
            "wrong": wrong,
            "retries": sum(max(r.attempts - 1, 0) for r in records),
            "pilot_restarts": {n: s.restarts for n, s in status.items()},
            "pool_restarts": {n: s.pool_restarts for n, s in status.items()},
            "faults_seen": {n: s.faults for n, s in status.items()},
            "time_to_recover_s": recoveries,
            "seconds": round(elapsed, 2),
            "throughput_tasks_per_s": round(tasks / elapsed, 1),
        }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from benchmarks.common import write_result

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--pairs", type=int, default=3, help="clean and faulty runs, alternating")
    args = parser.parse_args(argv)
    # the workers import the test helpers (tests.apps, tests.flaky_backend) from the repository
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    # a shared machine's load drifts: each faulty run is compared with the clean run just before it
    pairs = []
    for _ in range(args.pairs):
        clean = run(args.tasks, faults=False, run_dir="/tmp/parsl-quantum-bench/soak-clean")
        faulty = run(args.tasks, faults=True, run_dir="/tmp/parsl-quantum-bench/soak-faults")
        pairs.append((clean, faulty))
    ratios = [f["throughput_tasks_per_s"] / c["throughput_tasks_per_s"] for c, f in pairs]
    recoveries = [s for _, f in pairs for s in f["time_to_recover_s"].values()]
    return write_result(
        "soak",
        {
            "pairs": [{"clean": c, "faulty": f} for c, f in pairs],
            "throughput_ratios": [round(r, 3) for r in ratios],
            "throughput_ratio": round(statistics.median(ratios), 3),
            "times_to_recover_s": recoveries,
            "median_time_to_recover_s": statistics.median(recoveries) if recoveries else None,
            "clean_throughput_tasks_per_s": statistics.median(c["throughput_tasks_per_s"] for c, _ in pairs),
            "faulty_throughput_tasks_per_s": statistics.median(f["throughput_tasks_per_s"] for _, f in pairs),
        },
    )


if __name__ == "__main__":
    main()
