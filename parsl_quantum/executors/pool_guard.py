"""Block-side guard of a pilot's worker pool: a pool that lost a process is replaced at once, in its block.

A pilot's block runs ``python -m parsl_quantum.executors.pool_guard --grace S -- <Parsl's worker pool
command>``. The guard starts Parsl's ``process_worker_pool`` as its child, under a manager id of its own
(``<guard id>.<generation>``), and watches its processes. Liveness is judged by evidence, never by time:

- **A worker process, or the pool's multiprocessing server, died** (killed, segfault, OOM). Parsl's pool
  reports the task a dead worker ran as ``WorkerLost`` and starts a new worker, but a worker that died holding
  one of the pool's queue locks (an idle worker waits for work inside ``task_queue.get``, holding its lock)
  leaves the pool unable to run anything while its manager still heartbeats. So the guard lets the pool's
  watchdog report the dead worker's task, then kills the pool and starts a new one in the same block, with the
  next generation of its manager id. The executor sees the new manager replace the old one and requeues the
  old one's tasks free of charge.
- **The pool was killed** (by a signal): the same in-place replacement.
- **The pool has had no live worker for** ``S`` **seconds** while it runs: the same.
- **The pool cannot be kept alive**: more than ``--max-restarts`` replacements within ``--window`` seconds,
  no worker within the start-up allowance, or a pool that exits with an error of its own. The guard ends
  the block with a non-zero status and a message on its stderr; the executor sees a lost block, a pilot
  fault.

Replacing the pool, not the block, keeps a batch allocation: on Slurm a new block can wait hours in the
queue. When the pool ends, for any reason, the guard kills every helper process it left behind (its fork
server, multiprocessing server, workers). The guard sends no traffic and runs no task: the workers are
Parsl's. Each generation starts through :mod:`~parsl_quantum.executors.pool_boot`, its processes forked from
a server that has the pool's and the device's modules imported; once a pool's workers run, the guard keeps
the next generation's interpreter ready in the same way (a standby), so that a replacement starts in well
under a second instead of paying for its imports and its processes again. The first pool's standby is
prepared as soon as its workers run; after a replacement, the next one once the node has idle CPU (or
after 30 s of the pool's uptime): its imports, seconds of CPU, would otherwise be taken from the work
that is catching up. Where pilots are many and short-lived (a test suite, a workflow that starts a pilot
per step), ``PARSL_QUANTUM_STANDBY=idle`` in the pilots' environment applies the idle-CPU rule to the first
pool too (:data:`STANDBY_MODE_VARIABLE`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field

from parsl_quantum.executors.pool_boot import REPORT_FD, STANDBY_MARK

POLL_S = 0.2
STANDBY_DELAY_S = 30.0
"""After a replacement, the next standby is prepared once the node has idle CPU, or after this long."""
STANDBY_MODE_VARIABLE = "PARSL_QUANTUM_STANDBY"
"""Environment variable: ``eager`` (default), the first pool's standby is prepared once its workers run;
``idle``, only once the node has idle CPU or after :data:`STANDBY_DELAY_S` (a pool killed before then is
replaced from scratch, in seconds instead of about one)."""
STANDBY_MODES = ("eager", "idle")


def standby_mode(environ: dict[str, str] | None = None) -> str:
    """The standby mode :data:`STANDBY_MODE_VARIABLE` sets (``eager`` when unset).

    Raises
    ------
    ValueError
        For a value other than those of :data:`STANDBY_MODES`, naming the variable and the value.
    """
    value = (os.environ if environ is None else environ).get(STANDBY_MODE_VARIABLE, "eager").strip().lower()
    if value not in STANDBY_MODES:
        raise ValueError(f"{STANDBY_MODE_VARIABLE}={value!r}: expected one of {', '.join(STANDBY_MODES)}")
    return value


IDLE_CPU_PERCENT = 75.0
IDLE_POLLS = 5
"""The node counts as having idle CPU after this many polls in a row under :data:`IDLE_CPU_PERCENT`."""
FERRY_S = 0.3
"""Seconds left to the pool to pass the dead worker's ``WorkerLost`` on before it is replaced."""
GIVE_UP_STATUS = 75

MANAGER_ID = re.compile(r"^(pq[0-9a-f]+)\.(\d+)$")
"""Manager ids the guard gives its pools: ``<guard id>.<generation>``."""


