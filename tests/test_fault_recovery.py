"""The fault model with real processes: killed workers and pools, backend errors, poison tasks, devices
that cannot be built, pilots that go away and come back, walltimes, results that cannot be read."""

from __future__ import annotations

import time

import psutil
import pytest
from parsl import bash_app, join_app, python_app

from parsl_quantum.executors import (
    PilotError,
    QuantumPilotExecutor,
    TaskFailoverExhaustedError,
    UnschedulableTaskError,
)
from parsl_quantum.executors.pool_guard import pool_parts
from tests.executor_helpers import (
    cpu,
    fail_once,
    nap,
    plain_kwargs,
    poison,
    pool_processes,
    pool_workers,
    qpu,
    qpu_job_error,
    spec,
    square,
    unloadable,
    wait_active,
    wait_state,
    where,
)


def start(load_dfk, *pilots, **kw):
    qex = QuantumPilotExecutor(label="quantum", pilots=list(pilots), **kw)
    load_dfk(qex)
    wait_active(qex, *(p.name for p in pilots), timeout=120)
    return qex


def test_a_killed_worker_costs_its_task_one_attempt_not_the_pilot(load_dfk):
    qex = start(load_dfk, cpu("a", workers=2, prefetch=0), policy="least_loaded")
    futures = [nap(0.6) for _ in range(8)]
    time.sleep(1.0)
    pool = pool_processes(qex, "a")[-1]
    victim = pool_workers(pool)[0]
    victim.kill()
    assert [f.result(timeout=120)[0] for f in futures] == ["aer"] * 8
    # the dead worker's task: one task fault (Parsl's WorkerLost); its pool, which a dead worker may have
    # left unable to run anything, is replaced in its block (the retry may finish first, on the pool's
    # other worker): the pilot is neither blamed nor restarted
    deadline = time.time() + 60
    while qex.pilots["a"].pool_restarts < 1 and time.time() < deadline:
        time.sleep(0.1)
    status = wait_state(qex, "a", "active")
    assert status.faults == {"task fault": 1} and status.restarts == 0 and status.reason is None
    # both were recorded; which came last depends on whether Parsl's WorkerLost arrived before the guard
    # had the replacement registered
    assert status.pool_restarts == 1
    assert "replaced in its block" in status.last_fault or "WorkerLost" in status.last_fault
    assert all(r.outcome == "success" for r in qex.metrics())


def test_a_killed_worker_pool_is_replaced_in_its_block_and_nothing_is_lost(load_dfk):
    qex = start(load_dfk, cpu("a", workers=1, prefetch=0))
    futures = [nap(0.5) for _ in range(10)]
    time.sleep(1.0)
    pool = pool_processes(qex, "a")[-1]
    helpers = pool.children(recursive=True)
    pool.kill()
    assert [f.result(timeout=180)[0] for f in futures] == ["aer"] * 10
    status = wait_state(qex, "a", "active")
    assert status.pool_restarts == 1 and status.restarts == 0 and "replaced in its block" in status.last_fault
    time.sleep(1.0)
    assert not [h for h in helpers if h.is_running() and h.status() != psutil.STATUS_ZOMBIE]


def test_a_pool_that_heartbeats_with_no_live_worker_is_replaced(load_dfk):
    """Killing a pool's multiprocessing server leaves a manager that still heartbeats but whose workers
    die on their next task and are not restarted; the guard replaces the pool in its block."""
    qex = start(load_dfk, cpu("a", workers=1, prefetch=0), cpu("b", workers=1, prefetch=0))
    pool = pool_processes(qex, "a")[-1]
    server = pool_parts(pool)[1][0]  # the pool's multiprocessing server: its first process
    server.kill()
    futures = [square(x, **spec(pilot="a")) for x in range(4)]
    assert [f.result(timeout=240) for f in futures] == [0, 1, 4, 9]
    status = qex.pilots["a"]
    assert status.pool_restarts >= 1 and status.restarts == 0


def test_a_transient_backend_error_costs_one_retry_not_the_pilot(load_dfk, tmp_path):
    qex = start(load_dfk, qpu("q"), max_attempts=3)
    futures = [fail_once(x, str(tmp_path), **spec(kinds=["qpu"])) for x in range(2)]
    assert sorted(f.result(timeout=120) for f in futures) == [("fake_torino", 0), ("fake_torino", 1)]
    status = qex.pilots["q"]
    assert status.state == "active" and status.restarts == 0
    assert "backend error" in status.last_fault
    assert sorted(r.attempts for r in qex.metrics()) == [2, 2]


def test_consecutive_backend_errors_degrade_the_pilot_for_a_backoff(load_dfk):
    qex = start(load_dfk, qpu("q"), cpu("c", workers=1), policy="round_robin", max_attempts=3)
    failing = qpu_job_error(**spec(pilot="q"))
    with pytest.raises(TaskFailoverExhaustedError) as info:
        failing.result(timeout=120)
    message = str(info.value)
    assert "3 failed attempts" in message and "pilot 'q'" in message and "calibration in progress" in message
    assert qex.pilots["q"].state == "degraded"
    assert where(**spec(kinds=["cpu"])).result(timeout=60)[0] == "aer"  # work goes on elsewhere
    wait_state(qex, "q", "active", timeout=60)  # the backoff passed: the pilot takes work again
    assert qex.pilots["q"].restarts == 0


