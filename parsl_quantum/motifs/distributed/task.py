"""The worker side of a distributed app: one MPI job run as a subprocess, and rank 0's answer read back.

:func:`run_mpi_task` is the Parsl python app a :class:`~parsl_quantum.motifs.distributed.DistributedApp`
call submits to the MPIExecutor. On the worker it writes the payload (function, arguments, backend) to a
fresh work directory, starts ``$PARSL_MPI_PREFIX python -c <rank program> WORK_DIR`` in a process group
of its own, waits for it (stopping the group past the timeout), and returns rank 0's value or raises the
error the ranks reported. The work directory is readable by its owner only (``0700``, files ``0600``):
the payload is a pickle that the ranks will load and run.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dill

from parsl_quantum.motifs.distributed.errors import MPILaunchError, rank_error
from parsl_quantum.motifs.distributed.launch import launch_prefix
from parsl_quantum.motifs.distributed.rank import (
    PAYLOAD_FILE,
    RANK_COMMAND,
    RESULT_FILE,
    RankPayload,
    read_failures,
)
from parsl_quantum.motifs.private_files import (
    make_new_private_folder,
    make_private_folder,
    open_private,
    write_private,
)

STDERR_TAIL_CHARS = 2000
"""How much of the launcher's stderr a launch failure quotes."""


@dataclass(frozen=True)
class MPITask:
    """What one call of a :class:`DistributedApp` asks the worker to run (besides the arguments).

    Attributes
    ----------
    function
        The user's function.
    name
        The app's name, for messages and the work directory.
    backend, options, distribute_state
        The device of every rank (see :class:`~parsl_quantum.motifs.distributed.rank.RankPayload`).
    work_root
        Directory under which the call's work directory is made; must be visible to rank 0.
    timeout_s
        Seconds the MPI job may run (``None``: no limit).
    """

    function: Callable[..., Any]
    name: str
    backend: str
    options: dict[str, Any] = field(default_factory=dict)
    distribute_state: bool = False
    work_root: str = "."
    timeout_s: float | None = None


def _stop(proc: subprocess.Popen) -> None:
    """End the launcher's process group: the launcher passes the signal on to its ranks."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    return text[-STDERR_TAIL_CHARS:].strip()


def run_mpi_task(
    task: MPITask, *args: Any, parsl_resource_specification: dict | None = None, **kwargs: Any
) -> Any:
    """Run ``task.function`` on every rank of one MPI job and return rank 0's value (on the worker).

    Parameters
    ----------
    task
        The function and its device.
    *args, **kwargs
        The function's arguments.
    parsl_resource_specification
        The MPI request; Parsl's worker has already turned it into ``PARSL_MPI_PREFIX``.

    Raises
    ------
    DistributedTaskError
        When a rank raised (naming the rank and its exception).
    DistributedGPUUnavailableError
        When a rank found no usable GPU.
    MPILaunchError
        When the job failed or timed out without a rank reporting why.
    """
    make_private_folder(task.work_root)
    work_dir = make_new_private_folder(os.path.join(task.work_root, f"{task.name}-{uuid.uuid4().hex[:12]}"))
    payload = RankPayload(
        function=task.function,
        args=tuple(args),
        kwargs=dict(kwargs),
        backend=task.backend,
        options=dict(task.options),
        distribute_state=task.distribute_state,
        name=task.name,
    )
    write_private(os.path.join(work_dir, PAYLOAD_FILE), dill.dumps(payload))
    command = (
        f"{launch_prefix(os.environ)} {shlex.quote(sys.executable)} -c {shlex.quote(RANK_COMMAND)} "
        f"{shlex.quote(work_dir)}"
    )
    out_path, err_path = os.path.join(work_dir, "mpiexec.out"), os.path.join(work_dir, "mpiexec.err")
    with open_private(out_path, "w") as out, open_private(err_path, "w") as err:
        print(f"# {command}", file=err, flush=True)
        proc = subprocess.Popen(
            command, shell=True, executable="/bin/bash", stdout=out, stderr=err, start_new_session=True
        )
        try:
            returncode = proc.wait(timeout=task.timeout_s)
        except subprocess.TimeoutExpired:
            _stop(proc)
            raise MPILaunchError(
                f"distributed app '{task.name}': the MPI job did not finish within {task.timeout_s} s and "
                f"was stopped; its output is in {work_dir}"
            ) from None
    failures = read_failures(work_dir)
    if failures:
        raise rank_error(task.name, failures)
    result_path = os.path.join(work_dir, RESULT_FILE)
    if returncode != 0 or not os.path.exists(result_path):
        raise MPILaunchError(
            f"distributed app '{task.name}': the MPI job exited with status {returncode} and no rank "
            f"reported an exception. Command: {command}\nLast lines of its stderr ({err_path}):\n"
            f"{_tail(err_path)}"
        )
    with open(result_path, "rb") as f:
        value = dill.load(f)
    for name in (PAYLOAD_FILE, RESULT_FILE):
        os.remove(os.path.join(work_dir, name))
    return value
