"""Block-side guard of a pilot's worker pool: a block whose pool cannot run tasks ends, so it is seen.

A pilot's block runs ``python -m parsl_quantum.executors.pool_guard --grace S -- <Parsl's worker pool
command>``. The guard starts Parsl's ``process_worker_pool`` as its child and watches it:

- when the pool, after its workers started, has had no live worker process for ``S`` seconds (they died and
  were not restarted, e.g. after its multiprocessing helper was killed, while its heartbeats still reach the
  interchange), or when no worker ever started within a start-up allowance, the guard ends the pool;
- when the pool ends, for any reason (a signal included), the guard kills every helper process the pool
  left behind (its multiprocessing server, workers) and exits with the pool's status.

Either way the block ends with a non-zero status and a message on its stderr, which the pilot's executor
sees at its next status poll as a pilot fault, instead of tasks waiting forever on a pool that cannot run
them. The guard sends no traffic and starts no worker of its own: the workers are Parsl's.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import subprocess
import sys
import time

POLL_S = 0.5


def _spawned(children: list) -> list:
    """Worker-like children: multiprocessing spawn children, not the resource tracker."""
    found = []
    for proc in children:
        with contextlib.suppress(Exception):
            cmd = " ".join(proc.cmdline())
            if "multiprocessing" in cmd and "resource_tracker" not in cmd and proc.is_running():
                found.append(proc)
    return found


def live_workers(pool) -> int:  # noqa: ANN001 - a psutil.Process
    """Live worker processes of a Parsl worker pool.

    The pool's direct spawn children are its workers plus one multiprocessing manager server (started
    first, before any worker); zombies do not count.
    """
    import psutil

    try:
        spawned = [p for p in _spawned(pool.children()) if p.status() != psutil.STATUS_ZOMBIE]
    except psutil.Error:
        return 0
    if not spawned:
        return 0
    server = min(spawned, key=lambda p: p.create_time())
    return len([p for p in spawned if p.pid != server.pid])


def _kill_all(procs: dict) -> None:
    import psutil

    for proc in procs.values():
        with contextlib.suppress(psutil.Error):
            proc.kill()


def guard(command: list[str], grace_s: float, startup_s: float = 300.0) -> int:
    """Run ``command`` (a worker pool) and watch it; returns the exit status for the block.

    ``grace_s`` is how long a pool whose workers had started may go without a live worker; ``startup_s``
    how long the first worker may take to start (imports on a loaded node can take a while).
    """
    import psutil

    pool = subprocess.Popen(command)
    watched = psutil.Process(pool.pid)
    seen: dict[int, psutil.Process] = {}
    stop = {"signal": 0}

    def on_signal(signum: int, _frame: object) -> None:
        stop["signal"] = signum

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    last_alive: float | None = None
    status = 0
    while True:
        code = pool.poll()
        if code is not None:
            status = code if code >= 0 else 128 - code
            if code:
                print(f"parsl-quantum pool guard: worker pool ended with status {code}", file=sys.stderr)
            break
        if stop["signal"]:
            pool.terminate()
            try:
                pool.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pool.kill()
            status = 128 + stop["signal"]
            break
        with contextlib.suppress(psutil.Error):
            for child in watched.children(recursive=True):
                seen.setdefault(child.pid, child)
        now = time.monotonic()
        if live_workers(watched) > 0:
            last_alive = now
        elif (last_alive is not None and now - last_alive > grace_s) or (
            last_alive is None and now - started > startup_s
        ):
            what = f"for {grace_s:.0f} s" if last_alive is not None else f"within {startup_s:.0f} s of start"
            print(
                f"parsl-quantum pool guard: the worker pool on {socket.gethostname()} has had no live worker "
                f"{what}; ending the block",
                file=sys.stderr,
                flush=True,
            )
            pool.kill()
            pool.wait()
            status = 75
            break
        time.sleep(POLL_S)
    _kill_all(seen)
    return status


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--grace SECONDS -- COMMAND...``."""
    parser = argparse.ArgumentParser(prog="parsl_quantum.executors.pool_guard", description=__doc__)
    parser.add_argument("--grace", type=float, default=15.0, help="seconds without a live worker allowed")
    parser.add_argument("--startup", type=float, default=300.0, help="seconds allowed for the first worker")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the worker pool command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no worker pool command given")
    return guard(command, args.grace, args.startup)


if __name__ == "__main__":
    sys.exit(main())
