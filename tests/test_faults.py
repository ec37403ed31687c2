"""The fault model's pure parts: classification, circuit breaker, restart budget, pilot state machine,
block health; and the worker-pool guard with real processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import psutil
import pytest
from parsl.app.errors import RemoteExceptionWrapper
from parsl.executors.high_throughput.errors import ManagerLost, WorkerLost
from parsl.jobs.states import JobState, JobStatus

from parsl_quantum.errors import BackendError
from parsl_quantum.executors.faults import (
    CircuitBreaker,
    DeviceBuildError,
    Fault,
    RestartBudget,
    classify_exception,
    classify_outcome,
)
from parsl_quantum.executors.health import expired_sessions, lost_blocks, stalled
from parsl_quantum.executors.pilot_states import (
    LEGAL_TRANSITIONS,
    TERMINAL_STATES,
    IllegalTransitionError,
    PilotState,
    transition,
)


def wrapped(exc: BaseException) -> RemoteExceptionWrapper:
    try:
        raise exc
    except BaseException:
        return RemoteExceptionWrapper(*sys.exc_info())


@pytest.mark.parametrize(
    ("exc", "fault"),
    [
        (WorkerLost(3, "node1"), Fault.TASK),
        (ManagerLost(b"abc", "node1"), Fault.PILOT),
        (DeviceBuildError("no CUDA device"), Fault.PILOT),
        (BackendError("job failed"), Fault.BACKEND),
        (ConnectionError("reset"), Fault.BACKEND),
        (ZeroDivisionError("x"), Fault.USER),
        (ValueError("bad circuit"), Fault.USER),
    ],
)
def test_classify_exception(exc, fault):
    assert classify_exception(exc) is fault


def test_classify_outcome_of_values_the_worker_sent():
    assert classify_outcome({"00": 10}) is None
    assert classify_outcome(wrapped(BackendError("QPU job 7 failed"))) is Fault.BACKEND
    assert classify_outcome(wrapped(TimeoutError("read timed out"))) is Fault.BACKEND
    assert classify_outcome(wrapped(DeviceBuildError("Invalid option methd"))) is Fault.PILOT
    assert classify_outcome(wrapped(KeyError("mine"))) is Fault.USER


def test_circuit_breaker_opens_after_consecutive_errors_and_backs_off():
    breaker = CircuitBreaker(threshold=3, base_s=5, max_s=12)
    assert not breaker.record_error(0.0) and not breaker.record_error(1.0)
    breaker.record_success()  # a success in between: the count starts over
    assert not breaker.record_error(2.0) and not breaker.record_error(3.0)
    assert breaker.record_error(4.0)
    assert breaker.is_open(8.9) and not breaker.is_open(9.1)
    for t in (10.0, 11.0):
        breaker.record_error(t)
    assert breaker.record_error(12.0)  # second opening: 10 s
    assert breaker.open_until == pytest.approx(22.0)
    for t in (23.0, 24.0):
        breaker.record_error(t)
    assert breaker.record_error(25.0) and breaker.open_until == pytest.approx(37.0)  # capped at 12 s


def test_restart_budget_forgives_restarts_older_than_its_window():
    budget = RestartBudget(max_restarts=2, window_s=100, base_s=1, max_s=60)
    assert budget.next_delay(0) == 1 and not budget.exhausted(0)
    budget.spend(0)
    assert budget.next_delay(1) == 2
    budget.spend(1)
    assert budget.exhausted(50)
    assert not budget.exhausted(101.5)  # the first restart left the window


def test_state_machine_allows_only_legal_moves():
    assert transition("p", PilotState.STARTING, PilotState.ACTIVE) is PilotState.ACTIVE
    assert transition("p", PilotState.ACTIVE, PilotState.DEGRADED) is PilotState.DEGRADED
    assert transition("p", PilotState.DEGRADED, PilotState.ACTIVE) is PilotState.ACTIVE
    assert transition("p", PilotState.RECOVERING, PilotState.FAILED) is PilotState.FAILED
    for terminal in TERMINAL_STATES:
        assert not LEGAL_TRANSITIONS[terminal]
        with pytest.raises(IllegalTransitionError, match="cannot go from"):
            transition("p", terminal, PilotState.ACTIVE)
    with pytest.raises(IllegalTransitionError, match="pilot 'q' cannot go from draining to active"):
        transition("q", PilotState.DRAINING, PilotState.ACTIVE)


def test_lost_blocks_ignore_cancelled_handled_and_expired_ones():
    statuses = {
        "0": JobStatus(JobState.FAILED, exit_code=137),
        "1": JobStatus(JobState.CANCELLED),
        "2": JobStatus(JobState.RUNNING),
        "3": JobStatus(JobState.TIMEOUT),
        "4": JobStatus(JobState.MISSING),
    }
    assert [b for b, _ in lost_blocks(statuses, cancelled={"1"}, handled={"4"})] == ["0"]
    assert expired_sessions(statuses, handled=set()) == ["3"]
    assert stalled(in_flight=2, workers=0, no_worker_since=0.0, now=16.0, threshold_s=15)
    assert not stalled(in_flight=0, workers=0, no_worker_since=0.0, now=16.0, threshold_s=15)
    assert not stalled(in_flight=2, workers=1, no_worker_since=None, now=16.0, threshold_s=15)


POOL = textwrap.dedent(
    """
    import multiprocessing as mp, sys, time
    def work():
        time.sleep(600)
    if __name__ == "__main__":
        ctx = mp.get_context("spawn")
        manager = ctx.Manager()          # like Parsl's pool: a helper server process first
        workers = [ctx.Process(target=work) for _ in range(2)]
        for w in workers:
            w.start()
        import os
        pids = [w.pid for w in workers] + [c.pid for c in mp.active_children()]
        with open(sys.argv[4], "w") as f:
            f.write(" ".join(str(p) for p in set(pids)))
        print("started", flush=True)
        time.sleep(float(sys.argv[1]))
        if sys.argv[2] == "kill-workers":
            for w in workers:
                w.kill()
            time.sleep(600)
        os._exit(int(sys.argv[3]))  # a crash: nothing joins the helpers
    """
)


def run_guard(tmp_path, *pool_args, grace="2", max_restarts="5"):
    script = tmp_path / "pool.py"
    script.write_text(POOL)
    cmd = [sys.executable, "-m", "parsl_quantum.executors.pool_guard", "--grace", grace]
    cmd += ["--max-restarts", max_restarts, "--"]
    pids = tmp_path / "pids"
    args = [sys.executable, str(script), *pool_args, str(pids)]
    proc = subprocess.Popen(cmd + args, stderr=subprocess.PIPE, text=True)
    return proc, pids


def test_pool_guard_replaces_a_pool_whose_worker_died_in_place_then_gives_up(tmp_path):
    proc, _ = run_guard(tmp_path, "3", "kill-workers", "0", max_restarts="1")
    _, err = proc.communicate(timeout=120)
    # each generation's workers die: the pool is replaced once in its block, then the block ends
    assert err.count("died; replacing the pool") == 2
    assert "replaced 1 time within 60 s; ending the block" in err
    assert proc.returncode == 75


def test_pool_guard_passes_the_status_on_and_kills_leftover_helpers(tmp_path):
    proc, pids = run_guard(tmp_path, "3", "exit", "3")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3 and "ended with status 3" in err
    helpers = [int(p) for p in pids.read_text().split()]
    assert len(helpers) >= 3  # the manager server and two workers, left behind by the pool's exit
    deadline = time.time() + 10
    while time.time() < deadline and any(psutil.pid_exists(p) for p in helpers):
        time.sleep(0.1)
    assert not [p for p in helpers if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


def test_replaced_managers_are_the_older_generations_of_each_guard():
    from parsl_quantum.executors.pool_guard import manager_generation, replaced_managers

    assert manager_generation("pq1a2b.3") == ("pq1a2b", 3)
    assert manager_generation("3f2a9c1d0e4b") is None  # Parsl's own ids: never judged
    managers = ["pqaa.0", "pqaa.1", "pqbb.0", "pqaa.2", "3f2a9c1d0e4b"]
    assert replaced_managers(managers) == {"pqaa.0", "pqaa.1"}
    assert replaced_managers(["pqaa.4"]) == set()
