"""Blocks that span two compute nodes of a real multi-node Slurm cluster, through Parsl's SlurmProvider.

The cluster (:class:`tests.slurm_cluster.MultiNodeSlurmCluster`) has two compute nodes on this machine,
each in its own network namespace with its own hostname; the login side (``slurmctld``, ``sbatch``, the
DataFlowKernel and every interchange) stays in this host's namespace and is reached by the nodes at the
bridge's address. A task that runs on a node reports that node's hostname, never the login host's.

Outside CI the module is skipped when the cluster cannot be started (not root, network namespaces
refused); under ``CI=true`` that is a failure.
"""

from __future__ import annotations

import collections
import os
import socket
import stat
import sys
import time
from pathlib import Path

import parsl
import pytest
from parsl import python_app
from parsl.config import Config
from parsl.executors import HighThroughputExecutor
from parsl.launchers import SrunLauncher
from parsl.providers import SlurmProvider
from qiskit.circuit.library import efficient_su2

from parsl_quantum.devices.hardware import host_memory_bytes, max_statevector_qubits
from parsl_quantum.executors import QuantumPilotExecutor
from parsl_quantum.providers import PilotDescription
from parsl_quantum.q_dreamer import QDreamer
from tests.slurm_cluster import ONE_BLOCK, MultiNodeSlurmCluster, started_or_skip

pytestmark = pytest.mark.slurm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)
NODES = 2
JOB_MEMORY_GB = 1
"""``--mem`` of the pilot's blocks: far below this host's memory, so the width it allows differs."""
TASKS = 16
PAUSE_S = 0.3
"""Each task sleeps this long, so that the interchange spreads them over both nodes."""


# -- task functions (module level: the workers import them from this module) ---------------------------
def host_after(pause: float) -> str:
    """The hostname of the node that ran the task."""
    time.sleep(pause)
    return socket.gethostname()


def where_and_how_wide(pause: float, *, device) -> dict:
    """Hostname, job memory limit and device width, as the worker that ran the task sees them."""
    time.sleep(pause)
    return {
        "host": socket.gethostname(),
        "job_mem_mb": os.environ.get("SLURM_MEM_PER_NODE"),
        "qubits": device.num_qubits,
    }


# -- the cluster and its blocks -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    started = time.monotonic()
    cluster = MultiNodeSlurmCluster(nodes=NODES)
    with started_or_skip(cluster):
        up_s = time.monotonic() - started
        print(f"\ncluster {cluster.nodes} up in {up_s:.1f} s, login side at {cluster.login_address}")
        yield cluster
    # Teardown left nothing behind: no daemon, namespace, bridge, veth or work directory.
    assert cluster.leftovers() == []


def block_provider(cluster: MultiNodeSlurmCluster, **options) -> SlurmProvider:
    """One block of two nodes; its workers run this checkout's virtual environment from the shared disk."""
    return SlurmProvider(
        partition=cluster.partition,
        nodes_per_block=NODES,
        **ONE_BLOCK,
        launcher=SrunLauncher(),
        worker_init=f"export PATH={VENV_BIN}:$PATH; export PYTHONPATH={ROOT}${{PYTHONPATH:+:$PYTHONPATH}}",
        **options,
    )


