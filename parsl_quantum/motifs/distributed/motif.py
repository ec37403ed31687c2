"""``distributed``: one tightly coupled MPI task, run through Parsl's ``MPIExecutor``.

Coupling: tight. The decorated function runs on every rank of one MPI job at once and the ranks talk
through MPI while it runs. Each rank does its classical and quantum work in its own process, on the nodes
the MPIExecutor hands the task; nothing runs on a quantum pilot. A call returns an ``AppFuture`` of rank 0's
return value.

The ranks can share the work in two ways:

- split the work (default): every rank builds a full simulator (``lightning.qubit``, ``aer``...) and
  computes its share; :func:`hamiltonian_energy` splits a Hamiltonian's Pauli terms over the ranks and
  sums the energy with ``allreduce``;
- split the state (``distribute_state=True``): the ranks hold one state vector together, on a PennyLane
  Lightning device created with ``mpi=True`` (``lightning.gpu``, or ``lightning.kokkos`` built with MPI),
  for registers larger than one node's memory. Every rank must then apply the same operations. This path
  needs GPUs or an MPI build of Lightning, which neither PyPI's wheels nor Debian's packages provide
  (:data:`~parsl_quantum.motifs.distributed.rank.MPI_BUILD_NEEDED` says what each backend needs); without one
  the call fails with ``MPIStateUnsupportedError`` or ``GPUUnavailableError`` naming what is missing. It
  has not run on the CPU-only machines this project is tested on.

How a call runs:

1. On the submitting host, the call submits one Parsl python app,
   :func:`~parsl_quantum.motifs.distributed.task.run_mpi_task`, to the
   MPIExecutor, with the resource specification ``{"num_nodes", "num_ranks", "ranks_per_node"}``.
2. The MPIExecutor's worker (on the lead node of its block) reserves nodes for the task, sets
   ``PARSL_MPI_PREFIX`` (e.g. ``mpiexec -n 2 ...``) and runs :func:`run_mpi_task`: it writes the payload
   (function, arguments, backend) to a work directory under the Parsl run directory and runs
   ``$PARSL_MPI_PREFIX python -c <rank program> WORK_DIR``.
3. Every rank runs :mod:`parsl_quantum.motifs.distributed.rank`: rank 0 reads the payload and broadcasts it,
   each rank builds its device and calls ``function(*args, comm=MPI.COMM_WORLD, device=device,
   **kwargs)``; rank 0 writes its value. A rank that raises writes a report and aborts every rank.
4. :func:`~parsl_quantum.motifs.distributed.task.run_mpi_task` returns rank 0's value, which becomes the
   AppFuture's value, or raises :class:`DistributedTaskError` naming the rank that failed and its
   exception.

This is a python app rather than a bash app (Parsl runs MPI apps as either): the worker both launches the
ranks and reads their answer, so the future carries the value itself instead of an exit code, a rank's
exception reaches the caller with its message instead of ``BashExitFailure``, and no second task or file
system shared with the submitting host is needed to fetch the value.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from parsl import python_app
from parsl.dataflow.futures import AppFuture

from parsl_quantum.motifs.distributed.rank import MPI_STATE_BACKENDS
from parsl_quantum.motifs.distributed.task import MPITask, run_mpi_task

__all__ = ["DistributedApp", "distributed"]


class DistributedApp:
    """A function run on every rank of an MPI job by Parsl's MPIExecutor (see :func:`distributed`).

    Parameters
    ----------
    func
        ``func(*args, comm, device, **kwargs)``.
    executors
        Labels of the MPIExecutors the app may run on.
    ranks
        MPI ranks of a call.
    ranks_per_node
        Ranks on each node (default: all on one node).
    backend, options
        The device each rank builds: ``get_device(backend, **options)``.
    distribute_state
        Share one state vector over the ranks (``mpi=True``; ``lightning.gpu`` or ``lightning.kokkos``).
    launcher_options
        Extra options of the MPI launcher (Parsl's ``launcher_options``), e.g. ``"--bind-to core"``.
    timeout_s
        Seconds one MPI job may run before it is stopped.
    work_dir
        Directory for the calls' work directories, visible to the workers and rank 0 (default:
        ``<Parsl run directory>/distributed``).
    """

    def __init__(
        self,
        func: Callable[..., Any],
        executors: Sequence[str],
        ranks: int = 2,
        ranks_per_node: int | None = None,
        backend: str = "lightning.qubit",
        options: dict[str, Any] | None = None,
        distribute_state: bool = False,
        launcher_options: str | None = None,
        timeout_s: float | None = None,
        work_dir: str | None = None,
    ) -> None:
        name = getattr(func, "__name__", "distributed")
        if not executors or isinstance(executors, str):
            raise TypeError(
                f"distributed app '{name}' must name its MPI executors as a list, e.g. executors=['mpi']: "
                "Parsl sends apps without executors to a random executor"
            )
        if isinstance(ranks, bool) or not isinstance(ranks, int) or ranks < 1:
            raise ValueError(f"distributed app '{name}': ranks must be a positive integer, got {ranks!r}")
        if ranks_per_node is not None and (
            isinstance(ranks_per_node, bool) or not isinstance(ranks_per_node, int) or ranks_per_node < 1
        ):
            raise ValueError(
                f"distributed app '{name}': ranks_per_node must be a positive integer, got {ranks_per_node!r}"
            )
        from parsl_quantum.devices.registry import backend_kind

        backend_kind(backend)  # UnknownBackendError, listing the known names
        if distribute_state and backend not in MPI_STATE_BACKENDS:
            raise ValueError(
                f"distributed app '{name}': distribute_state=True needs a backend that distributes its state "
                f"vector over MPI ({', '.join(MPI_STATE_BACKENDS)}), got '{backend}'"
            )
        functools.update_wrapper(self, func)
        self.func = func
        self.name = name
        self.executors = list(executors)
        self.ranks = ranks
        self.ranks_per_node = ranks_per_node or ranks
        self.backend = backend
        self.options = dict(options or {})
        self.distribute_state = distribute_state
        self.launcher_options = launcher_options
        self.timeout_s = timeout_s
        self.work_dir = work_dir
        self._app = python_app(run_mpi_task, executors=self.executors)

    def specification(self, override: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The Parsl resource specification of a call: the app's ranks, updated by ``override``.

        An override of ``num_ranks`` alone keeps the ranks on the app's number of nodes.
        """
        spec: dict[str, Any] = {
            "num_nodes": math.ceil(self.ranks / self.ranks_per_node),
            "num_ranks": self.ranks,
            "ranks_per_node": self.ranks_per_node,
        }
        if self.launcher_options:
            spec["launcher_options"] = self.launcher_options
        override = dict(override or {})
        if "num_ranks" in override and "ranks_per_node" not in override:
            nodes = int(override.get("num_nodes", spec["num_nodes"]))
            override["ranks_per_node"] = math.ceil(int(override["num_ranks"]) / nodes)
        spec.update(override)
        return spec

    def _work_root(self) -> str:
        if self.work_dir is not None:
            return os.path.abspath(self.work_dir)
        import parsl

        return os.path.join(os.path.abspath(parsl.dfk().run_dir), "distributed")

    def __call__(
        self, *args: Any, parsl_resource_specification: dict | None = None, **kwargs: Any
    ) -> AppFuture:
        """Submit one MPI task; an ``AppFuture`` of rank 0's return value.

        ``parsl_resource_specification`` overrides the app's ranks for this call (``num_ranks``,
        ``num_nodes``, ``ranks_per_node``, ``launcher_options``). Futures among the arguments are
        waited for, as with any Parsl app.
        """
        task = MPITask(
            function=self.func,
            name=self.name,
            backend=self.backend,
            options=self.options,
            distribute_state=self.distribute_state,
            work_root=self._work_root(),
            timeout_s=self.timeout_s,
        )
        spec = self.specification(parsl_resource_specification)
        return self._app(task, *args, parsl_resource_specification=spec, **kwargs)


