"""A progress bar over futures, for long runs in a terminal."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TextIO


def progress_enabled(stream: TextIO) -> bool:
    """A bar only in a terminal (or with ``PARSL_QUANTUM_PROGRESS=1``), never in logs."""
    forced = os.environ.get("PARSL_QUANTUM_PROGRESS")
    if forced is not None:
        return forced not in ("", "0", "false")
    return stream.isatty()


def wait_with_progress(
    futures: Sequence[Future], label: str = "tasks", stream: TextIO | None = None, width: int = 30
) -> None:
    """Block until every future is done, drawing ``[#####.....] 12/24 tasks  3.1 s`` as they finish."""
    stream = stream or sys.stderr
    if not futures:
        return
    if not progress_enabled(stream):
        for future in futures:
            future.exception()
        return
    total = len(futures)
    done = threading.Semaphore(0)
    for future in futures:
        future.add_done_callback(lambda _: done.release())
    start = time.perf_counter()
    finished = 0
    while finished < total:
        if done.acquire(timeout=0.2):
            finished += 1
        filled = width * finished // total
        bar = "#" * filled + "." * (width - filled)
        stream.write(f"\r[{bar}] {finished}/{total} {label} {time.perf_counter() - start:6.1f} s")
        stream.flush()
    stream.write("\n")
