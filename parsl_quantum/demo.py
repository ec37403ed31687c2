"""The main demo (``make demo``, ``parsl-quantum demo``): one workload over simulator and QPU pilots.

It loads the embedded default configuration (two CPU simulator workers on ``aer`` and an offline noisy
emulator of IBM Torino) and submits a sweep of GHZ-parity tasks that may run on any pilot, plus a few
tasks that need a noiseless device. Late binding decides, task by task, which pilot runs what; the
demo prints that decision, the answers against the exact values, and where the time went.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from parsl_quantum.configs import local_config
from parsl_quantum.motifs import TimeBreakdown, quantum_app
from parsl_quantum.progress import wait_with_progress
from parsl_quantum.report import ReportDependencyError, write_report

SHOTS = 20_000
"""Shots per task: enough that a simulator task takes ~15 ms here, the emulator's ~80 ms."""


@quantum_app(executors=["quantum"], qubits=3, shots=SHOTS)
def ghz_parity(theta, *, device):
    """<ZZZ> of cos(theta/2)|000> + sin(theta/2)|111>, exactly cos(theta)."""
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(3, name="ghz_parity")
    qc.ry(theta, 0)
    qc.cx(0, 1)
    qc.cx(1, 2)
    return device.estimate(qc, "ZZZ", shots=SHOTS)


def run_demo(tasks: int = 32, report_dir: str | None = None) -> dict:
    """Run the demo, print what happened and write the run's report.

    Parameters
    ----------
    tasks
        Circuits in the parameter sweep.
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
        print(f"  pilot {d.name:4}: {d.kind} {d.backend}, {d.workers} worker(s)")
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
                ghz_parity(0.0, parsl_resource_specification={"pilot": d.name})
                for d in executor.pilot_descriptions
                for _ in range(d.workers)
            ],
            "warm-up tasks",
        )
        print(f"warm-up: each worker built its device once, {time.perf_counter() - warm:.1f} s")
        start = time.perf_counter()
        since = time.time()
        thetas = np.linspace(0, 2 * math.pi, tasks)
        submitted = [(t, "any", ghz_parity(t)) for t in thetas]
        submitted += [
            (t, "fidelity", ghz_parity(t, parsl_resource_specification={"min_fidelity": 0.999}))
            for t in thetas[:4]
        ]
        wait_with_progress([f for *_, f in submitted], "tasks")
        wall = time.perf_counter() - start
        records = {r.parsl_task_id: r for r in executor.metrics() if r.submit >= since}
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
    for theta, need, future in submitted:
        record = records[future.tid]
        value = future.result()
        rows.append({"pilot": record.pilot, "value": value, "exact": math.cos(theta), "need": need})
        print(
            f"{record.task_id:>4} {theta:6.3f} {need:>9} {record.pilot:>5} {record.backend:>12} "
            f"{record.queue_wait:7.3f} {record.run_time:6.3f} {value:7.3f} {math.cos(theta):7.3f}"
        )
    print("\nper pilot:")
    for name, pilot in status.items():
        mine = [r for r in rows if r["pilot"] == name]
        error = np.mean([abs(r["value"] - r["exact"]) for r in mine]) if mine else float("nan")
        print(
            f"  {name:4} ({pilot.backend}, fidelity {pilot.fidelity:.4f}): {len(mine)} tasks, "
            f"mean |<ZZZ> - exact| = {error:.3f}"
        )
    print()
    print(TimeBreakdown.from_records(records.values(), wall))
    try:
        report = write_report(run_dir, report_dir or os.path.join(run_dir, "report"))
    except ReportDependencyError as exc:
        print(f"\nno run report: {exc}")
        return {"rows": rows, "report": None}
    print(f"\n{report}")
    print(f"open {report.html} in a browser: every chart is inside that one file")
    return {"rows": rows, "report": report}
