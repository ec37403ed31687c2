"""How a guarded pool is started: its command line and what its fork server imports."""

from __future__ import annotations

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
