"""Ready-made Parsl configurations: the embedded default a laptop or login node can run as is.

``local_config()`` gives a ``Config`` with

- ``"quantum"``: a :class:`QuantumPilotExecutor` with a CPU simulator pilot (``aer``) and, unless turned
  off, an offline noisy QPU emulator pilot (``fake_torino``);
- ``"classical"``: a ``HighThroughputExecutor`` for classical stages (transpilation, post-processing).

Point pilots at a cluster by passing your own :class:`PilotDescription` list (with ``SlurmProvider`` and
friends) and a real QPU with ``backend="ibm_<device>"``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.providers import LocalProvider

from parsl_quantum.executors import QuantumPilotExecutor
from parsl_quantum.executors.pilot import htex_launch_options
from parsl_quantum.providers import PilotDescription


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
