"""Start one generation of Parsl's worker pool with its processes forked from a preloaded fork server.

``python -m parsl_quantum.executors.pool_boot [--standby] [--preload M1,M2] -- PYTHON -m POOL_MODULE ARGS``

Parsl's pool starts its multiprocessing server and each worker with the ``spawn`` method: a fresh
interpreter that imports Parsl, and on its first task the simulator libraries, one or more seconds per
process on a busy node, paid again for every worker restarted. Here the pool's processes come from a
``forkserver`` context instead, whose server has already imported the pool module and the modules named by
``--preload``: a worker or a whole pool then starts in milliseconds, with its imports paid and shared.

The fork server imports modules but initialises nothing (no simulator, no GPU context), so forking from it
is as safe as ``spawn``. With ``--standby`` the interpreter prepares all this and then waits for a line
``go`` on its standard input before it runs the pool; the pool guard keeps one such standby ready for the
next generation of the pool.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing.context
import os
import runpy
import sys

STANDBY_MARK = "--standby"
"""Word on the command line of a standby pool interpreter (it is not a pool until it is told ``go``)."""

SIMULATOR_MODULES: dict[str, tuple[str, ...]] = {
    "aer": ("qiskit_aer", "parsl_quantum.devices.aer"),
    "lightning.qubit": ("parsl_quantum.devices.lightning",),
    "lightning.kokkos": ("parsl_quantum.devices.lightning",),
}
"""Modules a device of each CPU simulator backend imports when it is built. GPU backends have none: the
fork server must not load a GPU runtime that its forked children would share."""

QPU_MODULES = (
    "qiskit_aer",
    "qiskit_ibm_runtime.fake_provider",
    "parsl_quantum.devices.qpu",
    "parsl_quantum.devices.emulator",
    "parsl_quantum.devices.ibm_runtime",
)
"""Modules a QPU or QPU-emulator device imports when it is built."""


def preload_modules(backend: str, kind: str) -> tuple[str, ...]:
    """Modules worth importing in a pilot's fork server: the task runner, and its device's libraries.

    Parameters
    ----------
    backend
        The pilot's backend name (``"aer"``, ``"lightning.qubit"``, ``"fake_torino"``, ...).
    kind
        The pilot's kind (``"cpu"``, ``"gpu"``, ``"qpu"``).
    """
    modules: tuple[str, ...] = ("parsl_quantum.executors.worker", "parsl_quantum.devices.registry")
    if kind == "qpu":
        return modules + QPU_MODULES
    if kind == "cpu":
        return modules + SIMULATOR_MODULES.get(backend, ())
    return modules


REPORT_FD = "PARSL_QUANTUM_POOL_REPORT_FD"
"""Environment variable: a pipe on which the pool reports the pid of every process it starts (its
multiprocessing server and each worker), so that its guard knows of a worker that died before it was seen."""


def _report(pid: int | None) -> None:
    fd = os.environ.get(REPORT_FD)
    if fd and pid:
        with contextlib.suppress(OSError, ValueError):
            os.write(int(fd), f"{pid}\n".encode())


class ReportedProcess(multiprocessing.context.ForkServerProcess):
    """A process forked from the fork server whose pid is reported to the pool's guard once started."""

    def start(self) -> None:
        """Start the process and report its pid."""
        super().start()
        _report(self.pid)


class PoolContext(multiprocessing.context.ForkServerContext):
    """The ``forkserver`` context, with processes that report their pid to the pool's guard."""

    Process = ReportedProcess


def use_fork_server(module: str, preload: list[str]) -> None:
    """Make Parsl's pool take its processes from a fork server that has imported ``module`` and ``preload``.

    Parsl's pool module reads ``parsl.multiprocessing.SpawnContext`` when it runs; pointing that name at a
    ``forkserver`` context moves its queues, its multiprocessing server and its workers there. The server
    is started now, so that its imports are paid before the pool needs them.
    """
    from multiprocessing import forkserver

    import parsl.multiprocessing

    context = PoolContext()
    context.set_forkserver_preload([module, "parsl_quantum.executors.pool_boot", *preload])
    parsl.multiprocessing.SpawnContext = context  # type: ignore[assignment]
    forkserver.ensure_running()


def boot(module: str, args: list[str], preload: list[str], standby: bool) -> int:
    """Run Parsl's pool ``module`` with ``args``, its processes forked from a preloaded server.

    Returns the exit status: 0, or 1 when a standby is dismissed without a ``go``.
    """
    use_fork_server(module, preload)
    if standby and sys.stdin.readline().strip() != "go":
        return 1
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``[--standby] [--preload M1,M2] -- PYTHON -m POOL_MODULE ARGS...``."""
    parser = argparse.ArgumentParser(prog="parsl_quantum.executors.pool_boot", description=__doc__)
    parser.add_argument("--standby", action="store_true", help="prepare, then wait for 'go' on stdin")
    parser.add_argument("--preload", default="", help="comma-separated modules for the fork server")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="PYTHON -m POOL_MODULE ARGS, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if len(command) < 3 or command[1] != "-m":
        parser.error("expected the worker pool command as PYTHON -m MODULE ARGS...")
    preload = [m for m in args.preload.split(",") if m]
    return boot(command[2], command[3:], preload, args.standby)


if __name__ == "__main__":
    # run under the module's own name: the fork server unpickles ReportedProcess from there
    from parsl_quantum.executors.pool_boot import main as _main

    sys.exit(_main())
