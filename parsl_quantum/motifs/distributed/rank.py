"""The program every MPI rank of a :func:`~parsl_quantum.motifs.distributed.distributed` task runs.

:func:`main` with ``WORK_DIR`` as its argument (:data:`RANK_COMMAND`; ``python -m
parsl_quantum.motifs.distributed.rank WORK_DIR`` does the same by hand), started by the MPI launcher
(``mpiexec``, ``srun``...) once per rank. ``WORK_DIR`` must be visible to rank 0 (normally a shared file
system; with only one node, any local directory). The exchange with the Parsl worker that launched the
ranks is a set of files in it:

Every file is written readable by its owner only (``0600``), through a temporary file.

``payload.pkl``
    Written by the worker: a dill-pickled :class:`RankPayload`. Rank 0 reads it and broadcasts it, so the
    other ranks need not see the file.
``result.pkl``
    Written by rank 0: the dill-pickled return value of the function.
``error.<rank>.pkl``
    Written by a rank whose function raised: a dill-pickled :class:`RankFailure`. That rank then calls
    ``MPI_Abort``, which ends every rank (a rank waiting in a collective for the failed one would wait
    forever otherwise), and the launcher exits with a non-zero status.

``mpi4py`` is imported only here, inside :func:`main`: importing ``mpi4py.MPI`` initialises MPI, which the
Parsl worker process must not do.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dill

from parsl_quantum.motifs.private_files import write_private

PAYLOAD_FILE = "payload.pkl"
RESULT_FILE = "result.pkl"
ERROR_PREFIX = "error."
ERROR_SUFFIX = ".pkl"

RANK_COMMAND = "from parsl_quantum.motifs.distributed.rank import main; raise SystemExit(main())"
"""``python -c`` code of a rank (``-m`` would warn when the package has already imported this module)."""

MPI_STATE_BACKENDS = ("lightning.gpu", "lightning.kokkos")
"""Backends whose state vector PennyLane Lightning can distribute over MPI ranks (``mpi=True``)."""


class MPIStateUnsupportedError(RuntimeError):
    """A distributed state vector asked of a backend or build that cannot distribute it over MPI."""


@dataclass(frozen=True)
class RankPayload:
    """What every rank runs: ``function(*args, comm=..., device=..., **kwargs)`` on a device of ``backend``.

    Attributes
    ----------
    function
        The user's function.
    args, kwargs
        Its arguments (futures already resolved by Parsl).
    backend, options
        The device every rank builds (``get_device(backend, **options)``).
    distribute_state
        Whether the ranks hold one state vector together (``mpi=True`` on a Lightning device) instead of
        a full simulator each.
    name
        The app's name, for messages.
    """

    function: Callable[..., Any]
    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    backend: str = "lightning.qubit"
    options: dict[str, Any] = field(default_factory=dict)
    distribute_state: bool = False
    name: str = "distributed"


@dataclass(frozen=True)
class RankFailure:
    """What a failed rank reports.

    Attributes
    ----------
    rank, size
        The rank that raised and the number of ranks.
    type_name
        The exception's class, qualified by its module.
    message
        ``str`` of the exception.
    traceback
        The formatted traceback on the rank.
    exception
        The dill-pickled exception, or ``None`` when it does not pickle.
    """

    rank: int
    size: int
    type_name: str
    message: str
    traceback: str
    exception: bytes | None = None

    def load_exception(self) -> BaseException | None:
        """The original exception, when it pickled and unpickles here."""
        if self.exception is None:
            return None
        try:
            return dill.loads(self.exception)
        except Exception:
            return None


def error_path(work_dir: str, rank: int) -> str:
    """The file a failed ``rank`` writes its :class:`RankFailure` to."""
    return os.path.join(work_dir, f"{ERROR_PREFIX}{rank}{ERROR_SUFFIX}")


def read_failures(work_dir: str) -> list[RankFailure]:
    """The failures the ranks reported, lowest rank first (unreadable reports are skipped)."""
    failures = []
    for name in os.listdir(work_dir):
        if not (name.startswith(ERROR_PREFIX) and name.endswith(ERROR_SUFFIX)):
            continue
        try:
            with open(os.path.join(work_dir, name), "rb") as f:
                failures.append(dill.load(f))
        except Exception:  # a rank killed by another's MPI_Abort while writing: the other's report counts
            continue
    return sorted(failures, key=lambda failure: failure.rank)


def describe_failure(exc: BaseException, rank: int, size: int) -> RankFailure:
    """A :class:`RankFailure` for ``exc`` raised on ``rank``."""
    try:
        pickled: bytes | None = dill.dumps(exc)
        dill.loads(pickled)
    except Exception:
        pickled = None
    kind = type(exc)
    return RankFailure(
        rank=rank,
        size=size,
        type_name=kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}",
        message=str(exc),
        traceback="".join(traceback.format_exception(exc)),
        exception=pickled,
    )


MPI_BUILD_NEEDED = {
    "lightning.kokkos": (
        "pennylane-lightning-kokkos built from source with -DENABLE_MPI=ON against Kokkos 5.1 and an MPI "
        "library (the PyPI wheels are built without MPI, and Debian packages no Kokkos 5)"
    ),
    "lightning.gpu": (
        "pennylane-lightning-gpu with MPI support, an NVIDIA GPU per rank, CUDA 12 with cuQuantum's "
        "custatevec, and a CUDA-aware MPI library"
    ),
}
"""What a distributed state vector needs installed on the ranks, per backend."""


def mpi_state_support(backend: str) -> bool:
    """Whether the installed Lightning build of ``backend`` can distribute a state vector over MPI.

    The PyPI wheels of ``pennylane-lightning-kokkos`` are built without MPI; ``lightning.gpu`` with MPI
    needs a build against the machine's CUDA-aware MPI (see the PennyLane Lightning installation guide).
    """
    module = {
        "lightning.kokkos": "pennylane_lightning.lightning_kokkos._state_vector",
        "lightning.gpu": "pennylane_lightning.lightning_gpu._state_vector",
    }.get(backend)
    if module is None:
        return False
    try:
        import importlib

        return bool(getattr(importlib.import_module(module), "MPI_SUPPORT", False))
    except Exception:
        return False


def rank_device(payload: RankPayload) -> Any:
    """The device this rank runs on.

    Without ``distribute_state`` every rank builds its own full simulator (``get_device``). With it, the
    ranks share one state vector: a Lightning device created with ``mpi=True``, which every rank must
    drive with the same operations. That path needs a GPU (``lightning.gpu``) or an MPI build of Lightning
    (:data:`MPI_BUILD_NEEDED`), which neither PyPI's wheels nor Debian's packages provide; it has not run
    on the CPU-only machines this project is tested on.

    Raises
    ------
    GPUUnavailableError
        For ``lightning.gpu`` on a rank without a usable GPU.
    MPIStateUnsupportedError
        For ``distribute_state`` with a backend or build that cannot distribute its state.
    """
    from parsl_quantum.devices.registry import get_device

    if not payload.distribute_state:
        return get_device(payload.backend, **payload.options)

    from parsl_quantum.devices.lightning import gpu_unavailable_reason
    from parsl_quantum.errors import GPUUnavailableError

    if payload.backend not in MPI_STATE_BACKENDS:
        raise MPIStateUnsupportedError(
            f"distributed app '{payload.name}': backend '{payload.backend}' cannot distribute a state vector "
            f"over MPI; use one of {', '.join(MPI_STATE_BACKENDS)}, or distribute_state=False"
        )
    if payload.backend == "lightning.gpu" and (reason := gpu_unavailable_reason()) is not None:
        raise GPUUnavailableError(
            f"distributed app '{payload.name}': a state vector distributed with 'lightning.gpu' needs a "
            f"usable NVIDIA GPU on every rank: {reason}. Use distribute_state=False with backend "
            "'lightning.qubit' to split the work over CPU ranks instead."
        )
    if not mpi_state_support(payload.backend):
        raise MPIStateUnsupportedError(
            f"distributed app '{payload.name}': the installed '{payload.backend}' was built without MPI "
            f"support, so it cannot distribute a state vector over ranks. It needs "
            f"{MPI_BUILD_NEEDED[payload.backend]}. Use distribute_state=False to split the work instead."
        )
    return get_device(payload.backend, **{**payload.options, "mpi": True})


def _default_threads(comm: Any) -> None:
    """Share this node's cores among its ranks for OpenMP (unless ``OMP_NUM_THREADS`` is set).

    Must run before the simulator's libraries load: OpenMP reads the variable once.
    """
    if "OMP_NUM_THREADS" in os.environ:
        return
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    local_ranks = node.Get_size()
    node.Free()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    os.environ["OMP_NUM_THREADS"] = str(max(1, cores // local_ranks))


def run_rank(work_dir: str, comm: Any) -> None:
    """Load the payload (rank 0 reads, all receive), run the function, and write rank 0's value."""
    rank = comm.Get_rank()
    blob = None
    if rank == 0:
        with open(os.path.join(work_dir, PAYLOAD_FILE), "rb") as f:
            blob = f.read()
    payload: RankPayload = dill.loads(comm.bcast(blob, root=0))
    device = rank_device(payload)
    value = payload.function(*payload.args, comm=comm, device=device, **payload.kwargs)
    if rank == 0:
        write_private(os.path.join(work_dir, RESULT_FILE), dill.dumps(value))


def main(argv: list[str] | None = None) -> int:
    """Run one rank; on an exception, report it and abort every rank.

    Parameters
    ----------
    argv
        ``[WORK_DIR]`` (default: ``sys.argv[1:]``).
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m parsl_quantum.motifs.distributed.rank WORK_DIR", file=sys.stderr)
        return 2
    work_dir = args[0]
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    try:
        _default_threads(comm)
        run_rank(work_dir, comm)
    except BaseException as exc:  # report everything, SystemExit included: the other ranks must not hang
        write_private(error_path(work_dir, rank), dill.dumps(describe_failure(exc, rank, size)))
        print(f"rank {rank} of {size}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        comm.Abort(1)
    return 0


if __name__ == "__main__":
    # Run the canonical module's main, so that RankFailure pickles by reference, not as ``__main__``'s.
    from parsl_quantum.motifs.distributed.rank import main as rank_main

    sys.exit(rank_main())