def test_a_poison_task_fails_alone_and_takes_no_pilot_down(load_dfk):
    qex = start(load_dfk, cpu("a", workers=1), cpu("b", workers=1), policy="round_robin")
    doomed = poison()
    others = [square(x) for x in range(10)]
    with pytest.raises(TaskFailoverExhaustedError) as info:
        doomed.result(timeout=180)
    message = str(info.value)
    assert "poison" in message and "task fault" in message and "WorkerLost" in message
    assert [f.result(timeout=120) for f in others] == [x * x for x in range(10)]

    # each death is a task fault, never the pilot's: the pool of the dead worker is replaced in its block
    # (a worker that dies may leave one of its pool's queue locks held), and no pilot restarts. A retry that
    # reached the same pool before its replacement registered dies there too: both deaths share it.
    def replaced_where_died(pilots):
        return all(
            (s.pool_restarts >= 1) == (s.faults.get("task fault", 0) >= 1)
            and s.pool_restarts <= s.faults.get("task fault", 0)
            for s in pilots.values()
        )

    deadline = time.time() + 60
    while not replaced_where_died(qex.pilots) and time.time() < deadline:
        time.sleep(0.1)
    status = {name: wait_state(qex, name, "active") for name in ("a", "b")}
    assert sum(s.faults.get("task fault", 0) for s in status.values()) == 3, status
    assert replaced_where_died(status), status
    assert all(s.restarts == 0 and "pilot fault" not in s.faults for s in status.values())
    assert square(7).result(timeout=60) == 49


def test_a_device_that_cannot_be_built_surfaces_its_reason_and_work_goes_elsewhere(load_dfk):
    qex = QuantumPilotExecutor(
        label="quantum",
        pilots=[cpu("good", workers=1), cpu("typo", workers=1, options={"methd": "statevector"})],
        max_pilot_restarts=1,
    )
    load_dfk(qex)
    deadline = time.time() + 120
    while "methd" not in (qex.pilots["typo"].reason or "") and time.time() < deadline:
        time.sleep(0.2)
    assert "methd" in qex.pilots["typo"].reason
    assert [square(x).result(timeout=120) for x in range(3)] == [0, 1, 4]
    status = wait_state(qex, "typo", "failed", timeout=180)
    # an option the device rejects fails the same way on every restart: the pilot fails at once
    assert status.restarts == 0 and status.workers == 0 and "methd" in status.reason
    with pytest.raises(PilotError, match="methd"):
        qex.wait_for_pilots(["typo"], timeout=5)
    qex.wait_for_pilots(timeout=60)  # the good one is up: no error


def test_remove_then_add_loses_nothing(load_dfk):
    qex = start(load_dfk, cpu("a", workers=1, prefetch=0))
    futures = [square(x) for x in range(10)]
    time.sleep(0.5)
    qex.remove_pilot("a", drain=False)
    time.sleep(2.0)
    qex.add_pilot(cpu("b", workers=1))
    assert [f.result(timeout=180) for f in futures] == [x * x for x in range(10)]
    assert qex.pilots["a"].state == "stopped"


def test_waiting_work_fails_after_the_wait_timeout_naming_every_pilot(load_dfk):
    qex = start(load_dfk, cpu("a", workers=1), pilot_wait_timeout=2.0)
    qex.remove_pilot("a")
    future = square(3)
    with pytest.raises(UnschedulableTaskError) as info:
        future.result(timeout=60)
    assert "no live pilot could serve it for 2 s" in str(info.value) and "a: stopped (removed)" in str(
        info.value
    )


def test_a_result_that_cannot_be_read_fails_its_task_instead_of_hanging(load_dfk):
    start(load_dfk, cpu("a", workers=1))
    with pytest.raises(RuntimeError, match="cannot rebuild"):
        unloadable().result(timeout=60)
    assert square(4).result(timeout=60) == 16


def test_any_parsl_app_runs_unchanged(load_dfk, tmp_path):
    start(load_dfk, cpu("a", workers=1))

    @bash_app(executors=["quantum"])
    def echo(word, stdout=None, **kwargs):
        return f"echo {word}"

    @join_app
    def twice(x):
        return plain_kwargs(x, tag=1)

    out = tmp_path / "echo.out"
    assert echo("hello", stdout=str(out)).result(timeout=60) == 0
    assert out.read_text().strip() == "hello"
    assert plain_kwargs(2, tag=1).result(timeout=60) == (2, ["tag"])  # no device forced on **kwargs
    assert twice(5).result(timeout=60) == (5, ["tag"])
    assert python_app(lambda: 41 + 1, executors=["quantum"])().result(timeout=60) == 42
