"""Secure by default: encrypted interchanges for every pilot, run files readable by their owner only."""

from __future__ import annotations

import logging
import os
import stat

from parsl.providers import LocalProvider, SlurmProvider

from parsl_quantum.executors import QuantumPilotExecutor
from parsl_quantum.executors.running_pilot import Pilot
from parsl_quantum.providers import PilotDescription, QPUSessionProvider
from tests.executor_helpers import cpu, qpu, wait_active, where


def pilot_for(provider, **executor_options):
    description = PilotDescription(
        name="p", kind="cpu", backend="aer", provider=provider, executor_options=executor_options
    )
    return Pilot(description, "quantum", None, lambda: 0)


def test_every_provider_gets_an_encrypted_interchange():
    for provider in (LocalProvider(), SlurmProvider(), QPUSessionProvider()):
        assert pilot_for(provider).htex.encrypted is True


def test_turning_encryption_off_for_remote_workers_is_never_silent(caplog):
    with caplog.at_level(logging.WARNING):
        pilot_for(SlurmProvider(), encrypted=False)
    assert any("encryption off" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        pilot_for(LocalProvider(), encrypted=False)  # workers on this host, loopback only
    assert not any("encryption off" in r.getMessage() for r in caplog.records)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_run_files_are_private_and_interchanges_encrypted(load_dfk):
    qex = QuantumPilotExecutor(label="quantum", pilots=[cpu(workers=1), qpu()])
    load_dfk(qex)
    wait_active(qex, "cpu", "qpu", timeout=120)
    assert where().result(timeout=60)
    for pilot in qex._state.pilots.values():
        assert pilot.htex.encrypted and pilot.htex.cert_dir and os.path.isdir(pilot.htex.cert_dir)
        assert mode(pilot.htex.cert_dir) & 0o077 == 0
    assert mode(qex.run_dir) == 0o700
    assert mode(os.path.join(qex.run_dir, "quantum")) == 0o700
    assert mode(qex.metrics_path) & 0o077 == 0
    assert mode(os.path.join(qex.run_dir, "submit_scripts")) & 0o077 == 0
