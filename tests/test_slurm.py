"""A pilot whose blocks are jobs of a real single-node Slurm cluster, through Parsl's SlurmProvider.

The cluster (``slurmctld``, ``slurmd`` and MUNGE on this machine, installed with apt-get when missing) is
started by :mod:`tests.slurm_cluster`. Outside CI the module is skipped when the cluster cannot be started
(e.g. not root); under ``CI=true`` that is a failure.
"""

from __future__ import annotations

import os
import time

import psutil
import pytest
from parsl.launchers import SimpleLauncher
from parsl.providers import SlurmProvider

from parsl_quantum.executors import QuantumPilotExecutor
from parsl_quantum.providers import PilotDescription
from tests.executor_helpers import ghz_counts, wait_active, where
from tests.slurm_cluster import ONE_BLOCK, SlurmCluster, started_or_skip

pytestmark = pytest.mark.slurm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOTS = 2000


@pytest.fixture(scope="module")
def slurm_cluster():
    with started_or_skip(SlurmCluster()) as cluster:
        yield cluster


def slurm_pilot(cluster: SlurmCluster) -> PilotDescription:
    provider = SlurmProvider(
        partition=cluster.partition,
        nodes_per_block=1,
        **ONE_BLOCK,
        # Workers import the task functions as ``tests.apps``.
        worker_init=f"export PYTHONPATH={ROOT}${{PYTHONPATH:+:$PYTHONPATH}}",
        launcher=SimpleLauncher(),
    )
    return PilotDescription(name="slurm", kind="cpu", backend="aer", workers=2, provider=provider)


def block_jobs(cluster: SlurmCluster) -> list[dict[str, str]]:
    return [j for j in cluster.jobs() if j["name"].startswith("parsl.quantum-slurm")]


def test_pilot_runs_tasks_in_a_slurm_job(slurm_cluster, load_dfk):
    pilot = slurm_pilot(slurm_cluster)
    qex = QuantumPilotExecutor(label="quantum", pilots=[pilot])
    dfk = load_dfk(qex)
    wait_active(qex, "slurm", timeout=60)

    # The pilot's block is a job of this Slurm cluster, running on its node.
    provider = pilot.provider
    assert len(provider.resources) == 1
    job_id = next(iter(provider.resources))
    jobs = block_jobs(slurm_cluster)
    assert [(j["id"], j["state"]) for j in jobs] == [(job_id, "RUNNING")], slurm_cluster.jobs()
    shown = slurm_cluster.run("scontrol", "show", "job", job_id).stdout
    assert f"Partition={slurm_cluster.partition}" in shown
    assert f"NodeList={slurm_cluster.hostname}" in shown

    ghz = [ghz_counts(3, shots=SHOTS) for _ in range(4)]
    places = [where() for _ in range(6)]
    for future in ghz:
        name, counts = future.result(timeout=60)
        assert name == "aer"
        assert set(counts) <= {"000", "111"}
        assert sum(counts.values()) == SHOTS
        sigma = (SHOTS * 0.25) ** 0.5
        assert abs(counts.get("000", 0) - SHOTS / 2) < 5 * sigma, counts
    names = {f.result(timeout=60)[0] for f in places}
    pids = {f.result(timeout=60)[1] for f in places}
    assert names == {"aer"}
    # The workers are processes of the Slurm job.
    for pid in pids:
        assert psutil.Process(pid).environ().get("SLURM_JOB_ID") == job_id

    records = qex.metrics()
    assert len(records) == len(ghz) + len(places)
    assert all(r.pilot == "slurm" and r.outcome == "success" for r in records), records
    assert {r.host.split(".")[0] for r in records} == {slurm_cluster.hostname}

    dfk.cleanup()
    deadline = time.time() + 30
    while block_jobs(slurm_cluster) and time.time() < deadline:
        time.sleep(0.5)
    assert block_jobs(slurm_cluster) == [], slurm_cluster.jobs()
