"""How a guarded pool is started: its command line and what its fork server imports."""

from __future__ import annotations

import pytest

from parsl_quantum.executors.pool_boot import STANDBY_MARK, preload_modules
from parsl_quantum.executors.pool_guard import Guard, Restarts

POOL = ["/venv/bin/python", "-m", "parsl.executors.high_throughput.process_worker_pool", "--hb_period=1"]


def guard(command=POOL, preload=("a", "b")):
    return Guard(list(command), 15.0, 300.0, Restarts(10, 60.0), tuple(preload))


def test_each_generation_runs_parsls_pool_under_the_boot_module_with_its_own_manager_id():
    g = guard()
    command = g._pool_command(3)
    # a pool started now registers first: its workers import the device's libraries on their first task
    assert command[:5] == ["/venv/bin/python", "-m", "parsl_quantum.executors.pool_boot", "--preload", ""]
    assert command[5] == "--" and command[6:10] == POOL
    assert command[-1] == f"--uid={g.guard_id}.3"
    assert STANDBY_MARK not in command
    # a standby, prepared while the current pool runs, has its fork server import them
    standby = g._pool_command(4, standby=True)
    assert standby[4:6] == ["a,b", STANDBY_MARK] and standby[-1] == f"--uid={g.guard_id}.4"


def test_a_pool_command_that_is_not_a_module_runs_as_given():
    command = guard(command=["process_worker_pool.py", "--hb_period=1"])._pool_command(0)
    assert command[:2] == ["process_worker_pool.py", "--hb_period=1"] and command[2].startswith("--uid=")


def test_the_fork_server_imports_the_device_libraries_of_cpu_and_qpu_pilots_but_nothing_of_a_gpu():
    assert "qiskit_aer" in preload_modules("aer", "cpu")
    assert "parsl_quantum.devices.lightning" in preload_modules("lightning.qubit", "cpu")
    assert "qiskit_ibm_runtime.fake_provider" in preload_modules("fake_torino", "qpu")
    gpu = preload_modules("lightning.gpu", "gpu")
    assert gpu == ("parsl_quantum.executors.worker", "parsl_quantum.devices.registry")
    assert preload_modules("aer_gpu", "gpu") == gpu


def test_the_standby_mode_is_eager_unless_set_to_idle_and_a_bad_value_is_named():
    from parsl_quantum.executors.pool_guard import STANDBY_MODE_VARIABLE, standby_mode

    assert standby_mode({}) == "eager"
    assert standby_mode({STANDBY_MODE_VARIABLE: " Idle "}) == "idle"
    with pytest.raises(ValueError, match="PARSL_QUANTUM_STANDBY='lazy': expected one of eager, idle"):
        standby_mode({STANDBY_MODE_VARIABLE: "lazy"})


def test_the_first_pools_standby_is_prepared_at_once_unless_the_mode_is_idle(monkeypatch):
    from parsl_quantum.executors import pool_guard

    eager = guard()
    assert eager._standby_affordable(0.0)  # generation 0: at once
    eager.generation = 1  # after a replacement: idle CPU, or the delay
    assert eager._standby_affordable(pool_guard.STANDBY_DELAY_S)
    monkeypatch.setenv(pool_guard.STANDBY_MODE_VARIABLE, "idle")
    idle = guard()
    monkeypatch.setattr("psutil.cpu_percent", lambda interval=None: 100.0)  # a busy node
    assert not any(idle._standby_affordable(0.0) for _ in range(10))
    assert idle._standby_affordable(pool_guard.STANDBY_DELAY_S)
    monkeypatch.setattr("psutil.cpu_percent", lambda interval=None: 10.0)  # idle: after IDLE_POLLS polls
    assert [idle._standby_affordable(1.0) for _ in range(pool_guard.IDLE_POLLS)][-1]
