"""Helpers for executor tests: quantum apps on the executor labelled "quantum", pilots, waiting."""

from __future__ import annotations

import time

from parsl import python_app

from parsl_quantum.providers import PilotDescription
from tests import apps

where = python_app(apps.where, executors=["quantum"])
nap = python_app(apps.nap, executors=["quantum"])
nap_by_kind = python_app(apps.nap_by_kind, executors=["quantum"])
ghz_counts = python_app(apps.ghz_counts, executors=["quantum"])
broken = python_app(apps.broken, executors=["quantum"])
qpu_job_error = python_app(apps.qpu_job_error, executors=["quantum"])
no_device = python_app(apps.no_device, executors=["quantum"])


def cpu(name="cpu", workers=2, **kw):
    return PilotDescription(name=name, kind="cpu", backend="aer", workers=workers, **kw)


def qpu(name="qpu", workers=1, **kw):
    return PilotDescription(name=name, kind="qpu", backend="fake_torino", workers=workers, **kw)


def spec(**kw):
    return {"parsl_resource_specification": kw}


def wait_active(qex, *names, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = qex.pilots
        if all(status[n].state == "active" and status[n].workers > 0 for n in names):
            return
        time.sleep(0.1)
    raise AssertionError(f"pilots {names} not active: {qex.pilots}")


square = python_app(apps.square, executors=["quantum"])
fail_once = python_app(apps.fail_once, executors=["quantum"])
poison = python_app(apps.poison, executors=["quantum"])
worker_pid = python_app(apps.worker_pid, executors=["quantum"])
unloadable = python_app(apps.unloadable, executors=["quantum"])
plain_kwargs = python_app(apps.plain_kwargs, executors=["quantum"])


def pool_processes(qex, pilot):
    """The worker-pool processes (not their guards, nor a guard's standby) of pilot ``pilot`` of ``qex``."""
    from parsl_quantum.executors.pool_guard import is_standby
    from tests.conftest import worker_processes

    found = []
    for proc in worker_processes(f"{qex.label}-{pilot}"):
        cmd = " ".join(proc.cmdline())
        if "process_worker_pool" in cmd and "pool_guard" not in cmd and qex.run_dir in cmd:
            if is_standby(proc):
                continue  # a standby interpreter for the next pool, not a pool yet
            found.append(proc)
    return sorted(found, key=lambda p: p.create_time())  # while a pool is replaced, the newest last


def pool_workers(pool):
    """Live worker processes of a pool, oldest first."""
    from parsl_quantum.executors.pool_guard import pool_workers as workers

    return workers(pool)


def wait_state(qex, name, state, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = qex.pilots[name]
        if status.state == state and (state != "active" or status.workers > 0):
            return status
        time.sleep(0.1)
    raise AssertionError(f"pilot {name} not {state}: {qex.pilots[name]}")


decode_square = python_app(apps.decode_square, executors=["quantum"])


def flaky_qpu(name="qpu", workers=1, **kw):
    """A QPU emulator pilot whose fake backend (a real FakeManilaV2 subclass) fails every third job."""
    options = {"backend_class": "tests.flaky_backend:FlakyManila", "emulation": "backend_run"}
    return PilotDescription(
        name=name, kind="qpu", backend="fake_manila", workers=workers, options=options, **kw
    )


sweep_step = python_app(apps.sweep_step, executors=["quantum"])
crunch = python_app(apps.crunch, executors=["quantum"])
