"""Shared fixtures: loading a real Parsl DataFlowKernel and cleaning it up."""

from __future__ import annotations

import os

import parsl
import pytest
from parsl.config import Config


@pytest.fixture
def load_dfk(tmp_path):
    """``load_dfk(*executors, **config)`` loads a DataFlowKernel in a fresh run directory."""
    loaded = []

    def load(*executors, **config):
        config.setdefault("run_dir", str(tmp_path / "runinfo"))
        dfk = parsl.load(Config(executors=list(executors), **config))
        loaded.append(dfk)
        return dfk

    yield load
    for dfk in loaded:
        if not dfk.cleanup_called:
            dfk.cleanup()
    parsl.clear()


def worker_processes(label: str) -> list:
    """Live HTEX worker-pool and interchange processes whose command line mentions ``label``."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if ("process_worker_pool" in cmd or "interchange" in cmd) and label in cmd:
            found.append(proc)
    return found


def pytest_configure(config):
    # Workers import the test helpers as ``tests.apps``; make that work from any cwd.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)


SHARED_SCOPES = ("module", "package", "session")


def shares_a_fixture_with_its_module(item) -> bool:
    """Whether ``item`` uses a module- (or wider-) scoped fixture that its own module defines, such as a
    DataFlowKernel loaded once for the module."""
    module_id = item.nodeid.split("::")[0]
    for defs in item._fixtureinfo.name2fixturedefs.values():
        for fixturedef in defs:
            if fixturedef.scope in SHARED_SCOPES and fixturedef.baseid.startswith(module_id):
                return True
    return False


def pytest_collection_modifyitems(config, items):
    # Under pytest-xdist (``make test-integration`` runs two test processes):
    # - the Slurm tests share one cluster on this machine: they run in one test process, one after the other;
    # - the tests of a module that sets up something once for the module (a loaded DataFlowKernel, a
    #   calibrated profile) run in one test process, so that it is set up once, not once per process.
    for item in items:
        if item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.xdist_group("slurm"))
        elif shares_a_fixture_with_its_module(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
