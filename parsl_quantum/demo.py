"""The main demo (``make demo``, ``parsl-quantum demo``): one workload over simulator and QPU pilots.

It loads the embedded default configuration (two CPU simulator workers on ``aer`` and an offline noisy
emulator of IBM Torino) and submits a sweep of GHZ-parity tasks that may run on any pilot, plus a few
tasks that need a noiseless device. Late binding decides, task by task, which pilot runs what; the
demo prints that decision, the answers against the exact values, and where the time went: the same
headline, from the same task records, as the run report it writes (warm-up tasks set apart in both).
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from parsl_quantum.configs import local_config
from parsl_quantum.motifs import quantum_app
from parsl_quantum.progress import wait_with_progress
from parsl_quantum.report import ReportDependencyError, write_report
from parsl_quantum.report.summary import summarise
from parsl_quantum.report.wording import plural

SHOTS = 20_000
"""Shots per task: enough that a simulator task takes ~15 ms here, the emulator's ~80 ms."""


def parity(theta, device):
    """<ZZZ> of cos(theta/2)|000> + sin(theta/2)|111> on ``device``, exactly cos(theta)."""
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(3, name="ghz_parity")
    qc.ry(theta, 0)
    qc.cx(0, 1)
    qc.cx(1, 2)
    return device.estimate(qc, "ZZZ", shots=SHOTS)


@quantum_app(executors=["quantum"], qubits=3, shots=SHOTS)
def ghz_parity(theta, *, device):
    """<ZZZ> of cos(theta/2)|000> + sin(theta/2)|111>, exactly cos(theta): a task of the sweep."""
    return parity(theta, device)


@quantum_app(executors=["quantum"], qubits=3, shots=SHOTS)
def warm_up(*, device):
    """A worker's first task: it builds the pilot's device and runs the sweep's circuit once, so that no
    task of the sweep pays for start-up. The run report knows tasks of this name as warm-up
    (:data:`parsl_quantum.report.roles.OVERHEAD_ROLES`) and counts them apart from the sweep."""
    return parity(0.0, device)


def run_demo(tasks: int = 32, report_dir: str | None = None) -> dict:
    """Run the demo, print what happened and write the run's report.

    Parameters
    ----------
    tasks
        Circuits in the parameter sweep (4 more tasks need a noiseless device; one warm-up task per
        worker comes first).
    report_dir
        Where to write the report; default ``<run_dir>/report`` (Parsl's run directory of the demo).

    Returns
    -------
    dict
        ``rows`` (per task: pilot, value, exact value, need) and ``report`` (the written
        :class:`~parsl_quantum.report.Report`, ``None`` without matplotlib).
    """
    import parsl

    config = local_config()
    executor = config.executors[0]
    print("parsl-quantum demo: late binding over CPU simulator and noisy QPU emulator pilots")
    for description in executor.pilot_descriptions:
        d = description
        print(f"  pilot {d.name:4}: {d.kind} {d.backend}, {plural(d.workers, 'worker')}")
    dfk = parsl.load(config)
    try:
        print(f"pilots up in {executor.wait_for_pilots():.1f} s (workers started, devices described)")
        print(
            f"policy {executor.policy}: a task goes to the slower QPU emulator only when the simulators' "
            "queue would make it finish later"
        )
        warm = time.perf_counter()
        wait_with_progress(
            [
                warm_up(parsl_resource_specification={"pilot": d.name})
                for d in executor.pilot_descriptions
                for _ in range(d.workers)
            ],
            "warm-up tasks",
        )
        print(f"warm-up: each worker built its device once, {time.perf_counter() - warm:.1f} s")
        thetas = np.linspace(0, 2 * math.pi, tasks)
        submitted = [(t, "any", ghz_parity(t)) for t in thetas]
        submitted += [
            (t, "fidelity", ghz_parity(t, parsl_resource_specification={"min_fidelity": 0.999}))
            for t in thetas[:4]
        ]
        wait_with_progress([f for *_, f in submitted], "tasks")
        records = executor.metrics()  # every task of this executor: the sweep's and the warm-up's
        status = executor.pilots
    finally:
        dfk.cleanup()
        parsl.clear()
    run_dir = dfk.run_dir
    rows = []
    print(
        f"\n{'task':>4} {'theta':>6} {'needs':>9} {'pilot':>5} {'backend':>12} {'wait s':>7} {'run s':>6} "
        f"{'<ZZZ>':>7} {'exact':>7}"
    )
    by_id = {r.parsl_task_id: r for r in records}
    for theta, need, future in submitted:
        record = by_id[future.tid]
        value = future.result()
        rows.append({"pilot": record.pilot, "value": value, "exact": math.cos(theta), "need": need})
        print(
            f"{record.task_id:>4} {theta:6.3f} {need:>9} {record.pilot:>5} {record.backend:>12} "
            f"{record.queue_wait:7.3f} {record.run_time:6.3f} {value:7.3f} {math.cos(theta):7.3f}"
        )
    print("\nper pilot:")
    for name, pilot in status.items():
        mine = [r for r in rows if r["pilot"] == name]
        error = np.mean([abs(r["value"] - r["exact"]) for r in mine]) if mine else None
        print(
            f"  {name:4} ({pilot.backend}, fidelity {pilot.fidelity:.4f}): {plural(len(mine), 'task')}"
            + (f", mean |<ZZZ> - exact| = {error:.3f}" if error is not None else "")
        )
    print()
    print(summarise(records))
    try:
        report = write_report(run_dir, report_dir or os.path.join(run_dir, "report"))
    except ReportDependencyError as exc:
        print(f"\nno run report: {exc}")
        return {"rows": rows, "report": None}
    print(f"\n{report}")
    print(f"open {report.html} in a browser: every chart is inside that one file")
    return {"rows": rows, "report": report}