def manager_generation(manager_id: str) -> tuple[str, int] | None:
    """``(guard id, generation)`` of a manager id a guard gave, or ``None`` for any other id."""
    match = MANAGER_ID.match(manager_id)
    return (match.group(1), int(match.group(2))) if match else None


def replaced_managers(manager_ids: list[str]) -> set[str]:
    """The managers that a later generation of their own guard replaced (their pool was killed)."""
    newest: dict[str, int] = {}
    for manager in manager_ids:
        parsed = manager_generation(manager)
        if parsed is not None:
            newest[parsed[0]] = max(newest.get(parsed[0], -1), parsed[1])
    replaced = set()
    for manager in manager_ids:
        parsed = manager_generation(manager)
        if parsed is not None and parsed[1] < newest[parsed[0]]:
            replaced.add(manager)
    return replaced


def _spawned(children: list) -> list:
    """Multiprocessing children (spawned processes, or a fork server), not the resource tracker."""
    found = []
    for proc in children:
        with contextlib.suppress(Exception):
            cmd = " ".join(proc.cmdline())
            if "multiprocessing" in cmd and "resource_tracker" not in cmd and proc.is_running():
                found.append(proc)
    return found


def _is_fork_server(proc) -> bool:  # noqa: ANN001 - a psutil.Process
    with contextlib.suppress(Exception):
        return "multiprocessing.forkserver" in " ".join(proc.cmdline())
    return False


def _alive(procs: list) -> list:
    import psutil

    alive = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


class ProcessTable:
    """Who is whose child, from one pass over the process table.

    psutil's ``Process.children`` reads every process's parent on each call; a guard's poll asks for the
    children of several processes, so it reads the table once per poll instead (a poll took about 9 ms of
    CPU with five passes, taken from the workers on a small node).
    """

    def __init__(self) -> None:
        self.children_of: dict[int, list[int]] = {}
        for pid, parent in _parents().items():
            self.children_of.setdefault(parent, []).append(pid)

    def children(self, pid: int) -> list:
        """The live children of ``pid`` as ``psutil.Process`` objects (those gone since are left out)."""
        import psutil

        found = []
        for child in self.children_of.get(pid, ()):
            with contextlib.suppress(psutil.Error):
                found.append(psutil.Process(child))
        return found

    def descendants(self, pid: int) -> list[int]:
        """Pids of the processes under ``pid``, at any depth."""
        out: list[int] = []
        stack = list(self.children_of.get(pid, ()))
        while stack:
            child = stack.pop()
            out.append(child)
            stack.extend(self.children_of.get(child, ()))
        return out


def _parents() -> dict[int, int]:
    """The parent pid of every process (from ``/proc`` where there is one, else through psutil)."""
    parents: dict[int, int] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        entries = []
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue  # gone since the listing
        fields = data[data.rfind(b")") + 2 :].split()  # after the command name, which may hold spaces
        if len(fields) > 1:
            parents[int(name)] = int(fields[1])
    if not parents:
        import psutil

        for proc in psutil.process_iter(["ppid"]):
            parents[proc.pid] = proc.info["ppid"]
    return parents


def pool_parts(pool, table: ProcessTable | None = None) -> tuple[list, list]:  # noqa: ANN001 - a psutil.Process
    """``(fork servers, pool processes)`` of a Parsl worker pool, live ones only.

    The pool processes are its multiprocessing server (started first, before any worker) and its workers:
    the pool's own spawn children, or the children of its fork server (see
    :mod:`~parsl_quantum.executors.pool_boot`), in the order they started. ``table``: the process table
    read once for several calls (read here otherwise).
    """
    import psutil

    table = table or ProcessTable()
    servers: list = []
    processes: list = []
    try:
        for proc in _spawned(table.children(pool.pid)):
            if _is_fork_server(proc):
                servers.append(proc)
                processes.extend(table.children(proc.pid))
            else:
                processes.append(proc)
        processes = _alive(processes)
        processes.sort(key=lambda p: p.create_time())
    except psutil.Error:
        return [], []
    return _alive(servers), processes


def pool_workers(pool, table: ProcessTable | None = None) -> list:  # noqa: ANN001 - a psutil.Process
    """The live worker processes of a Parsl worker pool, oldest first (not its multiprocessing server)."""
    return pool_parts(pool, table)[1][1:]


