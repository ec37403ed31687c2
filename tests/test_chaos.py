"""Chaos: a few hundred tasks with exactly known results over two CPU pilots and a QPU emulator whose
backend fails some jobs, while a worker and later a whole worker pool are killed, with user errors and a
poison task in the mix. Real processes, no mocks."""

from __future__ import annotations

import logging
import time

import parsl
import psutil
import pytest

from parsl_quantum.executors import QuantumPilotExecutor, TaskFailoverExhaustedError
from tests.conftest import worker_processes
from tests.executor_helpers import (
    broken,
    cpu,
    decode_square,
    flaky_qpu,
    poison,
    pool_processes,
    pool_workers,
    spec,
    wait_active,
    wait_state,
)

TASKS = 300
ON_QPU = 6  # tasks bound to the QPU first: its backend fails every third job in a worker process


def test_chaos(load_dfk, caplog):
    caplog.set_level(logging.WARNING, logger="parsl_quantum.executors")
    qex = QuantumPilotExecutor(
        label="quantum",
        pilots=[cpu("cpu1", workers=1), cpu("cpu2", workers=1), flaky_qpu("qpu")],
        policy="least_loaded",
        max_attempts=4,
    )
    dfk = load_dfk(qex)
    wait_active(qex, "cpu1", "cpu2", "qpu", timeout=180)
    inputs = [i % 32 for i in range(TASKS)]
    # the first few go to the QPU whatever the policy, so its flaky backend is certain to fail a job (the
    # CPU pilots may otherwise take nearly all the work, and a killed QPU worker restarts the count)
    futures = [decode_square(x, **spec(pilot="qpu")) for x in inputs[:ON_QPU]]
    user_errors = []
    for i, x in enumerate(inputs):
        if i < ON_QPU:
            continue
        futures.append(decode_square(x))
        if i % 100 == 50:
            user_errors.append(broken(i))
        if i == 150:
            doomed = poison()
    killed = {"worker": False, "pool": False}
    deadline = time.time() + 600
    while not all(f.done() for f in futures) and time.time() < deadline:
        done = sum(f.done() for f in futures)
        if done > TASKS // 4 and not killed["worker"]:
            pool = pool_processes(qex, "cpu1")[-1]
            workers = pool_workers(pool)
            if workers:
                workers[0].kill()
                killed["worker"] = True
        if done > TASKS // 2 and not killed["pool"]:
            pool = pool_processes(qex, "cpu2")[-1]
            pool.kill()
            killed["pool"] = True
        time.sleep(0.05)
    assert killed == {"worker": True, "pool": True}, "the run ended before both kills"

    # every task with a known result completes with the right answer
    assert [f.result(timeout=300) for f in futures] == [x * x for x in inputs]
    # user errors fail once, with their own error
    for f in user_errors:
        with pytest.raises(ZeroDivisionError):
            f.result(timeout=60)
    # the poison task fails alone, saying what happened
    with pytest.raises(TaskFailoverExhaustedError, match="task fault.*WorkerLost"):
        doomed.result(timeout=300)
    records = {r.task_id: r for r in qex.metrics()}
    # a user error is never retried by the executor: it ran once (a binding lost to a pilot fault before
    # it ran may add to its attempts, which count bindings)
    user = [r for r in records.values() if r.outcome == "error"]
    assert len(user) == len(user_errors) and all("ZeroDivisionError" in r.error for r in user)
    assert not [r for r in records.values() if r.outcome == "pending"]
    retried = [r for r in records.values() if r.outcome == "success" and r.attempts > 1]
    assert retried, "faults cost some tasks a retry"
    # the pilots are active again
    for name in ("cpu1", "cpu2", "qpu"):
        wait_state(qex, name, "active", timeout=120)
    status = qex.pilots
    # a killed worker or pool is replaced in its block: no pilot is blamed or restarted for it
    assert status["cpu1"].pool_restarts >= 1 and status["cpu2"].pool_restarts >= 1
    assert all(s.restarts == 0 for s in status.values()), status
    assert not [r.getMessage() for r in caplog.records if "IllegalTransition" in r.getMessage()]
    assert status["qpu"].faults.get("backend error", 0) >= 1  # the flaky backend failed some jobs
    # the poison task's deaths are task faults; so is the killed worker's task if it was busy
    assert sum(s.faults.get("task fault", 0) for s in status.values()) >= 3
    # and after shutdown no process is left behind, the helpers of the killed pool included
    ours = [p for p in worker_processes("quantum-") if qex.run_dir in " ".join(p.cmdline())]
    dfk.cleanup()
    parsl.clear()
    time.sleep(2)
    assert not [p for p in worker_processes("quantum-") if qex.run_dir in " ".join(p.cmdline())]
    assert not [p for p in ours if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
