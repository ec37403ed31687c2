"""QPU blocks hold real qiskit-ibm-runtime sessions, run in the runtime's local testing mode.

A ``QPUSessionProvider`` with a ``backend`` opens a runtime ``Session`` (or ``Batch``) when it acquires a
block, hands its id to the block's workers, and closes it on cancel, on expiry and at shutdown. The
workers' ``RuntimeSamplerRunner`` runs every job in that session and records the job's timestamps, from
which the provider learns the QPU's queue wait.

What local testing mode cannot show (it needs an IBM Quantum account and the network):

- a session created on the service: local sessions have no id (the provider names them ``local-<uuid>``),
  and ``Session.from_id`` / ``Batch.from_id``, which real workers call to attach, is not reached;
- the service's ``close_session`` call and the QPU refusing jobs after the session closed: a closed
  local session is only marked closed;
- a real queue wait: a local job's ``created`` and ``running`` timestamps are both taken when the job
  object is made, so the waits observed here are ~0 s. The arithmetic of waits is checked on job metrics
  in the service's own format instead.
"""

from __future__ import annotations

import os
import stat
import time

import pytest
from qiskit import QuantumCircuit, transpile

from parsl_quantum.devices.ibm_runtime import (
    SESSION_ENV,
    job_queue_wait_s,
    predict_qpu_time_s,
    qpu_backend,
)
from parsl_quantum.executors import QuantumPilotExecutor
from parsl_quantum.providers import PilotDescription, QPUSessionProvider
from parsl_quantum.providers.qpu_session import learned_queue_wait_s
from tests.executor_helpers import ghz_counts, spec, wait_active

SHOTS = 1000
DEVICE = "fake_manila"
"""A 5-qubit device: local testing mode simulates the whole device with its noise, which takes tens of
seconds per job for a 133-qubit one on a loaded machine, and ~1 s here."""
RUNTIME_LOCAL = {"emulation": "runtime_local", "seed_transpiler": 3}


def wait_until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture
def provider_factory(tmp_path):
    """QPU session providers whose block scripts go to ``tmp_path``; every block is cancelled afterwards."""
    made = []

    def make(**kwargs):
        provider = QPUSessionProvider(backend=DEVICE, **kwargs)
        provider.script_dir = str(tmp_path)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.cancel(list(provider.sessions))


def env_seen_by_block(provider, tmp_path) -> tuple[str, str]:
    """Start a block whose command writes the session it was given; its job id and that session."""
    out = tmp_path / f"seen-{len(provider.sessions)}"
    job_id = provider.submit(f'echo "${SESSION_ENV}" > {out}; sleep 60', 1)
    assert wait_until(lambda: out.exists() and out.read_text().strip())
    return job_id, out.read_text().strip()


@pytest.mark.parametrize("mode", ["session", "batch"])
def test_block_acquisition_opens_a_session_and_cancel_closes_it(provider_factory, tmp_path, mode):
    provider = provider_factory(mode=mode)
    job_id, seen = env_seen_by_block(provider, tmp_path)
    session = provider.sessions[job_id]
    assert session.runtime is not None and session.runtime.mode == mode
    assert not session.runtime.closed
    assert seen == f"{mode}:{session.session_id}"  # the block's command was given the session
    assert stat.S_IMODE(os.stat(session.job_log).st_mode) == 0o600
    assert provider.status([job_id])[0].state.name == "RUNNING"

    provider.cancel([job_id])
    assert session.released and session.runtime.closed
    assert provider.status([job_id])[0].state.name == "CANCELLED"


def test_expiry_closes_the_session(provider_factory, tmp_path):
    provider = provider_factory(mode="batch", session_s=1.0)
    job_id, _ = env_seen_by_block(provider, tmp_path)
    session = provider.sessions[job_id]
    time.sleep(max(0.0, session.remaining()) + 0.1)
    assert provider.status([job_id])[0].state.name == "TIMEOUT"
    assert session.expired and session.runtime.closed
    assert session.runtime.closed_at >= session.expires_at


def test_close_sessions_closes_every_open_session(provider_factory, tmp_path):
    provider = provider_factory()
    jobs = [env_seen_by_block(provider, tmp_path)[0] for _ in range(2)]
    ids = {provider.sessions[j].session_id for j in jobs}
    assert len(ids) == 2  # one session per block
    provider.close_sessions()
    assert all(provider.sessions[j].runtime.closed for j in jobs)


