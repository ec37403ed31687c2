"""Parsl test-suite config: Parsl's ``parsl/tests/configs/htex_local.py`` with a QuantumPilotExecutor.

The only executor is a :class:`~parsl_quantum.executors.QuantumPilotExecutor` labelled ``htex_local`` (Parsl's
tests address it by that label) with one CPU pilot. It mirrors htex_local point by point:

- one block from a ``LocalProvider`` (``init_blocks=1, max_blocks=1``, ``SimpleLauncher``);
- ``cores_per_worker=1`` gives htex_local one worker per core; the pilot's ``workers`` is that number here;
- ``loopback_address="::1"``, ``worker_debug=True`` and ``encrypted=True`` reach the pilot's HTEX through
  ``executor_options`` (the pilot's HTEX is encrypted by default);
- no scaling: ``strategy="none"`` for the DataFlowKernel and for the executor's own pilot scaling.

Run with ``pytest --pyargs parsl.tests --config tests/parsl_suite/qpe_htex_local.py`` (see ``compare.py``).
"""

from __future__ import annotations

import os

from parsl.config import Config
from parsl.launchers import SimpleLauncher
from parsl.providers import LocalProvider

from parsl_quantum.executors import QuantumPilotExecutor
from parsl_quantum.providers.pilot_description import PilotDescription


def fresh_config() -> Config:
    """A new config for one test session; Parsl's conftest calls it once per run."""
    # What HTEX's worker pool starts with cores_per_worker=1: one worker per core of the node.
    workers = os.cpu_count() or 1
    return Config(
        executors=[
            QuantumPilotExecutor(
                label="htex_local",
                pilots=[
                    PilotDescription(
                        name="cpu",
                        kind="cpu",
                        backend="aer",
                        workers=workers,
                        provider=LocalProvider(init_blocks=1, max_blocks=1, launcher=SimpleLauncher()),
                        executor_options={"loopback_address": "::1", "worker_debug": True, "encrypted": True},
                    )
                ],
                strategy="none",
            )
        ],
        strategy="none",
    )
