"""Long runs stay flat: resident memory of the submitting process over 100,000 no-op tasks.

The tasks go through a QuantumPilotExecutor with one CPU pilot (2 workers), in waves of 10,000 (each
wave's results collected before the next is submitted, as a long workflow would). Resident memory
(RSS) is taken after each wave, after a garbage collection. Reported: RSS at 10k and at 100k tasks and
the growth between them; the issue asks for under 20 %. Per-task state is bounded: the executor
drops a task when it completes, its records go to SQLite, Q-Dreamer observes completions through a
listener and keeps nothing per task once observed.
"""

from __future__ import annotations

import argparse
import gc
import time

import psutil
from parsl import python_app

from benchmarks.common import Loaded, write_result
from parsl_quantum.executors import QuantumPilotExecutor
from parsl_quantum.providers import PilotDescription


def noop(i, *, device=None):
    return i


quantum_noop = python_app(noop, executors=["quantum"])


def rss_mib() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--wave", type=int, default=10_000)
    args = parser.parse_args(argv)
    pilot = PilotDescription(name="cpu", kind="cpu", backend="aer", workers=2)
    qex = QuantumPilotExecutor(label="quantum", pilots=[pilot])
    samples = []
    with Loaded(qex, run_dir="/tmp/parsl-quantum-bench/memory"):
        qex.wait_for_pilots(timeout=300)
        start = time.perf_counter()
        done = 0
        while done < args.tasks:
            futures = [quantum_noop(done + i) for i in range(args.wave)]
            assert [f.result() for f in futures] == list(range(done, done + args.wave))
            done += args.wave
            del futures
            samples.append(
                {"tasks": done, "rss_mib": round(rss_mib(), 1), "s": round(time.perf_counter() - start, 1)}
            )
            print(samples[-1], flush=True)
    first, last = samples[0]["rss_mib"], samples[-1]["rss_mib"]
    return write_result(
        "memory",
        {
            "tasks": args.tasks,
            "rss_mib_at_first_wave": first,
            "rss_mib_at_end": last,
            "growth": round(last / first - 1, 3),
            "samples": samples,
        },
    )


if __name__ == "__main__":
    main()
