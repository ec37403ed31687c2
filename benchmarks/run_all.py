"""Run every benchmark (``make bench``): each prints one JSON line and writes benchmarks/results/.

Each benchmark runs in a process of its own: one that ran before could otherwise leave threads or pilots
behind in the process (a DataFlowKernel's pollers, a standby interpreter), and the next one's figures
would carry their cost. ``python -m benchmarks.run_all cutting_speed soak`` runs only those named.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import time

import benchmarks
from benchmarks.bench_gpu import NO_GPU_STATUS


def main() -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    only = sys.argv[1:]
    failed = []
    for name in names:
        if only and name not in only and name.removeprefix("bench_") not in only:
            continue
        start = time.time()
        print(f"== {name}", flush=True)
        status = subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], check=False).returncode
        if name == "bench_gpu" and status == NO_GPU_STATUS:
            print("== bench_gpu skipped: no usable GPU here (it says why above)", flush=True)
        elif status:
            failed.append(name)
            print(f"!! {name} failed with status {status}", flush=True)
        print(f"== {name} took {time.time() - start:.0f} s", flush=True)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
