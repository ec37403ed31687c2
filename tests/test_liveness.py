"""Liveness from evidence, with real processes: a slow call is never "stuck", a dead pilot is never waited
on, a wedged pool is caught by its cause."""

from __future__ import annotations

import time

import pytest

from parsl_quantum.executors import QuantumPilotExecutor, TaskWalltimeError, UnschedulableTaskError
from tests.executor_helpers import (
    cpu,
    crunch,
    nap,
    pool_processes,
    pool_workers,
    spec,
    square,
    sweep_step,
    wait_active,
)

LONG_S = 75.0


def start(load_dfk, *pilots, **kw):
    qex = QuantumPilotExecutor(label="quantum", pilots=list(pilots), **kw)
    load_dfk(qex)
    wait_active(qex, *(p.name for p in pilots), timeout=120)
    return qex


def test_slow_calls_after_quick_ones_of_the_same_app_are_never_judged_stuck(load_dfk):
    """Two uneven days side by side, one pilot each: a 75-s sleep after 0.2-s calls of the same app, and a
    CPU-bound minute after millisecond calls of the same app. Each long call runs alone on its pilot for
    over 30 s; it completes once and no pilot or pool restarts."""
    qex = start(load_dfk, cpu("sleepy", workers=2), cpu("busy", workers=2), policy="least_loaded")
    quick = [sweep_step(0.2, **spec(pilot="sleepy")) for _ in range(20)]
    quick_cpu = [crunch(0.002, **spec(pilot="busy")) for _ in range(20)]
    assert [f.result(timeout=120) for f in quick] == [0.2] * 20
    assert all(f.result(timeout=120) for f in quick_cpu)
    began = time.time()
    long_sleep = sweep_step(LONG_S, **spec(pilot="sleepy"))
    long_cpu = crunch(60.0, **spec(pilot="busy"))
    more = [sweep_step(0.2, **spec(pilot="sleepy")) for _ in range(10)]
    assert [f.result(timeout=120) for f in more] == [0.2] * 10
    assert long_sleep.result(timeout=LONG_S + 120) == LONG_S
    assert long_cpu.result(timeout=600) is True
    assert time.time() - began >= LONG_S
    records = {r.parsl_task_id: r for r in qex.metrics()}
    for future in (long_sleep, long_cpu):
        record = records[future.tid]
        assert record.attempts == 1 and record.outcome == "success"
    # the long sleep ran alone for over 30 s after the short calls were done
    last_short = max(records[f.tid].end for f in more)
    assert records[long_sleep.tid].end - last_short > 30
    for name, status in qex.pilots.items():
        assert status.state == "active", status
        assert status.restarts == 0 and status.pool_restarts == 0 and status.faults == {}, (name, status)


def test_a_call_past_its_walltime_fails_and_the_pilot_is_not_blamed(load_dfk):
    qex = start(load_dfk, cpu("a", workers=1))
    began = time.time()
    with pytest.raises(TaskWalltimeError, match="walltime of 1 s"):
        nap(30, **spec(walltime=1)).result(timeout=60)
    assert time.time() - began < 25
    assert square(5).result(timeout=60) == 25
    assert nap(0.1, **spec(walltime=10)).result(timeout=60)[0] == "aer"  # within its walltime: runs
    status = qex.pilots["a"]
    assert status.state == "active" and status.restarts == 0 and status.pool_restarts == 0
    assert status.faults == {}


@pytest.mark.timing
def test_a_worker_killed_while_idle_holds_up_the_next_tasks_for_seconds_only(load_dfk):
    """Parsl's idle worker waits for work holding its pool's task-queue lock: killed there, it leaves the
    pool wedged. The guard sees the worker die and replaces the pool in its block."""
    qex = start(load_dfk, cpu("a", workers=2))
    assert [square(x).result(timeout=60) for x in range(4)] == [0, 1, 4, 9]  # devices built, then idle
    time.sleep(1.0)
    pool = pool_processes(qex, "a")[-1]
    lock_holder(pool_workers(pool)).kill()  # the worst case: the other worker waits on that lock forever
    began = time.time()
    futures = [square(x) for x in range(20)]
    assert [f.result(timeout=60) for f in futures] == [x * x for x in range(20)]
    took = time.time() - began
    assert took < 5.0, f"20 tasks after an idle worker was killed took {took:.1f} s"
    status = qex.pilots["a"]
    assert status.pool_restarts == 1 and status.restarts == 0 and status.faults == {}


def lock_holder(workers):
    """The idle worker that holds its pool's task-queue lock: it polls the queue's pipe, while the others
    wait on the lock (a futex)."""
    deadline = time.time() + 10
    while time.time() < deadline:
        polling = [w for w in workers if "poll" in open(f"/proc/{w.pid}/wchan").read()]
        if len(polling) == 1:
            return polling[0]
        time.sleep(0.05)
    raise AssertionError("no idle worker of the pool holds its task-queue lock")


@pytest.mark.timing
def test_a_pilot_whose_device_cannot_be_built_is_not_waited_for(load_dfk):
    qex = QuantumPilotExecutor(
        label="quantum", pilots=[cpu("only", workers=1, options={"methd": "statevector"})]
    )
    load_dfk(qex)
    began = time.time()
    with pytest.raises(UnschedulableTaskError, match="methd") as info:
        square(3).result(timeout=120)
    took = time.time() - began
    assert took < 60, f"the task failed after {took:.0f} s"
    assert "only (failed" in str(info.value)
    status = qex.pilots["only"]
    assert status.state == "failed" and status.restarts == 0 and "methd" in status.reason
    # a task submitted later fails at once too: a failed pilot is not waited for
    began = time.time()
    with pytest.raises(UnschedulableTaskError, match="methd"):
        square(4).result(timeout=30)
    assert time.time() - began < 2
