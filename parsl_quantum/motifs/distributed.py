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
  needs GPUs or an MPI build of Lightning and has not been run on a machine that has them.

How a call runs:

1. On the submitting host, the call submits one Parsl python app, :func:`run_mpi_task`, to the
   MPIExecutor, with the resource specification ``{"num_nodes", "num_ranks", "ranks_per_node"}``.
2. The MPIExecutor's worker (on the lead node of its block) reserves nodes for the task, sets
   ``PARSL_MPI_PREFIX`` (e.g. ``mpiexec -n 2 ...``) and runs :func:`run_mpi_task`: it writes the payload
   (function, arguments, backend) to a work directory under the Parsl run directory and runs
   ``$PARSL_MPI_PREFIX python -c <rank program> WORK_DIR``.
3. Every rank runs :mod:`parsl_quantum.motifs.mpi_rank`: rank 0 reads the payload and broadcasts it,
   each rank builds its device and calls ``function(*args, comm=MPI.COMM_WORLD, device=device,
   **kwargs)``; rank 0 writes its value. A rank that raises writes a report and aborts every rank.
4. :func:`run_mpi_task` returns rank 0's value, which becomes the AppFuture's value, or raises
   :class:`DistributedTaskError` naming the rank that failed and its exception.

This is a python app rather than a bash app (Parsl runs MPI apps as either): the worker both launches the
ranks and reads their answer, so the future carries the value itself instead of an exit code, a rank's
exception reaches the caller with its message instead of ``BashExitFailure``, and no second task or file
system shared with the submitting host is needed to fetch the value.

Parsl composes ``PARSL_MPI_PREFIX`` for ``mpiexec`` with MPICH/Hydra options (``-ppn``, ``-hosts``) that
Open MPI's ``mpiexec`` rejects; when the worker's ``mpiexec`` is Open MPI's, :func:`launch_prefix` writes
the same request in Open MPI's options. :func:`mpi_executor` builds an MPIExecutor that works on a
workstation as well as in a Slurm or PBS allocation.
"""

from __future__ import annotations

import functools
import math
import os
import shlex
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dill
from parsl import python_app
from parsl.dataflow.futures import AppFuture

from parsl_quantum.motifs.mpi_rank import (
    MPI_STATE_BACKENDS,
    PAYLOAD_FILE,
    RANK_COMMAND,
    RESULT_FILE,
    RankFailure,
    RankPayload,
    read_failures,
    write_atomically,
)
from parsl_quantum.providers.errors import GPUUnavailableError

if TYPE_CHECKING:
    from parsl.executors import MPIExecutor
    from parsl.providers.base import ExecutionProvider
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

STDERR_TAIL_CHARS = 2000
"""How much of the launcher's stderr a launch failure quotes."""


# -- errors ----------------------------------------------------------------------------------------
class DistributedTaskError(RuntimeError):
    """An MPI task of a :func:`distributed` app failed.

    Attributes
    ----------
    rank, size
        The rank whose exception is reported (the lowest that reported one) and the number of ranks;
        ``None`` when no rank reported one (see :class:`MPILaunchError`).
    failed_ranks
        Every rank that reported an exception.
    exception
        That rank's exception, when it could be shipped back.
    remote_traceback
        Its traceback on the rank, as text.
    """

    def __init__(
        self,
        message: str,
        *,
        rank: int | None = None,
        size: int | None = None,
        failed_ranks: Sequence[int] = (),
        exception: BaseException | None = None,
        remote_traceback: str = "",
    ) -> None:
        super().__init__(message)
        self.rank = rank
        self.size = size
        self.failed_ranks = list(failed_ranks)
        self.exception = exception
        self.remote_traceback = remote_traceback


class DistributedGPUUnavailableError(DistributedTaskError, GPUUnavailableError):
    """A rank of a :func:`distributed` app found no usable GPU (catch it as either base class)."""


class MPILaunchError(DistributedTaskError):
    """The MPI job failed, or timed out, without a rank reporting an exception (launcher missing, a rank
    killed by a signal, bad launcher options...). The message quotes the launcher's stderr."""


