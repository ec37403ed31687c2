"""MPI-coupled simulation as a motif: ``distributed`` runs one state vector across the ranks of an MPI
task (:mod:`.motif`), each rank started by the MPI launcher as :mod:`.rank`."""

from parsl_quantum.configs import mpi_executor, mpi_worker_init
from parsl_quantum.motifs.distributed.errors import (
    DistributedGPUUnavailableError,
    DistributedTaskError,
    MPILaunchError,
    rank_error,
)
from parsl_quantum.motifs.distributed.hamiltonian import hamiltonian_energy, term_indices
from parsl_quantum.motifs.distributed.launch import is_open_mpi, launch_prefix, open_mpi_prefix
from parsl_quantum.motifs.distributed.motif import DistributedApp, distributed
from parsl_quantum.motifs.distributed.task import MPITask, run_mpi_task

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