def worker_pids(pool, table: ProcessTable | None = None) -> set[int]:  # noqa: ANN001 - a psutil.Process
    """Pids of the live worker processes of a Parsl worker pool."""
    return {p.pid for p in pool_workers(pool, table)}


def live_workers(pool) -> int:  # noqa: ANN001 - a psutil.Process
    """Number of live worker processes of a Parsl worker pool."""
    return len(worker_pids(pool))


def pool_process_pids(pool, table: ProcessTable | None = None) -> set[int]:  # noqa: ANN001 - a psutil.Process
    """Pids of the pool's live helper processes: its fork server, multiprocessing server and workers."""
    servers, processes = pool_parts(pool, table)
    return {p.pid for p in servers + processes}


def is_standby(proc) -> bool:  # noqa: ANN001 - a psutil.Process
    """Whether a pool interpreter is a guard's standby not yet told to start (it has no pool process)."""
    with contextlib.suppress(Exception):
        return STANDBY_MARK in proc.cmdline() and not pool_parts(proc)[1]
    return False


def _as_module(command: list[str]) -> tuple[str, str, list[str]] | None:
    """``(python, module, args)`` of a ``python -m module args...`` command, else ``None``."""
    if len(command) >= 3 and command[1] == "-m":
        return command[0], command[2], command[3:]
    return None


def _heartbeat_period(command: list[str]) -> float:
    for arg in command:
        if arg.startswith("--hb_period="):
            with contextlib.suppress(ValueError):
                return float(arg.split("=", 1)[1])
    return 2.0


@dataclass
class Restarts:
    """In-place replacements of the pool: at most ``limit`` within ``window_s`` seconds."""

    limit: int
    window_s: float
    times: deque[float] = field(default_factory=deque)

    def allow(self, now: float) -> bool:
        """Whether one more replacement is allowed now (and count it if so)."""
        while self.times and now - self.times[0] > self.window_s:
            self.times.popleft()
        if len(self.times) >= self.limit:
            return False
        self.times.append(now)
        return True


