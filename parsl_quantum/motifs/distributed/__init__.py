"""MPI-coupled simulation as a motif: ``distributed`` runs one state vector across the ranks of an MPI
task (:mod:`.motif`), each rank started by the MPI launcher as :mod:`.rank`."""

from parsl_quantum.motifs.distributed.motif import (
    DistributedApp,
    DistributedGPUUnavailableError,
    DistributedTaskError,
    MPILaunchError,
    MPITask,
    distributed,
    hamiltonian_energy,
    is_open_mpi,
    launch_prefix,
    mpi_executor,
    mpi_worker_init,
    open_mpi_prefix,
    rank_error,
    run_mpi_task,
    term_indices,
)

__all__ = [
    "DistributedApp",
    "DistributedGPUUnavailableError",
    "DistributedTaskError",
    "MPILaunchError",
    "MPITask",
    "distributed",
    "hamiltonian_energy",
    "is_open_mpi",
    "launch_prefix",
    "mpi_executor",
    "mpi_worker_init",
    "open_mpi_prefix",
    "rank_error",
    "run_mpi_task",
    "term_indices",
]
