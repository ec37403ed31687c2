"""What every benchmark shares: timing, medians, and writing its JSON result."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import parsl
from parsl.config import Config

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall-clock seconds of ``fn()`` and its value."""
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


class CpuMeter:
    """CPU seconds spent by this process and by every process the run directory's pilots started.

    On a host with few cores, wall-clock time is bounded below by the CPU all processes of a flow need
    divided by the cores: this meter tells how much of a flow's time is work and how much is waiting.
    The processes are found once, after the pilots have started (their interchange, pool managers and
    workers, found through an ancestor whose command line names ``run_dir``, or as this process's
    children); this process's own share is read with ``time.process_time`` (every thread), the others'
    from the kernel's counters (a resolution of one clock tick, 10 ms on Linux: sum many flows).
    """

    def __init__(self, run_dir: str) -> None:
        import psutil

        me = psutil.Process()
        found = {p.pid: p for p in me.children(recursive=True)}
        for p in psutil.process_iter():
            try:
                chain = [p, *p.parents()]
                if any(run_dir in " ".join(q.cmdline()) for q in chain) and p.pid != me.pid:
                    found[p.pid] = p
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        self.others = list(found.values())

    def seconds(self) -> tuple[float, float]:
        """CPU seconds so far: ``(this process, the pilots' processes)``."""
        import psutil

        total = 0.0
        for p in self.others:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return time.process_time(), total


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def machine() -> dict[str, Any]:
    """Where the benchmark ran, and how busy the machine was (a load above its cores makes timings noisy)."""
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def write_result(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Print the result as one JSON line and write it to ``benchmarks/results/<name>.json``."""
    payload = {
        "benchmark": name,
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
        **payload,
    }
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"{name}.json"), "w") as f:
        json.dump(payload, f, indent=2)
    print(json.dumps(payload))
    return payload


class Loaded:
    """Context manager: a DataFlowKernel with ``executors``, run directory under /tmp, no app logging."""

    def __init__(self, *executors: Any, run_dir: str = "/tmp/parsl-quantum-bench") -> None:
        self.config = Config(executors=list(executors), run_dir=run_dir, initialize_logging=False)

    def __enter__(self) -> Any:
        self.dfk = parsl.load(self.config)
        return self.dfk

    def __exit__(self, *exc: Any) -> None:
        self.dfk.cleanup()
        parsl.clear()
