"""Binding rules on one executor with a CPU simulator pilot and a QPU emulator pilot (real DFK, real
HTEX workers): requirements, pinning, late binding, priorities, errors, metrics."""

from __future__ import annotations

import os
import time

import parsl
import pytest
from parsl.executors.errors import InvalidResourceSpecification

from parsl_quantum.executors import QuantumPilotExecutor, UnschedulableTaskError, read_metrics
from tests.executor_helpers import broken, cpu, ghz_counts, nap, no_device, qpu, spec, wait_active, where


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    qex = QuantumPilotExecutor(
        label="quantum", pilots=[cpu(prefetch=2), qpu(prefetch=0)], policy="least_loaded", strategy_period=0.5
    )
    dfk = parsl.load(parsl.config.Config(executors=[qex], run_dir=str(tmp_path_factory.mktemp("mixed"))))
    wait_active(qex, "cpu", "qpu")
    yield qex
    dfk.cleanup()
    parsl.clear()


def test_config_prints_as_code(mixed):
    text = repr(mixed)
    assert text.startswith("QuantumPilotExecutor(")
    assert "PilotDescription(" in text and "'fake_torino'" in text and "policy='least_loaded'" in text


def test_results_are_correct_on_both_kinds(mixed):
    futures = [ghz_counts(3, 2000, **spec(qubits=3, pilot=p)) for p in ("cpu", "qpu")]
    (sim_name, sim), (qpu_name, noisy) = (f.result() for f in futures)
    assert sim_name == "aer" and qpu_name == "fake_torino"
    assert set(sim) == {"000", "111"} and abs(sim["000"] / 2000 - 0.5) < 5 * 0.5 / 2000**0.5
    assert 0.8 < (noisy.get("000", 0) + noisy.get("111", 0)) / 2000 < 1.0


def test_pinning_and_kinds(mixed):
    pinned = [where(**spec(pilot="qpu")) for _ in range(3)]
    cpu_only = [where(**spec(kinds=["cpu"])) for _ in range(6)]
    assert {f.result()[0] for f in pinned} == {"fake_torino"}
    assert {f.result()[0] for f in cpu_only} == {"aer"}


def test_min_fidelity_excludes_noisy_qpu(mixed):
    futures = [where(**spec(min_fidelity=0.999)) for _ in range(6)]
    assert {f.result()[0] for f in futures} == {"aer"}


@pytest.mark.timing
def test_too_wide_task_fails_at_once_naming_requirement_and_largest_pilot(mixed):
    start = time.time()
    future = where(**spec(qubits=200))
    with pytest.raises(UnschedulableTaskError) as info:
        future.result(timeout=10)
    assert time.time() - start < 5
    message = str(info.value)
    widest = max(mixed.pilots[n].qubits for n in ("cpu", "qpu"))
    assert "qubits=200" in message and f"with {widest} qubits" in message


def test_emulator_pilot_reports_what_its_workers_can_simulate(mixed):
    """A fake_* pilot emulates a 133-qubit device but its workers simulate far fewer qubits; a task that asks
    for more than they can fails at once, naming both numbers."""
    status = mixed.pilots["qpu"]
    assert status.qubits is not None and status.qubits < 133
    assert status.memory_bytes and status.hosts
    wide = status.qubits + 1
    future = where(**spec(qubits=wide, kinds=["qpu"]))
    with pytest.raises(UnschedulableTaskError) as info:
        future.result(timeout=10)
    assert f"needs {wide} qubits, pilot 'qpu' holds {status.qubits}" in str(info.value)


def test_pin_to_unknown_pilot_fails_at_once(mixed):
    with pytest.raises(UnschedulableTaskError, match="pinned to pilot 'gpu'"):
        where(**spec(pilot="gpu")).result(timeout=10)