def wait_for(predicate, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def assert_block_spans_nodes(cluster: MultiNodeSlurmCluster, provider: SlurmProvider) -> None:
    assert len(provider.resources) == 1
    job_id = next(iter(provider.resources))
    shown = cluster.run("scontrol", "show", "job", job_id).stdout
    assert f"NumNodes={NODES} " in shown, shown
    assert f"NodeList={cluster.prefix}n[1-{NODES}]" in shown, shown


def assert_encrypted(htex: HighThroughputExecutor) -> None:
    """The interchange runs with CurveZMQ: a private certificates directory holding the server's secret."""
    assert htex.encrypted
    assert_certificates(Path(htex.cert_dir))


def assert_certificates(cert_dir: Path) -> None:
    """``cert_dir`` is private and holds the CurveZMQ key pairs of the interchange and its workers."""
    assert stat.S_IMODE(cert_dir.stat().st_mode) == 0o700
    assert (cert_dir / "server.key_secret").is_file() and (cert_dir / "client.key_secret").is_file()


def test_htex_block_spans_both_nodes(cluster, load_dfk):
    """A plain HTEX (workers found on PATH) with an encrypted interchange runs tasks on both nodes."""
    provider = block_provider(cluster)
    htex = HighThroughputExecutor(
        label="multinode",
        address=cluster.login_address,
        encrypted=True,
        max_workers_per_node=2,
        heartbeat_period=2,
        provider=provider,
        # the submit side may run without the venv activated; the workers find theirs on PATH
        interchange_launch_cmd=[sys.executable, "-m", "parsl.executors.high_throughput.interchange"],
    )
    load_dfk(htex)
    started = time.monotonic()
    wait_for(lambda: len(htex.connected_managers()) == NODES, f"managers on {cluster.nodes}")
    print(f"\nmanagers on {cluster.nodes} registered after {time.monotonic() - started:.1f} s")
    assert_block_spans_nodes(cluster, provider)
    assert_encrypted(htex)

    app = python_app(host_after, executors=["multinode"])
    hosts = collections.Counter(f.result(timeout=60) for f in [app(PAUSE_S) for _ in range(TASKS)])
    print(f"HTEX tasks per host: {dict(hosts)}")
    assert set(hosts) == set(cluster.nodes), hosts
    assert cluster.hostname not in hosts
    assert sum(hosts.values()) == TASKS


# -- a QuantumPilotExecutor pilot on the cluster -------------------------------------------------------
@pytest.fixture(scope="module")
def pilot_run(cluster, tmp_path_factory):
    """Run a pilot whose block spans both nodes with ``--mem``; what it reported, then its teardown."""
    provider = block_provider(cluster, mem_per_node=JOB_MEMORY_GB)
    pilot = PilotDescription(
        name="nodes",
        kind="cpu",
        backend="aer",
        workers=1,
        provider=provider,
        executor_options={"address": cluster.login_address},
    )
    qex = QuantumPilotExecutor(label="quantum", pilots=[pilot])
    dfk = parsl.load(Config(executors=[qex], run_dir=str(tmp_path_factory.mktemp("runinfo"))))
    try:
        started = time.monotonic()
        wait_for(lambda: qex.pilots["nodes"].workers >= NODES, f"the pilot's workers on {NODES} nodes")
        print(f"\npilot workers on {NODES} nodes after {time.monotonic() - started:.1f} s")
        app = python_app(where_and_how_wide, executors=["quantum"])
        results = [f.result(timeout=120) for f in [app(PAUSE_S) for _ in range(TASKS)]]
        # Q-Dreamer measures the pilot through tasks on its nodes: calibration, then the probes a plan of
        # a circuit wider than the calibrated ones needs (every candidate weighed, so whole is probed; at 22
        # qubits the state dominates its time, however the calibration of a loaded machine came out)
        before = time.time()
        dreamer = QDreamer(prune=False)
        dreamer.calibrate(qex, max_width=10)
        circuit = efficient_su2(22, entanglement="linear", reps=1)
        circuit = circuit.assign_parameters([0.3] * circuit.num_parameters)
        dreamer.plan(circuit, "Z" * 22, qex)
        planner_records = [r for r in qex.metrics() if r.submit >= before]
        run = {
            "results": results,
            "status": qex.pilots["nodes"],
            "records": [r for r in qex.metrics() if r.submit < before],
            "planner_records": planner_records,
            "run_dir": dfk.run_dir,
            "provider": provider,
        }
        assert_block_spans_nodes(cluster, provider)
    finally:
        dfk.cleanup()
        parsl.clear()
    run["jobs_after_cleanup"] = cluster.jobs()
    print(
        f"pilot tasks per host: {dict(collections.Counter(r['host'] for r in results))}; workers saw "
        f"{sorted({(r['job_mem_mb'], r['qubits']) for r in results})} (SLURM_MEM_PER_NODE MB, qubits); "
        f"pilot reports qubits={run['status'].qubits}; login host {cluster.hostname}"
    )
    return run


def test_pilot_tasks_run_on_both_compute_nodes_never_the_login_side(cluster, pilot_run):
    hosts = collections.Counter(r["host"] for r in pilot_run["results"])
    assert set(hosts) == set(cluster.nodes), hosts
    assert cluster.hostname not in hosts
    assert {r.host for r in pilot_run["records"]} == set(cluster.nodes)
    assert all(r.pilot == "nodes" and r.outcome == "success" for r in pilot_run["records"])


def test_calibration_and_probes_run_on_the_compute_nodes(cluster, pilot_run):
    records = pilot_run["planner_records"]
    names = collections.Counter(r.name for r in records)
    # calibration always runs there; whether the plan probes depends on what calibration measured (under
    # the parallel test load, the state's share of a 22-qubit run can come out too small to probe): every
    # planner task, the probe included when there is one, ran on the compute nodes
    assert {"noop", "time_circuits", "worker_host"} <= set(names), names
    assert all(r.outcome == "success" and r.pilot == "nodes" for r in records)
    assert {r.host for r in records} <= set(cluster.nodes), {r.host for r in records}


def test_pilot_interchange_is_encrypted(pilot_run):
    """The pilot's HTEX (labelled ``<executor>-<pilot>``) made CurveZMQ certificates for its interchange."""
    cert_dirs = list(Path(pilot_run["run_dir"]).rglob("quantum-nodes/certificates"))
    assert len(cert_dirs) == 1, list(Path(pilot_run["run_dir"]).rglob("certificates"))
    assert_certificates(cert_dirs[0])


def test_job_memory_limit_reaches_the_workers(pilot_run):
    """``--mem`` is exported into the job as ``SLURM_MEM_PER_NODE`` (MB) on every node."""
    assert {r["job_mem_mb"] for r in pilot_run["results"]} == {str(JOB_MEMORY_GB * 1024)}


def test_workers_size_the_device_from_the_job_memory(pilot_run):
    """The device a worker builds is as wide as the job's memory allows, not the node's total.

    Needs ``parsl_quantum.devices.hardware.job_memory_bytes`` (``SLURM_MEM_PER_NODE`` first) in the
    devices' width.
    """
    expected = max_statevector_qubits(JOB_MEMORY_GB * 2**30)
    assert {r["qubits"] for r in pilot_run["results"]} == {expected}


def test_pilot_reports_the_width_its_workers_found(pilot_run):
    """The pilot's width comes from its workers (the job's memory), not from the login host's memory.

    Needs the executor to describe a pilot by a probe on its workers.
    """
    expected = max_statevector_qubits(JOB_MEMORY_GB * 2**30)
    assert expected < max_statevector_qubits(host_memory_bytes())  # what the login host would have said
    assert pilot_run["status"].qubits == expected


def test_blocks_are_released_at_shutdown(pilot_run):
    assert [j for j in pilot_run["jobs_after_cleanup"] if j["state"] != "COMPLETING"] == []
