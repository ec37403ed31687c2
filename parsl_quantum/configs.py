"""Ready-made Parsl configurations: the embedded default a laptop or login node can run as is.

``local_config()`` gives a ``Config`` with

- ``"quantum"``: a :class:`QuantumPilotExecutor` with a CPU simulator pilot (``aer``) and, unless turned
  off, an offline noisy QPU emulator pilot (``fake_torino``);
- ``"classical"``: a ``HighThroughputExecutor`` for classical stages (transpilation, post-processing).

Point pilots at a cluster by passing your own :class:`PilotDescription` list (with ``SlurmProvider`` and
friends) and a real QPU with ``backend="ibm_<device>"``.

``mpi_executor()`` gives a Parsl ``MPIExecutor`` for :func:`~parsl_quantum.motifs.distributed` apps that
runs on a workstation as well as in a Slurm or PBS allocation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.providers import LocalProvider

from parsl_quantum.executors import QuantumPilotExecutor
from parsl_quantum.executors.pilot_htex import htex_launch_options
from parsl_quantum.providers import PilotDescription

if TYPE_CHECKING:
    from parsl.executors import MPIExecutor
    from parsl.providers.base import ExecutionProvider


def local_pilots(
    cpu_workers: int = 2, qpu: str | None = "fake_torino", qpu_workers: int = 1
) -> list[PilotDescription]:
    """A CPU simulator pilot and, unless ``qpu`` is ``None``, a noisy QPU emulator pilot on this host.

    The simulator's workers share the host's cores: each Aer gets its share of threads (Aer's own
    multithreading was measured 10 times slower than one thread on 16-qubit circuits here, and two
    workers each using every core only contend).
    """
    threads = max(1, (os.cpu_count() or 1) // cpu_workers)
    options = {"max_parallel_threads": threads}
    pilots = [PilotDescription(name="cpu", kind="cpu", backend="aer", workers=cpu_workers, options=options)]
    if qpu:
        pilots.append(PilotDescription(name="qpu", kind="qpu", backend=qpu, workers=qpu_workers))
    return pilots


def classical_executor(label: str = "classical", workers: int = 1) -> HighThroughputExecutor:
    """A local HighThroughputExecutor for classical stages."""
    return HighThroughputExecutor(
        label=label,
        max_workers_per_node=workers,
        address="127.0.0.1",
        provider=LocalProvider(init_blocks=1, min_blocks=1, max_blocks=1),
        **htex_launch_options(),
    )


def local_config(
    pilots: Sequence[PilotDescription] | None = None,
    policy: str = "earliest_finish",
    classical_workers: int = 1,
    run_dir: str = "runinfo",
    **executor_options: Any,
) -> Config:
    """A Parsl ``Config`` with a quantum pilot executor (``"quantum"``) and a classical one.

    Parameters
    ----------
    pilots
        Pilot descriptions; default :func:`local_pilots`.
    policy
        Placement policy of the quantum executor.
    classical_workers
        Workers of the classical executor (0 for none).
    run_dir
        Parsl run directory.
    **executor_options
        Further arguments of :class:`QuantumPilotExecutor`.
    """
    executors: list[Any] = [
        QuantumPilotExecutor(
            label="quantum", pilots=list(pilots or local_pilots()), policy=policy, **executor_options
        )
    ]
    if classical_workers:
        executors.append(classical_executor(workers=classical_workers))
    return Config(executors=executors, run_dir=run_dir)


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