def test_unknown_requirement_key_is_rejected(mixed):
    with pytest.raises(InvalidResourceSpecification) as info:
        where(**spec(qubits=2, memory="1GB")).result(timeout=10)
    assert "memory" in str(info.value) and "qubits" in str(info.value)


def test_bad_requirement_value_names_the_key(mixed):
    with pytest.raises(InvalidResourceSpecification, match="'kinds' must be a non-empty subset"):
        where(**spec(kinds=["fpga"])).result(timeout=10)


def test_late_binding_waits_for_a_free_slot(mixed):
    futures = [nap(0.4, **spec(pilot="qpu")) for _ in range(3)]
    [f.result() for f in futures]
    records = sorted(mixed.metrics()[-3:], key=lambda r: r.bind)
    assert all(r.pilot == "qpu" for r in records)
    for earlier, later in zip(records, records[1:], strict=False):
        # one worker, no prefetch: a task is bound only once the previous one has finished
        assert later.bind >= earlier.end - 0.05


def test_priority_order(mixed):
    blocker = nap(1.0, **spec(pilot="qpu"))
    time.sleep(0.3)  # the blocker is bound; the rest wait in the executor's queue
    order = [0, 5, 1, 5, 10]
    futures = [where(**spec(pilot="qpu", priority=p)) for p in order]
    blocker.result()
    [f.result() for f in futures]
    records = sorted(
        (r for r in mixed.metrics() if r.name == "where" and r.pilot == "qpu"), key=lambda r: r.task_id
    )[-5:]
    started = [r.priority for r in sorted(records, key=lambda r: r.start)]
    assert started == [10, 5, 5, 1, 0]
    fives = sorted((r for r in records if r.priority == 5), key=lambda r: r.start)
    assert fives[0].task_id < fives[1].task_id  # equal priority: first come, first served


def test_user_exception_reaches_future_unretried(mixed):
    failing = broken(7, **spec(kinds=["cpu"]))
    fine = [where(**spec(kinds=["cpu"])) for _ in range(3)]
    with pytest.raises(ZeroDivisionError, match="task input 7 divides by zero"):
        failing.result()
    assert all(f.result()[0] == "aer" for f in fine)
    record = next(r for r in reversed(mixed.metrics()) if r.name == "broken")
    assert record.attempts == 1 and record.outcome == "error" and "ZeroDivisionError" in record.error
    assert mixed.pilots["cpu"].state == "active"


def test_plain_function_gets_no_device(mixed):
    assert no_device(21, **spec(kinds=["cpu"])).result() == 42


def test_metrics_record_every_field_and_land_in_sqlite(mixed):
    ghz_counts(2, 100, **spec(qubits=2, pilot="cpu", shots=100)).result()
    record = mixed.metrics()[-1]
    assert record.pilot == "cpu" and record.backend == "aer" and record.kind == "cpu"
    assert record.submit <= record.bind <= record.start <= record.end <= record.done
    assert record.attempts == 1 and record.outcome == "success" and record.shots == 100
    time.sleep(1.2)  # the poller flushes records to SQLite every strategy period
    path = mixed.metrics_path
    assert path.endswith(os.path.join("quantum", "tasks.sqlite"))
    stored = {r.task_id: r for r in read_metrics(path)}
    assert stored[record.task_id].pilot == "cpu" and stored[record.task_id].outcome == "success"


def test_pilot_status_reports_slots_and_work(mixed):
    status = mixed.pilots
    assert status["cpu"].workers == 2 and status["cpu"].slots == 6
    assert status["qpu"].workers == 1 and status["qpu"].slots == 1
    from parsl_quantum.devices.emulator import emulated_qubits
    from parsl_quantum.devices.hardware import job_memory_bytes, max_statevector_qubits

    assert status["cpu"].qubits == max_statevector_qubits(job_memory_bytes())
    assert status["qpu"].qubits == min(133, emulated_qubits())
    assert status["cpu"].tasks_done > 0 and status["qpu"].tasks_done > 0
