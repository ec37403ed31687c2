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
