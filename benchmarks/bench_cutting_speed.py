"""Cutting speed: Q-Dreamer's plan and run against the qiskit-addon-cutting tutorial flow, and whole.

The circuit is efficient_su2 on 26 qubits with linear entanglement and reps=1, the observable Z on every
qubit, 4,096 shots per subexperiment (as in the tutorial), 2 workers. Three ways, in the same run:

- parsl-quantum: ``QDreamer.plan`` then ``plan.submit()`` on a CPU pilot of 2 workers, timed from the
  call to ``plan`` to the values (the pilot's calibration is a one-time cost, done beforehand and
  reported separately);
- the tutorial flow, serially in one process: ``find_cuts`` to 13-qubit subcircuits, ``cut_wires``,
  ``expand_observables``, ``partition_problem``, ``generate_cutting_experiments``, transpiling for Aer,
  Aer's ``SamplerV2`` with 4,096 shots per subexperiment, ``reconstruct_expectation_values``;
- the whole circuit on Aer (``AerSimulator`` defaults, all cores), 4,096 shots.

Targets: at least 1.7x faster than the tutorial flow, and faster than the whole circuit. Also reported:
the three values against the exact expectation value, and the tutorial flow with Aer's shot branching
turned on (how much of the difference the simulator settings alone explain).
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import numpy as np

from benchmarks.common import Loaded, timed, write_result
from parsl_quantum.configs import local_config
from parsl_quantum.providers import PilotDescription
from parsl_quantum.q_dreamer import QDreamer


def circuit(n: int, seed: int = 1) -> Any:
    from qiskit.circuit.library import efficient_su2

    qc = efficient_su2(n, entanglement="linear", reps=1)
    return qc.assign_parameters(np.random.default_rng(seed).uniform(-np.pi, np.pi, qc.num_parameters))


def tutorial_flow(qc: Any, observable: str, shots: int, size: int, **aer_options: Any) -> float:
    """The qiskit-addon-cutting tutorial, serially: cut, generate, transpile, sample, reconstruct."""
    from qiskit import transpile
    from qiskit.quantum_info import PauliList
    from qiskit_addon_cutting import (
        DeviceConstraints,
        OptimizationParameters,
        cut_wires,
        expand_observables,
        find_cuts,
        generate_cutting_experiments,
        partition_problem,
        reconstruct_expectation_values,
    )
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import SamplerV2

    observables = PauliList([observable])
    cut_circuit, _ = find_cuts(
        qc, OptimizationParameters(seed=111), DeviceConstraints(qubits_per_subcircuit=size)
    )
    with_ancillas = cut_wires(cut_circuit)
    partitioned = partition_problem(
        circuit=with_ancillas, observables=expand_observables(observables, qc, with_ancillas)
    )
    subexperiments, coefficients = generate_cutting_experiments(
        circuits=partitioned.subcircuits, observables=partitioned.subobservables, num_samples=np.inf
    )
    backend = AerSimulator(**aer_options)
    isa = {label: transpile(circuits, backend=backend) for label, circuits in subexperiments.items()}
    sampler = SamplerV2(options={"backend_options": aer_options} if aer_options else None)
    results = {label: sampler.run(circuits, shots=shots).result() for label, circuits in isa.items()}
    return float(reconstruct_expectation_values(results, coefficients, partitioned.subobservables)[0])


def whole_circuit(qc: Any, observable: str, shots: int) -> float:
    """The whole circuit on Aer with its defaults: sample, and the parity of the sampled bits."""
    from qiskit import transpile
    from qiskit_aer import AerSimulator

    measured = qc.copy()
    measured.measure_all()
    backend = AerSimulator()
    counts = backend.run(transpile(measured, backend), shots=shots).result().get_counts()
    return sum((-1) ** key.count("1") * c for key, c in counts.items()) / shots


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qubits", type=int, default=26)
    parser.add_argument("--shots", type=int, default=4096, help="per subexperiment")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    qc, observable = circuit(args.qubits), "Z" * args.qubits
    pilot = PilotDescription(
        name="cpu", kind="cpu", backend="aer", workers=args.workers, options={"max_parallel_threads": 1}
    )
    config = local_config(pilots=[pilot], classical_workers=0, run_dir="/tmp/parsl-quantum-bench")
    executor = config.executors[0]
    ours, tutorial, branching, whole = [], [], [], []
    with Loaded(*config.executors):
        executor.wait_for_pilots()
        dreamer = QDreamer()
        calibration_s, _ = timed(lambda: dreamer.calibrate(executor))
        warm = dreamer.plan(circuit(10), "Z" * 10, executor, shots=256)
        warm.submit().result()  # workers load the fragment code once
        # the tutorial gives every subexperiment 4,096 shots: a cut of one CX gate has 6 of them per subsystem
        per_subsystem = 6 * args.shots
        for _ in range(args.repeats):

            def plan_and_run() -> tuple[Any, float]:
                plan = dreamer.plan(qc, observable, executor, shots=per_subsystem)
                return plan, float(plan.submit().result()[0])

            seconds, (plan, value_ours) = timed(plan_and_run)
            ours.append(seconds)
            seconds, value_tutorial = timed(
                lambda: tutorial_flow(qc, observable, args.shots, args.qubits // 2)
            )
            tutorial.append(seconds)
            seconds, _ = timed(
                lambda: tutorial_flow(
                    qc,
                    observable,
                    args.shots,
                    args.qubits // 2,
                    shot_branching_enable=True,
                    shot_branching_sampling_enable=True,
                )
            )
            branching.append(seconds)
            seconds, value_whole = timed(lambda: whole_circuit(qc, observable, args.shots))
            whole.append(seconds)
    from parsl_quantum.providers import get_device

    exact = float(get_device("aer").estimate(qc, observable))
    ours_s, tutorial_s = statistics.median(ours), statistics.median(tutorial)
    whole_s, branching_s = statistics.median(whole), statistics.median(branching)
    return write_result(
        "cutting_speed",
        {
            "qubits": args.qubits,
            "shots_per_subexperiment": args.shots,
            "workers": args.workers,
            "plan_chosen": plan.label,
            "plan_predicted_makespan_s": round(plan.predicted_makespan_s, 3),
            "planning_s": round(plan.planning_s, 3),
            "calibration_s": round(calibration_s, 1),
            "parsl_quantum_s": ours,
            "tutorial_serial_s": tutorial,
            "tutorial_serial_with_shot_branching_s": branching,
            "whole_aer_s": whole,
            "speedup_vs_tutorial": round(tutorial_s / ours_s, 2),
            "speedup_vs_whole": round(whole_s / ours_s, 2),
            "speedup_vs_tutorial_with_shot_branching": round(branching_s / ours_s, 2),
            "values": {
                "parsl_quantum": value_ours,
                "tutorial": value_tutorial,
                "whole": value_whole,
                "exact": exact,
            },
            "targets": {"speedup_vs_tutorial": ">= 1.7", "speedup_vs_whole": "> 1"},
        },
    )


if __name__ == "__main__":
    main()
