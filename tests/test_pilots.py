"""Pilots over time on real DFKs: policies, adding and removing pilots, failover, QPU session expiry,
monitoring and clean shutdown."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import time

import parsl
import psutil
import pytest

from parsl_quantum.executors import QuantumPilotExecutor, TaskFailoverExhaustedError
from parsl_quantum.providers import QPUSessionProvider
from tests.conftest import worker_processes
from tests.executor_helpers import (
    cpu,
    nap,
    nap_by_kind,
    qpu,
    qpu_job_error,
    spec,
    wait_active,
    wait_state,
    where,
)

# -- policies -------------------------------------------------------------------------------------


def run_policy(load_dfk, policy, **executor_kw):
    qex = QuantumPilotExecutor(label="quantum", pilots=[cpu(workers=1), qpu()], policy=policy, **executor_kw)
    load_dfk(qex)
    wait_active(qex, "cpu", "qpu")
    return qex


def test_round_robin_alternates(load_dfk):
    run_policy(load_dfk, "round_robin")
    names = [where().result()[0] for _ in range(6)]
    assert names == ["aer", "fake_torino"] * 3


def test_least_loaded_spreads_concurrent_work(load_dfk):
    qex = run_policy(load_dfk, "least_loaded")
    futures = [nap(0.5) for _ in range(2)]
    assert sorted(f.result()[0] for f in futures) == ["aer", "fake_torino"]
    assert {r.pilot for r in qex.metrics()} == {"cpu", "qpu"}


def test_best_fidelity_prefers_the_noiseless_simulator(load_dfk):
    run_policy(load_dfk, "best_fidelity")
    assert {where().result()[0] for _ in range(4)} == {"aer"}


@pytest.mark.timing
def test_earliest_finish_uses_runtime_prior(load_dfk):
    def prior(info, pilot):
        return {"cpu": 0.02, "qpu": 1.0}[pilot]

    qex = run_policy(load_dfk, "earliest_finish", runtime_prior=prior)
    start = time.time()
    futures = [nap_by_kind({"cpu": 0.02, "qpu": 1.0}) for _ in range(20)]
    assert {f.result() for f in futures} == {"aer"}
    assert time.time() - start < 5
    assert all(r.pilot == "cpu" for r in qex.metrics())


def test_earliest_finish_learns_runtimes(load_dfk):
    qex = run_policy(load_dfk, "earliest_finish")
    # learn: one task pinned to each pilot
    for pilot in ("cpu", "qpu"):
        nap_by_kind({"cpu": 0.02, "qpu": 0.8}, **spec(pilot=pilot)).result()
    futures = [nap_by_kind({"cpu": 0.02, "qpu": 0.8}) for _ in range(20)]
    results = [f.result() for f in futures]
    assert results.count("fake_torino") <= 1
    assert qex.estimator.pilot_mean("qpu") > 10 * qex.estimator.pilot_mean("cpu")


# -- pilots added and removed while tasks run -----------------------------------------------------


def test_add_and_remove_pilots_during_a_run(load_dfk):
    qex = QuantumPilotExecutor(
        label="quantum", pilots=[cpu("a", workers=1, prefetch=0)], policy="least_loaded"
    )
    load_dfk(qex)
    wait_active(qex, "a")
    # enough work to outlast the new pilot's start (its workers must come up and describe themselves)
    futures = [nap(0.5) for _ in range(60)]
    time.sleep(0.5)
    qex.add_pilot(cpu("b", workers=2, prefetch=0))
    wait_active(qex, "b")
    qex.remove_pilot("a", drain=True)
    removed_at = time.time()
    assert all(f.result()[0] == "aer" for f in futures)
    records = qex.metrics()[-60:]
    on_a = [r for r in records if r.pilot == "a"]
    on_b = [r for r in records if r.pilot == "b"]
    assert on_a and on_b and len(on_a) + len(on_b) == 60
    # the new pilot took queued work at once; the draining one took nothing new
    assert min(r.bind for r in on_b) < removed_at + 1.0
    assert all(r.bind < removed_at for r in on_a)
    deadline = time.time() + 20
    while qex.pilots["a"].state != "stopped" and time.time() < deadline:
        time.sleep(0.1)
    assert qex.pilots["a"].state == "stopped"
    assert where().result()[0] == "aer"  # work goes on on pilot b


def test_remove_without_drain_requeues_work(load_dfk):
    qex = QuantumPilotExecutor(
        label="quantum", pilots=[cpu("a", workers=1), cpu("b", workers=1)], policy="round_robin"
    )
    load_dfk(qex)
    wait_active(qex, "a", "b")
    futures = [nap(0.5) for _ in range(6)]
    time.sleep(0.3)
    qex.remove_pilot("a", drain=False)
    assert all(f.result()[0] == "aer" for f in futures)
    assert all(r.pilot == "b" for r in qex.metrics()[-6:] if r.bind > 0)


# -- faults ---------------------------------------------------------------------------------------


def test_killed_pilot_recovers_and_its_tasks_finish(load_dfk):
    qex = QuantumPilotExecutor(
        label="quantum", pilots=[cpu("victim", workers=2), cpu("spare", workers=1)], policy="round_robin"
    )
    load_dfk(qex)
    wait_active(qex, "victim", "spare")
    futures = [nap(0.4) for _ in range(12)]
    time.sleep(0.6)
    victims = [p for p in worker_processes("quantum-victim") if qex.run_dir in " ".join(p.cmdline())]
    guards = [p for p in victims if "pool_guard" in " ".join(p.cmdline())]
    assert guards, "the victim pilot's block was not found"
    for guard in guards:  # the whole block goes, as when its node is lost: a pilot fault
        os.killpg(os.getpgid(guard.pid), signal.SIGKILL)
    results = [f.result(timeout=180) for f in futures]
    assert all(name == "aer" for name, _ in results)
    status = wait_state(qex, "victim", "active")
    assert status.restarts == 1 and status.last_fault and "pilot fault" in status.last_fault
    assert max(r.attempts for r in qex.metrics()[-12:]) >= 2  # bindings, including the lost one


def test_failover_gives_up_after_max_attempts(load_dfk):
    qex = QuantumPilotExecutor(
        label="quantum", pilots=[qpu("q1"), qpu("q2"), cpu(workers=1)], policy="round_robin", max_attempts=2
    )
    load_dfk(qex)
    wait_active(qex, "q1", "q2", "cpu")
    future = qpu_job_error(**spec(kinds=["qpu"]))
    with pytest.raises(TaskFailoverExhaustedError, match="2 failed attempts") as info:
        future.result(timeout=60)
    assert "q1" in str(info.value) and "q2" in str(info.value)  # the retry went to the other QPU


def test_qpu_session_expiry_is_timeout_and_work_moves_on(load_dfk):
    session = QPUSessionProvider(session_s=10, init_blocks=1, max_blocks=1, polling_interval=0.5)
    qex = QuantumPilotExecutor(
        label="quantum",
        pilots=[qpu("session", provider=session, prefetch=0), cpu(workers=1)],
        policy="round_robin",
        strategy_period=0.5,
    )
    load_dfk(qex)
    wait_active(qex, "session", "cpu")
    futures = [nap_by_kind({"qpu": 4.0, "cpu": 0.2}) for _ in range(8)]
    assert all(f.result(timeout=120) in ("aer", "fake_torino") for f in futures)
    # the work can finish before the 10 s session does (the CPU pilot takes most of it): wait for the end
    deadline = time.time() + 60
    while qex.pilots["session"].blocks.get("TIMEOUT", 0) < 1 and time.time() < deadline:
        time.sleep(0.2)
    status = qex.pilots["session"]
    assert status.blocks.get("TIMEOUT", 0) >= 1, status  # the session ended as a timeout...
    assert status.state != "failed" and status.reason is None  # ...which is no fault of the pilot
    assert nap_by_kind({"qpu": 0.1, "cpu": 0.1}).result(timeout=120) in ("aer", "fake_torino")  # work goes on


# -- monitoring and shutdown ----------------------------------------------------------------------


def test_monitoring_with_resource_monitoring(load_dfk, tmp_path):
    from parsl.monitoring import MonitoringHub

    db = tmp_path / "monitoring.db"
    qex = QuantumPilotExecutor(label="quantum", pilots=[cpu(workers=1)])
    hub = MonitoringHub(logging_endpoint=f"sqlite:///{db}", resource_monitoring_interval=0.2)
    dfk = load_dfk(qex, monitoring=hub)
    wait_active(qex, "cpu")
    assert [nap(0.8).result()[0] for _ in range(2)] == ["aer", "aer"]
    dfk.cleanup()
    parsl.clear()
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT task.task_func_name, try.task_executor, try.task_try_time_running, try.block_id, "
            "task.task_id FROM task JOIN try ON task.task_id = try.task_id AND task.run_id = try.run_id"
        ).fetchall()
        resources = conn.execute("SELECT COUNT(*) FROM resource").fetchone()[0]
    assert [(name, executor) for name, executor, *_ in rows] == [("nap", "quantum")] * 2
    # the "running" time comes from the worker, through the pilot's monitoring radio
    assert all(running is not None for _, _, running, *_ in rows)
    assert resources > 0
    # each try names the pilot and the pilot's block that ran it
    assert {block for *_, block, _ in rows} == {"cpu/0"}
    # and the executor's own records join Parsl's task ids
    assert sorted(r.parsl_task_id for r in qex.metrics()) == sorted(task_id for *_, task_id in rows)
    assert all(r.worker and r.worker.startswith(r.host + ":") for r in qex.metrics())


def test_parsl_visualize_serves_the_monitoring_database(load_dfk, tmp_path):
    import shutil
    import socket
    import subprocess
    import urllib.request

    from parsl.monitoring import MonitoringHub

    db = tmp_path / "monitoring.db"
    qex = QuantumPilotExecutor(label="quantum", pilots=[cpu(workers=1)])
    dfk = load_dfk(qex, monitoring=MonitoringHub(logging_endpoint=f"sqlite:///{db}"))
    wait_active(qex, "cpu")
    assert where().result()[0] == "aer"
    dfk.cleanup()
    parsl.clear()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = shutil.which("parsl-visualize") or os.path.join(os.path.dirname(sys.executable), "parsl-visualize")
    server = subprocess.Popen([exe, "-p", str(port), "-l", "127.0.0.1", f"sqlite:///{db}"])
    try:
        deadline = time.time() + 60
        while True:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        assert dfk.run_id in page
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_shutdown_leaves_no_process_behind(load_dfk, tmp_path):
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    qex = QuantumPilotExecutor(label="quantum", pilots=[cpu(workers=2), qpu()])
    dfk = load_dfk(qex)
    wait_active(qex, "cpu", "qpu")
    assert where().result()
    ours = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert len(ours) >= 2  # interchanges and worker pools, at least
    dfk.cleanup()
    parsl.clear()
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(p) for p in ours):
        time.sleep(0.2)
    assert not [p for p in ours if _alive(p)]
    assert not worker_processes(str(tmp_path))


def _alive(proc) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_single_task_on_a_wide_pilot_does_not_churn_blocks(load_dfk):
    """Regression: Parsl's strategy asked scale_in(0), which released the pending block every second."""
    qex = QuantumPilotExecutor(label="quantum", pilots=[cpu(workers=2)], strategy_period=0.2)
    load_dfk(qex)
    future = where()  # submitted before the block's workers connect
    assert future.result(timeout=60)[0] == "aer"
    time.sleep(1.0)
    assert len(qex._state.pilots["cpu"].htex.status_facade) == 1