def distributed(
    function: Callable[..., Any] | None = None,
    *,
    executors: Sequence[str],
    ranks: int = 2,
    ranks_per_node: int | None = None,
    backend: str = "lightning.qubit",
    options: dict[str, Any] | None = None,
    distribute_state: bool = False,
    launcher_options: str | None = None,
    timeout_s: float | None = None,
    work_dir: str | None = None,
) -> Any:
    """Make ``function`` a distributed app: one MPI task whose ranks all run the function.

    Coupling: tight. Every call is one MPI job of ``ranks`` ranks on an MPIExecutor; each rank runs
    ``function(*args, comm=MPI.COMM_WORLD, device=<its device>, **kwargs)``, doing its classical and
    quantum work in its own process, and the ranks communicate through ``comm``. The call returns an
    ``AppFuture`` of rank 0's return value; if any rank raises, the future fails with
    :class:`DistributedTaskError` naming that rank and its exception.

    Parameters
    ----------
    function
        The decorated function (omit when using the decorator with arguments).
    executors
        Labels of the MPIExecutors (see :func:`mpi_executor`).
    ranks
        MPI ranks of each call (a call's ``parsl_resource_specification={"num_ranks": n}`` overrides it).
    ranks_per_node
        Ranks on each node; default all ranks on one node.
    backend
        The device each rank builds: ``"lightning.qubit"``, ``"lightning.kokkos"``, ``"aer"``... or, with
        ``distribute_state``, ``"lightning.gpu"`` / ``"lightning.kokkos"``.
    options
        Options of that device (see :func:`~parsl_quantum.devices.get_device`).
    distribute_state
        ``True`` makes the ranks hold one state vector together (PennyLane Lightning with ``mpi=True``):
        every rank must then run the same circuits, e.g. ``hamiltonian_energy(..., split=False)``. Needs
        ``lightning.gpu`` with a GPU per rank (else :class:`DistributedGPUUnavailableError`) or an MPI
        build of Lightning; not tested on a CPU-only machine.
    launcher_options
        Extra options of the MPI launcher for every call.
    timeout_s
        Seconds one MPI job may run before it is stopped (:class:`MPILaunchError`).
    work_dir
        Where the calls exchange files with their ranks (default ``<Parsl run directory>/distributed``);
        it must be visible to the worker and to rank 0.

    Examples
    --------
    >>> @distributed(executors=["mpi"], ranks=2)
    ... def energy(circuit, hamiltonian, *, comm, device):
    ...     return hamiltonian_energy(circuit, hamiltonian, comm, device)
    >>> energy(circuit, hamiltonian).result()  # doctest: +SKIP
    """

    def decorate(func: Callable[..., Any]) -> DistributedApp:
        return DistributedApp(
            func,
            executors,
            ranks=ranks,
            ranks_per_node=ranks_per_node,
            backend=backend,
            options=options,
            distribute_state=distribute_state,
            launcher_options=launcher_options,
            timeout_s=timeout_s,
            work_dir=work_dir,
        )

    return decorate(function) if function is not None else decorate
