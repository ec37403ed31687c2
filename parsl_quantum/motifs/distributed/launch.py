"""The command that starts a task's MPI ranks: Parsl's ``PARSL_MPI_PREFIX``, in Open MPI's words when needed.

Parsl composes ``PARSL_MPI_PREFIX`` for ``mpiexec`` with MPICH/Hydra options (``-ppn``, ``-hosts``) that
Open MPI's ``mpiexec`` rejects; when the worker's ``mpiexec`` is Open MPI's, :func:`launch_prefix` writes
the same request in Open MPI's options.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

from parsl_quantum.motifs.distributed.errors import MPILaunchError


def is_open_mpi(launcher: str) -> bool:
    """Whether the ``launcher`` command on ``PATH`` (``mpiexec``) is Open MPI's."""
    try:
        out = subprocess.run([launcher, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    text = out.stdout + out.stderr
    return "Open MPI" in text or "OpenRTE" in text


def open_mpi_prefix(environ: Mapping[str, str]) -> str:
    """The task's MPI request (Parsl's ``PARSL_*`` variables) as Open MPI ``mpiexec`` options.

    ``--host`` gives each node exactly ``ranks_per_node`` slots, so the ranks may outnumber the cores
    without Open MPI refusing to oversubscribe.
    """
    ranks = int(environ["PARSL_NUM_RANKS"])
    per_node = int(float(environ["PARSL_RANKS_PER_NODE"]))  # Parsl may write it as "2.0"
    hosts = ",".join(f"{host}:{per_node}" for host in environ["PARSL_MPI_NODELIST"].split(","))
    options = environ.get("PARSL_LAUNCHER_OPTIONS", "")
    return f"mpiexec -n {ranks} --map-by ppr:{per_node}:node --host {hosts} {options}".strip()


def launch_prefix(environ: Mapping[str, str]) -> str:
    """The command prefix that starts this task's ranks: Parsl's ``PARSL_MPI_PREFIX``, translated to
    Open MPI's options when ``mpiexec`` is Open MPI's.

    Raises
    ------
    MPILaunchError
        Outside a Parsl MPIExecutor task (no ``PARSL_MPI_PREFIX``).
    """
    prefix = environ.get("PARSL_MPI_PREFIX")
    if not prefix:
        raise MPILaunchError(
            "PARSL_MPI_PREFIX is not set: a distributed app must run on a Parsl MPIExecutor (see "
            "mpi_executor()) with a resource specification that names num_nodes"
        )
    if prefix.split()[0] == "mpiexec" and is_open_mpi("mpiexec"):
        return open_mpi_prefix(environ)
    return prefix