class Guard:
    """One block's guard: runs generations of the worker pool command and watches each."""

    def __init__(
        self,
        command: list[str],
        grace_s: float,
        startup_s: float,
        restarts: Restarts,
        preload: tuple[str, ...] = (),
    ) -> None:
        self.command = command
        self.preload = preload
        self.grace_s = grace_s
        self.startup_s = startup_s
        self.restarts = restarts
        self.guard_id = f"pq{os.getpid():x}{secrets.token_hex(2)}"
        self.generation = 0
        self.watchdog_s = _heartbeat_period(command) + 0.5
        self.signalled = 0
        self.seen: dict[int, object] = {}
        self.dead: set[int] = set()
        self.standby: subprocess.Popen | None = None
        self.idle_polls = 0
        try:
            self.eager = standby_mode() == "eager"
        except ValueError as error:  # the executor refuses it where it starts; here, say so and go on
            self.eager = True
            self._say(f"{error}; preparing standbys eagerly")
        self.reports: dict[int, int] = {}  # pool pid -> read end of the pipe it reports its processes on

    def _say(self, text: str) -> None:
        print(f"parsl-quantum pool guard on {socket.gethostname()}: {text}", file=sys.stderr, flush=True)

    def _pool_command(self, generation: int, standby: bool = False) -> list[str]:
        """The command of one generation: Parsl's pool under :mod:`pool_boot` (its processes forked from a
        preloaded server), or Parsl's command as given when it is not ``python -m module ...``."""
        command = [*self.command, f"--uid={self.guard_id}.{generation}"]
        module = _as_module(command)
        if module is None:
            return command
        # a pool started now registers before its fork server imports the device's libraries (its workers
        # import them on their first task); a standby, prepared while the current pool runs, imports them
        preload = ",".join(self.preload) if standby else ""
        boot = [module[0], "-m", "parsl_quantum.executors.pool_boot", "--preload", preload]
        return [*boot, *([STANDBY_MARK] if standby else []), "--", *command]

    def _standby_affordable(self, uptime_s: float) -> bool:
        """Whether to prepare the next standby now: the first pool's at once (unless the mode is ``idle``);
        otherwise once the node has idle CPU or the pool has run for :data:`STANDBY_DELAY_S` (its imports,
        seconds of CPU, would otherwise be taken from the work catching up on a busy node)."""
        if self.standby is not None:
            return False
        if (self.generation == 0 and self.eager) or uptime_s >= STANDBY_DELAY_S:
            return True
        import psutil

        busy = psutil.cpu_percent(interval=None)  # since the previous call: one poll ago
        self.idle_polls = self.idle_polls + 1 if busy < IDLE_CPU_PERCENT else 0
        return self.idle_polls >= IDLE_POLLS

    def _prepare_standby(self) -> None:
        """Start the next generation's interpreter now, its fork server loaded, so that a replacement pays
        for neither its imports nor its processes' (seconds on a busy node)."""
        if self.standby is not None or _as_module(self.command) is None:
            return
        self.standby = self._popen(self._pool_command(self.generation + 1, standby=True), standby=True)

    def _popen(self, command: list[str], standby: bool = False) -> subprocess.Popen:
        """Start a pool interpreter with a pipe to report the processes it starts on."""
        read, write = os.pipe()
        os.set_blocking(read, False)
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE if standby else None,
                text=True,
                pass_fds=(write,),
                env={**os.environ, REPORT_FD: str(write)},
            )
        except BaseException:
            os.close(read)
            raise
        finally:
            os.close(write)
        self.reports[proc.pid] = read
        return proc

    def _reported(self, pool: subprocess.Popen) -> set[int]:
        """Pids the pool reported since the last call: every process it started, even one that died
        before a poll could see it."""
        fd = self.reports.get(pool.pid)
        data = b""
        while fd is not None:
            try:
                chunk = os.read(fd, 65536)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            data += chunk
        return {int(line) for line in data.split() if line.isdigit()}

    def _close_report(self, pool: subprocess.Popen) -> None:
        fd = self.reports.pop(pool.pid, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _start_pool(self) -> subprocess.Popen:
        standby, self.standby = self.standby, None
        if standby is not None:
            try:
                if standby.poll() is None:
                    standby.stdin.write("go\n")  # type: ignore[union-attr]
                    standby.stdin.close()  # type: ignore[union-attr]
                    return standby
            except OSError:
                standby.kill()
            standby.wait()
            self._close_report(standby)
        return self._popen(self._pool_command(self.generation))

    def _drop_standby(self) -> None:
        if self.standby is not None:
            with contextlib.suppress(OSError):
                self.standby.kill()
            self.standby.wait()
            self._close_report(self.standby)
            self.standby = None

    def _end_pool(self, pool: subprocess.Popen) -> None:
        import psutil

        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pool.pid).children(recursive=True):
                self.seen.setdefault(child.pid, child)
        with contextlib.suppress(OSError):
            pool.kill()
        pool.wait()
        self._close_report(pool)
        self._kill_seen()

    def _kill_seen(self) -> None:
        import psutil

        for proc in self.seen.values():
            with contextlib.suppress(psutil.Error):
                proc.kill()  # type: ignore[attr-defined]
        self.seen.clear()

    def _await_watchdog(self, watched, dead: set[int]) -> None:  # noqa: ANN001
        """Give the pool's watchdog time to report the dead worker's task and start a replacement."""
        deadline = time.monotonic() + self.watchdog_s
        before = worker_pids(watched)
        while time.monotonic() < deadline and not self.signalled:
            now = worker_pids(watched)
            if now - before - dead:  # a new worker: the watchdog ran, and reported the dead one's task
                break
            time.sleep(0.05)
        time.sleep(FERRY_S)

    def watch(self, pool: subprocess.Popen) -> tuple[str, int]:
        """Watch one generation; returns ``(what happened, status)``: ``"replace"``, ``"end"``. For a
        replacement after processes died, :attr:`dead` holds their pids."""
        import psutil

        self.dead = set()
        watched = psutil.Process(pool.pid)
        started = time.monotonic()
        last_alive: float | None = None
        known: set[int] = set()
        while True:
            code = pool.poll()
            if self.signalled:
                pool.terminate()
                try:
                    pool.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pool.kill()
                return "end", 128 + self.signalled
            if code is not None:
                if code < 0:
                    self._say(f"worker pool {self.guard_id}.{self.generation} was killed by signal {-code}")
                    return "replace", 128 - code
                if code:
                    self._say(f"worker pool ended with status {code}")
                return "end", code
            now = time.monotonic()
            known |= self._reported(pool)  # before the poll: a process reported is one the poll sees
            table = ProcessTable()  # one pass over the process table per poll
            for pid in table.descendants(watched.pid):
                earlier = self.seen.get(pid)
                if earlier is None or not earlier.is_running():  # type: ignore[attr-defined]
                    with contextlib.suppress(psutil.Error):  # (is_running: not a pid since reused)
                        self.seen[pid] = psutil.Process(pid)
            servers, parts = pool_parts(watched, table)
            processes = {p.pid for p in servers + parts}
            dead = known - processes
            if dead and not self.signalled:
                self._say(f"pool process {', '.join(map(str, sorted(dead)))} died; replacing the pool")
                self.dead = dead
                return "replace", 0
            known |= processes
            if parts[1:]:  # a live worker (the first pool process is its multiprocessing server)
                last_alive = now
                if self._standby_affordable(now - started):
                    self._prepare_standby()
            elif last_alive is not None and now - last_alive > self.grace_s:
                self._say(f"the worker pool has had no live worker for {self.grace_s:.0f} s")
                return "replace", 0
            elif last_alive is None and now - started > self.startup_s:
                self._say(f"no worker started within {self.startup_s:.0f} s; ending the block")
                return "end", GIVE_UP_STATUS
            time.sleep(POLL_S)

    def run(self) -> int:
        """Run pools until one ends for good; returns the block's exit status."""

        def on_signal(signum: int, _frame: object) -> None:
            self.signalled = signum

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            return self._run()
        finally:
            self._drop_standby()

    def _run(self) -> int:
        pool = self._start_pool()
        while True:
            outcome, status = self.watch(pool)
            if outcome == "end" or self.signalled:
                self._end_pool(pool)
                return 128 + self.signalled if self.signalled else status
            if not self.restarts.allow(time.monotonic()):
                self._end_pool(pool)
                self._say(
                    f"the worker pool was replaced {self.restarts.limit} "
                    f"time{'s' if self.restarts.limit != 1 else ''} within "
                    f"{self.restarts.window_s:g} s; ending the block"
                )
                return GIVE_UP_STATUS
            # the new pool boots while the old one's watchdog reports the dead worker's task
            self.generation += 1
            replacement = self._start_pool()
            if self.dead and pool.poll() is None:
                with contextlib.suppress(Exception):
                    import psutil

                    self._await_watchdog(psutil.Process(pool.pid), self.dead)
            self._end_pool(pool)
            pool = replacement