def rank_error(name: str, failures: Sequence[RankFailure]) -> DistributedTaskError:
    """The error to raise for the ranks' reports (the lowest failed rank's exception first)."""
    first = failures[0]
    ranks = [f.rank for f in failures]
    message = (
        f"distributed app '{name}' failed on rank {first.rank} of {first.size}: "
        f"{first.type_name}: {first.message}"
    )
    if len(ranks) > 1:
        message += f" (ranks {', '.join(map(str, ranks))} failed)"
    message += f"\n--- traceback on rank {first.rank} ---\n{first.traceback.rstrip()}"
    exception = first.load_exception()
    kind = (
        DistributedGPUUnavailableError if isinstance(exception, GPUUnavailableError) else DistributedTaskError
    )
    return kind(
        message,
        rank=first.rank,
        size=first.size,
        failed_ranks=ranks,
        exception=exception,
        remote_traceback=first.traceback,
    )


# -- the common case: a Hamiltonian's terms split over the ranks ------------------------------------
def term_indices(num_terms: int, rank: int, size: int) -> range:
    """The terms that ``rank`` of ``size`` ranks computes: every ``size``-th term from ``rank``.

    Round robin rather than contiguous blocks: Hamiltonians are often built type by type (all ``XX``
    terms, then ``YY``...), and dealing the terms out keeps the ranks' shares alike. The ranks' sets are
    disjoint and together cover ``range(num_terms)``.
    """
    return range(rank, num_terms, size)


def hamiltonian_energy(
    circuit: QuantumCircuit,
    hamiltonian: SparsePauliOp,
    comm: Any,
    device: Any,
    *,
    split: bool = True,
) -> float:
    """The exact energy ``<psi|H|psi>`` of the state ``circuit`` prepares, the terms split over the ranks.

    Every rank of ``comm`` must call it with the same arguments. Each computes the exact expectation value
    of its terms (:func:`term_indices`) with ``device.estimate(..., shots=None)`` and the ranks sum them
    with ``allreduce``; every rank returns the total.

    Parameters
    ----------
    circuit
        The state preparation (final measurements are ignored).
    hamiltonian
        The Hamiltonian, a ``SparsePauliOp`` (its coefficients should be real).
    comm
        An mpi4py communicator (the ``comm`` a :func:`distributed` function receives), or anything with
        ``Get_rank``, ``Get_size`` and ``allreduce``.
    device
        This rank's device (the ``device`` a :func:`distributed` function receives).
    split
        ``False`` computes every term on every rank, without communication: use it with
        ``distribute_state=True``, where the ranks simulate each term together.

    Returns
    -------
    float
        The energy, the same on every rank.
    """
    from qiskit.quantum_info import SparsePauliOp

    if not isinstance(hamiltonian, SparsePauliOp):
        raise TypeError(f"hamiltonian_energy needs a SparsePauliOp, got {type(hamiltonian).__name__}")
    if not split:
        return float(device.estimate(circuit, hamiltonian))
    indices = list(term_indices(len(hamiltonian), comm.Get_rank(), comm.Get_size()))
    local = float(device.estimate(circuit, hamiltonian[indices])) if indices else 0.0
    return float(comm.allreduce(local))


