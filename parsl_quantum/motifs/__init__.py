"""Workflow layer: execution motifs as decorated app patterns.

=====================  ========  ==================================================================
motif                  coupling  what it returns
=====================  ========  ==================================================================
``quantum_app``        none      ``AppFuture`` of one task's value
``ensemble``           loose     ``fn.map(items)``: ``AppFuture`` of results in input order
``pipeline``           medium    ``pipe(x)``: ``AppFuture`` of the last stage's value
``variational``        tight     ``fn.minimize(x0)``: ``AppFuture`` of ``x, fun, nit, history``
``qml_training``       tight     ``fn.fit(...)``: ``AppFuture`` of trained parameters and losses
``circuit_cutting``    medium    ``AppFuture`` of reconstructed expectation values (or distribution)
``distributed``        tight     ``AppFuture`` of an MPI task's (rank 0) value
=====================  ========  ==================================================================

Every decorator takes the same requirement keywords (``qubits``, ``kinds``, ``pilot``, ``shots``,
``priority``, ``min_fidelity``, ``walltime``), held as one :class:`TaskRequirements`. Control loops
(``variational``, ``qml_training``) hold no Parsl thread while they wait for their tasks (see
:mod:`parsl_quantum.motifs.waiting`). ``mpi_executor`` lives in :mod:`parsl_quantum.configs` and is
named here too.
"""

from parsl_quantum.configs import mpi_executor
from parsl_quantum.motifs.circuit_cutting import CircuitCuttingApp, circuit_cutting
from parsl_quantum.motifs.distributed import DistributedApp, distributed
from parsl_quantum.motifs.distributed.errors import (
    DistributedGPUUnavailableError,
    DistributedTaskError,
    MPILaunchError,
)
from parsl_quantum.motifs.distributed.hamiltonian import hamiltonian_energy
from parsl_quantum.motifs.ensemble import EnsembleApp, EnsembleError, ensemble
from parsl_quantum.motifs.pipeline import Pipeline, pipeline
from parsl_quantum.motifs.qml.errors import QMLTrainingError, QMLTrainingInputError
from parsl_quantum.motifs.qml.result import TrainingResult
from parsl_quantum.motifs.qml.training import QMLTrainingApp, qml_training
from parsl_quantum.motifs.quantum_app import QuantumApp, quantum_app
from parsl_quantum.motifs.task_requirements import TaskRequirements
from parsl_quantum.motifs.time_breakdown import TimeBreakdown
from parsl_quantum.motifs.variational import VariationalApp, VariationalResult, variational

__all__ = [
    "CircuitCuttingApp",
    "DistributedApp",
    "DistributedGPUUnavailableError",
    "DistributedTaskError",
    "EnsembleApp",
    "EnsembleError",
    "MPILaunchError",
    "Pipeline",
    "QMLTrainingApp",
    "QMLTrainingError",
    "QMLTrainingInputError",
    "QuantumApp",
    "TaskRequirements",
    "TimeBreakdown",
    "TrainingResult",
    "VariationalApp",
    "VariationalResult",
    "circuit_cutting",
    "distributed",
    "ensemble",
    "hamiltonian_energy",
    "mpi_executor",
    "pipeline",
    "qml_training",
    "quantum_app",
    "variational",
]