def test_pilot_workers_run_their_jobs_in_the_blocks_session(load_dfk):
    """A QPU pilot's block opens a session; the workers' jobs run in it; shutdown closes it."""
    provider = QPUSessionProvider(backend=DEVICE, mode="session", init_blocks=1, max_blocks=1)
    pilot = PilotDescription(
        name="qpu", kind="qpu", backend=DEVICE, workers=2, provider=provider, options=RUNTIME_LOCAL
    )
    qex = QuantumPilotExecutor(label="quantum", pilots=[pilot])
    dfk = load_dfk(qex)
    wait_active(qex, "qpu", timeout=120)
    assert len(provider.sessions) == 1  # opened when the block was acquired, before any task
    session = next(iter(provider.sessions.values()))
    assert not session.runtime.closed

    futures = [ghz_counts(3, shots=SHOTS, **spec(pilot="qpu")) for _ in range(4)]
    for future in futures:
        name, counts = future.result(timeout=120)
        assert name == DEVICE and sum(counts.values()) == SHOTS
        assert (counts.get("000", 0) + counts.get("111", 0)) / SHOTS > 0.8  # noisy GHZ

    records = provider.job_records()
    assert len(records) == len(futures)  # one runtime job per task, each recorded by its worker
    assert {r["session_id"] for r in records} == {session.session_id}
    assert all(r["created"] <= r["running"] <= r["finished"] for r in records)
    wait = provider.observed_queue_wait_s()
    assert wait is not None and 0.0 <= wait < 1.0  # local jobs do not queue

    dfk.cleanup()
    assert session.runtime.closed  # shutdown releases the block, which closes its session


def test_calibrating_a_runtime_qpu_pilot_spends_no_qpu_job(load_dfk):
    """Q-Dreamer's calibration models a QPU reached through the runtime from its target durations: the
    session sees no benchmark job."""
    from parsl_quantum.q_dreamer import QDreamer

    provider = QPUSessionProvider(backend=DEVICE, mode="session", init_blocks=1, max_blocks=1)
    pilot = PilotDescription(
        name="qpu", kind="qpu", backend=DEVICE, workers=1, provider=provider, options=RUNTIME_LOCAL
    )
    qex = QuantumPilotExecutor(label="quantum", pilots=[pilot])
    load_dfk(qex)
    wait_active(qex, "qpu", timeout=120)
    profile = QDreamer().calibrate(qex)
    model = profile.pilots["qpu"]
    assert provider.job_records() == []  # no job ran in the pilot's session
    assert model.simulator is None and model.qpu is not None
    from parsl_quantum.devices.qpu import qpu_timing

    timing = qpu_timing(qpu_backend(DEVICE))  # the device's calibration data
    assert (model.qpu.one_qubit_gate, model.qpu.two_qubit_gate, model.qpu.readout) == pytest.approx(
        (timing.one_qubit_gate, timing.two_qubit_gate, timing.readout)
    )
    assert model.task_overhead > 0


def test_queue_wait_from_job_metrics():
    """Waits from ``RuntimeJobV2.metrics()`` in the service's format (ISO 8601 UTC timestamps)."""
    metrics = {
        "timestamps": {
            "created": "2026-11-30T10:00:00.250Z",
            "running": "2026-11-30T10:03:12.750Z",
            "finished": "2026-11-30T10:03:20.000Z",
        },
        "usage": {"quantum_seconds": 4, "seconds": 4},
    }
    assert job_queue_wait_s(metrics) == pytest.approx(192.5, abs=1e-6)
    queued = {"timestamps": {"created": "2026-11-30T10:00:00Z", "running": None, "finished": None}}
    assert job_queue_wait_s(queued) is None
    assert job_queue_wait_s({}) is None


def test_learned_queue_wait_is_the_median_of_recent_waits():
    assert learned_queue_wait_s([]) is None
    assert learned_queue_wait_s([30.0]) == 30.0
    assert learned_queue_wait_s([1.0, 500.0, 3.0]) == 3.0  # one long wait does not dominate
    assert learned_queue_wait_s([100.0] * 5 + [2.0, 4.0], window=2) == 3.0  # recent waits only


def test_predicted_qpu_time_from_target_durations():
    """QPU time from the device's own gate, readout and repetition times; no job is submitted."""
    backend = qpu_backend("fake_torino")
    target = backend.target
    flip = QuantumCircuit(1, 1)
    flip.x(0)
    flip.measure(0, 0)
    isa = transpile(flip, backend, initial_layout=[0], optimization_level=0)
    per_shot = target["x"][(0,)].duration + target["measure"][(0,)].duration + backend.default_rep_delay
    assert predict_qpu_time_s(isa, backend, shots=SHOTS) == pytest.approx(SHOTS * per_shot, rel=1e-9)
    assert backend.default_rep_delay == 250e-6  # torino's; it dominates a shot this short

    # A list sums its circuits; an explicit repetition delay replaces the device's.
    assert predict_qpu_time_s([isa, isa], backend, shots=10) == pytest.approx(20 * per_shot, rel=1e-9)
    gate_and_readout = per_shot - backend.default_rep_delay
    assert predict_qpu_time_s(isa, backend, shots=10, rep_delay_s=0.0) == pytest.approx(
        10 * gate_and_readout, rel=1e-9
    )

    # A circuit that is not an ISA circuit is transpiled first; deeper circuits take longer.
    ghz = QuantumCircuit(5)
    ghz.h(0)
    for i in range(4):
        ghz.cx(i, i + 1)
    ghz.measure_all()
    t_ghz = predict_qpu_time_s(ghz, backend, shots=SHOTS, rep_delay_s=0.0, seed_transpiler=3)
    assert SHOTS * 4 * min(p.duration for p in target["cz"].values()) < t_ghz
    with pytest.raises(ValueError, match="shots"):
        predict_qpu_time_s(isa, backend, shots=0)