# -- the worker side -------------------------------------------------------------------------------
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
        The device of every rank (see :class:`~parsl_quantum.motifs.mpi_rank.RankPayload`).
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
    work_dir = os.path.join(task.work_root, f"{task.name}-{uuid.uuid4().hex[:12]}")
    os.makedirs(work_dir)
    payload = RankPayload(
        function=task.function,
        args=tuple(args),
        kwargs=dict(kwargs),
        backend=task.backend,
        options=dict(task.options),
        distribute_state=task.distribute_state,
        name=task.name,
    )
    write_atomically(os.path.join(work_dir, PAYLOAD_FILE), dill.dumps(payload))
    command = (
        f"{launch_prefix(os.environ)} {shlex.quote(sys.executable)} -c {shlex.quote(RANK_COMMAND)} "
        f"{shlex.quote(work_dir)}"
    )
    out_path, err_path = os.path.join(work_dir, "mpiexec.out"), os.path.join(work_dir, "mpiexec.err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
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


# -- the app ---------------------------------------------------------------------------------------
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
        from parsl_quantum.providers.registry import backend_kind

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
        Options of that device (see :func:`~parsl_quantum.providers.get_device`).
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


# -- the executor ----------------------------------------------------------------------------------
LOCAL_NODEFILE = """\
if [ -z "${{SLURM_NODELIST:-}}" ] && [ -z "${{PBS_NODEFILE:-}}" ]; then
  # Not in a Slurm or PBS allocation: describe this host to Parsl's MPI scheduler as {tasks} node(s).
  PBS_NODEFILE="$0.nodes"
  {{ : > "$PBS_NODEFILE"; }} 2>/dev/null || PBS_NODEFILE="$(mktemp)"
  export PBS_NODEFILE
  for _ in $(seq {tasks}); do echo localhost; done > "$PBS_NODEFILE"
fi"""


def mpi_worker_init(tasks: int = 1, run_as_root: bool | None = None, oversubscribe: bool = True) -> str:
    """Shell lines that prepare a block of an MPIExecutor for Open MPI and for a host outside a batch job.

    Parameters
    ----------
    tasks
        MPI tasks the host runs at once, when it is not in a Slurm or PBS allocation.
    run_as_root
        Let Open MPI run as root (``OMPI_ALLOW_RUN_AS_ROOT``); default: when this process runs as root.
    oversubscribe
        Let Open MPI 4 start more ranks than cores (``OMPI_MCA_rmaps_base_oversubscribe``).
    """
    if run_as_root is None:
        run_as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    lines = []
    if run_as_root:
        lines.append("export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
    if oversubscribe:
        lines.append("export OMPI_MCA_rmaps_base_oversubscribe=1")
    lines.append(LOCAL_NODEFILE.format(tasks=tasks))
    return "\n".join(lines)


def mpi_executor(
    label: str = "mpi",
    *,
    tasks: int = 1,
    provider: ExecutionProvider | None = None,
    mpi_launcher: str = "mpiexec",
    run_as_root: bool | None = None,
    oversubscribe: bool = True,
    **options: Any,
) -> MPIExecutor:
    """A Parsl ``MPIExecutor`` for :func:`distributed` apps (and any Parsl MPI app).

    Without a ``provider`` it runs one block on this host (``LocalProvider`` with ``SimpleLauncher``).
    Its workers start with this interpreter, so the virtual environment need not be activated. Outside
    a Slurm or PBS allocation, Parsl's MPI scheduler finds no node list; the block then describes this
    host as ``tasks`` nodes (a mock ``PBS_NODEFILE`` next to its submit script, as Parsl's own tests do),
    so ``tasks`` single-node MPI tasks run at once. Open MPI is allowed to run as root when this process
    does, and to start more ranks than cores.

    Parameters
    ----------
    label
        The executor's label (what ``executors=[...]`` names).
    tasks
        MPI tasks run at once per block (``max_workers_per_block``).
    provider
        A provider with a ``SimpleLauncher`` (e.g. ``SlurmProvider(launcher=SimpleLauncher(), ...)``);
        the lines of :func:`mpi_worker_init` are prepended to its ``worker_init``.
    mpi_launcher
        ``"mpiexec"``, ``"srun"`` or ``"aprun"``.
    run_as_root, oversubscribe
        See :func:`mpi_worker_init`.
    **options
        Further ``MPIExecutor`` arguments (``heartbeat_period``, ``worker_debug``...).
    """
    from parsl.executors import MPIExecutor
    from parsl.launchers import SimpleLauncher
    from parsl.providers import LocalProvider

    from parsl_quantum.executors.pilot import htex_launch_options

    init = mpi_worker_init(tasks, run_as_root, oversubscribe)
    if provider is None:
        provider = LocalProvider(
            launcher=SimpleLauncher(), init_blocks=1, min_blocks=1, max_blocks=1, worker_init=init
        )
        options.setdefault("address", "127.0.0.1")
    else:
        provider.worker_init = "\n".join(part for part in (init, provider.worker_init) if part)
    launch = htex_launch_options()
    executor = MPIExecutor(
        label=label,
        provider=provider,
        mpi_launcher=mpi_launcher,
        max_workers_per_block=tasks,
        launch_cmd=launch["launch_cmd"],
        **options,
    )
    # MPIExecutor annotates interchange_launch_cmd as a str, but HTEX runs it as an argument list.
    executor.interchange_launch_cmd = launch["interchange_launch_cmd"]
    return executor