def guard(
    command: list[str],
    grace_s: float,
    startup_s: float = 300.0,
    max_restarts: int = 10,
    window_s: float = 60.0,
    preload: tuple[str, ...] = (),
) -> int:
    """Run ``command`` (a worker pool) under a guard; returns the exit status for the block.

    Parameters
    ----------
    command
        Parsl's worker pool command line.
    grace_s
        How long a pool whose workers had started may go without a live worker before it is replaced.
    startup_s
        How long the first worker may take to start (imports on a loaded node can take a while).
    max_restarts, window_s
        In-place replacements allowed within the window before the block ends.
    preload
        Modules for the pool's fork server to import (see :mod:`~parsl_quantum.executors.pool_boot`).
    """
    return Guard(command, grace_s, startup_s, Restarts(max_restarts, window_s), preload).run()


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--grace S [--startup S] [--max-restarts N] [--window S] [--preload M,..] -- CMD``."""
    parser = argparse.ArgumentParser(prog="parsl_quantum.executors.pool_guard", description=__doc__)
    parser.add_argument("--grace", type=float, default=15.0, help="seconds without a live worker allowed")
    parser.add_argument("--startup", type=float, default=300.0, help="seconds allowed for the first worker")
    parser.add_argument("--max-restarts", type=int, default=10, help="pool replacements allowed in --window")
    parser.add_argument("--window", type=float, default=60.0, help="seconds over which replacements count")
    parser.add_argument("--preload", default="", help="comma-separated modules for the pool's fork server")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the worker pool command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no worker pool command given")
    preload = tuple(m for m in args.preload.split(",") if m)
    return guard(command, args.grace, args.startup, args.max_restarts, args.window, preload)


if __name__ == "__main__":
    sys.exit(main())
