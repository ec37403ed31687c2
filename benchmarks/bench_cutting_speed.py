"""Cutting speed: Q-Dreamer's plan and run against the qiskit-addon-cutting flow, planning included.

The circuit is efficient_su2 on 26 qubits with linear entanglement and reps=1, the observable Z on qubit
0, at the precision of running it whole with 4,096 shots (a standard error of 1/64), 2 workers. Every
way runs the same shots: Q-Dreamer's plan sets the shots per subsystem for that precision, and each
baseline spreads the same total over its subexperiments. In the same run, alternating:

- parsl-quantum, *cold*: ``QDreamer.plan`` then ``submit`` of a structure it never saw (the pilot's
  calibration is a one-time cost, reported separately; the profile keeps nothing from earlier repeats);
- parsl-quantum, *warm*: the same structure with new parameter values (a variational loop's next step);
- the tuned serial flow: the addon's ``find_cuts``, ``cut_wires``, ``expand_observables``,
  ``partition_problem``, ``generate_cutting_experiments``, then ``AerSimulator.run`` with the Aer
  options parsl-quantum uses (shot branching on, one batched call per subsystem), and
  ``reconstruct_expectation_values``, in one process; *warm*: the same with new parameter values and the
  cut found before reused (``cut_gates`` at the same gates, no search);
- the tuned flow with each subexperiment's mid-circuit measurements deferred onto ancillas, as
  parsl-quantum's Aer device does (``drop_unobserved_gates`` then ``defer_to_end``): not asked for by the
  issue, but a well-informed user could do it, so it shows how much of the speedup is that rewrite and
  how much is running fragments in parallel;
- the same deferred flow with each subexperiment's counts drawn from its measured qubits' marginal, as
  parsl-quantum's Aer device draws them (``marginal_form``), each with Aer running one subsystem at a
  time or two experiments at once: the *strongest serial flow* is the fastest of these four deferred
  flows, cold and warm;
- for the warm step also the serial flow a variational loop would keep (:class:`TemplateFlow`): the
  subexperiments generated once from the parametrised circuit and only bound at each step;
- the plain tutorial flow: the same steps with ``transpile`` and Aer's ``SamplerV2`` at its defaults.

Figures: medians over the repeats and their ratios. Targets (issue 10): cold >= 1.3x the tuned flow;
warm >= 1.5x the tuned flow with its cut reused; >= 1.7x the plain tutorial flow; (issue 16) cold >=
1.3x and warm >= 1.6x the strongest serial flow. On 2 cores, parallelism alone caps each at 2x. Every
value is checked against the exact one (matrix product states).

Also measured: the CPU each run needs, over all its processes (ours: the submitting process, the
interchange, the pilots' pool managers and workers; a serial flow: its one process), and the wall-time
floors that CPU sets on this host's cores (``cpu_ms``).

Also run: a 34-qubit circuit of the same family (a 256 GiB statevector) planned and run by cutting,
checked against Aer's ``matrix_product_state`` method.
"""

from __future__ import annotations

import argparse
import copy
import os
from functools import partial
from typing import Any

import numpy as np

from benchmarks.common import CpuMeter, Loaded, median, timed, write_result
from parsl_quantum.configs import local_config
from parsl_quantum.providers import PilotDescription
from parsl_quantum.q_dreamer import QDreamer

AER_OPTIONS = {"shot_branching_enable": True, "shot_branching_sampling_enable": True}

RUN_DIR = "/tmp/parsl-quantum-bench"

STRONGEST_COLD = ("tuned_deferred", "tuned_deferred_parallel", "tuned_marginal", "tuned_marginal_parallel")
"""The deferred serial flows; the strongest serial flow is the fastest of them (its ``_warm`` for warm)."""


def circuit(n: int, seed: int = 1) -> Any:
    from qiskit.circuit.library import efficient_su2

    qc = efficient_su2(n, entanglement="linear", reps=1)
    return qc.assign_parameters(angles(n, seed))


def find_gate_cuts(qc: Any, size: int) -> list[int]:
    """The gates ``find_cuts`` cuts for ``size``-qubit pieces (the baseline's search)."""
    from qiskit_addon_cutting import DeviceConstraints, OptimizationParameters, find_cuts

    _, metadata = find_cuts(
        qc, OptimizationParameters(seed=111), DeviceConstraints(qubits_per_subcircuit=size)
    )
    if any(kind != "Gate Cut" for kind, _ in metadata["cuts"]):
        raise RuntimeError(f"expected gate cuts only, got {metadata['cuts']}")
    return [index for _, index in metadata["cuts"]]


def ours(dreamer: Any, qc: Any, observable: str, executor: Any, shots: int) -> tuple[Any, float]:
    """Q-Dreamer's plan and run: the plan and the value."""
    plan = dreamer.plan(qc, observable, executor, shots=shots)
    return plan, float(plan.submit().result()[0])


def sampler_result(counts: list[dict[str, int]], shots: int) -> Any:
    """Counts of one subsystem's subexperiments as the ``SamplerResult`` the addon's reconstruction reads."""
    from qiskit.primitives import SamplerResult

    quasi = [{int(k.replace(" ", ""), 2): v / shots for k, v in c.items()} for c in counts]
    return SamplerResult(quasi_dists=quasi, metadata=[{} for _ in quasi])


def addon_flow(
    qc: Any,
    observable: str,
    shots_per_subsystem: int,
    gates: list[int] | None,
    tuned: bool,
    deferred: bool = False,
    parallel: bool = False,
    marginal: bool = False,
) -> tuple[float, dict[str, float]]:
    """The addon's flow, serially: find the cuts (unless ``gates`` were found before), cut, partition,
    generate, sample, reconstruct.

    ``tuned``: ``AerSimulator.run`` with parsl-quantum's Aer options, one call per subsystem; else the
    tutorial's ``transpile`` and ``SamplerV2`` at Aer's defaults. ``deferred`` (tuned only): each
    subexperiment's mid-circuit measurements deferred onto ancillas before it runs. ``parallel`` (tuned
    only): every subexperiment in one call with ``max_parallel_experiments=2``, so that Aer runs two
    circuits at once, one per core (by default it runs them one after another). ``marginal`` (deferred
    only): each subexperiment's counts drawn from its measured qubits' marginal, as parsl-quantum's Aer
    device draws them (:mod:`parsl_quantum.devices.marginal_sampling`), in one-shot Aer calls. Returns the
    value and seconds per step.
    """
    import time

    from qiskit import transpile
    from qiskit.quantum_info import PauliList
    from qiskit_addon_cutting import (
        cut_gates,
        cut_wires,
        expand_observables,
        generate_cutting_experiments,
        partition_problem,
        reconstruct_expectation_values,
    )
    from qiskit_aer import AerSimulator
    from qiskit_aer.primitives import SamplerV2

    from parsl_quantum.circuits.deferred_measurement import defer_to_end
    from parsl_quantum.circuits.normalize import drop_unobserved_gates
    from parsl_quantum.devices.marginal_sampling import draw_counts, marginal_form

    steps: dict[str, float] = {}
    start = time.perf_counter()
    if gates is None:
        gates = find_gate_cuts(qc, qc.num_qubits // 2)
    steps["find_cuts_s"] = time.perf_counter() - start
    start = time.perf_counter()
    observables = PauliList([observable])
    with_ancillas = cut_wires(cut_gates(qc, gates)[0])
    partitioned = partition_problem(
        circuit=with_ancillas, observables=expand_observables(observables, qc, with_ancillas)
    )
    subexperiments, coefficients = generate_cutting_experiments(
        circuits=partitioned.subcircuits, observables=partitioned.subobservables, num_samples=np.inf
    )
    steps["generate_s"] = time.perf_counter() - start
    start = time.perf_counter()
    shots = max(1, shots_per_subsystem // len(coefficients))  # the same total, spread evenly
    if tuned:
        backend = AerSimulator(**AER_OPTIONS, **({"max_parallel_experiments": 2} if parallel else {}))
        ready = {
            label: [defer_to_end(drop_unobserved_gates(c)) for c in circuits] if deferred else circuits
            for label, circuits in subexperiments.items()
        }
        if marginal:
            ready = {label: [marginal_form(c, shots) for c in circuits] for label, circuits in ready.items()}
            if any(form is None for forms in ready.values() for form in forms):
                raise RuntimeError("a subexperiment cannot be sampled from its marginal")
        batches = [[c for circuits in ready.values() for c in circuits]] if parallel else list(ready.values())
        counts = []
        for batch in batches:
            if marginal:
                counts.extend(draw_counts(backend, batch, shots, np.random.default_rng()))
                continue
            got = backend.run(batch, shots=shots).result().get_counts()
            counts.extend(got if isinstance(got, list) else [got])
        results, start_of = {}, 0
        for label, circuits in ready.items():
            mine = counts[start_of : start_of + len(circuits)]
            start_of += len(circuits)
            results[label] = sampler_result(mine, shots)
    else:
        backend = AerSimulator()
        sampler = SamplerV2()
        isa = {label: transpile(circuits, backend=backend) for label, circuits in subexperiments.items()}
        results = {label: sampler.run(circuits, shots=shots).result() for label, circuits in isa.items()}
    steps["sample_s"] = time.perf_counter() - start
    start = time.perf_counter()
    value = float(reconstruct_expectation_values(results, coefficients, partitioned.subobservables)[0])
    steps["reconstruct_s"] = time.perf_counter() - start
    return value, steps


class TemplateFlow:
    """The strongest serial flow for a variational loop: the addon's subexperiments generated once from
    the parametrised circuit at the cut found before, each deferred and put in marginal form once
    (:mod:`parsl_quantum.devices.marginal_sampling`), then at each step bound to the new angles, run in
    one-shot Aer calls (one per subsystem) and reconstructed. Its setup is timed apart (:attr:`setup_s`).
    """

    def __init__(self, n: int, observable: str, gates: list[int], shots_per_subsystem: int) -> None:
        import time

        from qiskit.circuit.library import efficient_su2
        from qiskit.quantum_info import PauliList
        from qiskit_addon_cutting import (
            cut_gates,
            cut_wires,
            expand_observables,
            generate_cutting_experiments,
            partition_problem,
        )
        from qiskit_aer import AerSimulator

        from parsl_quantum.circuits.deferred_measurement import defer_to_end
        from parsl_quantum.circuits.normalize import drop_unobserved_gates
        from parsl_quantum.devices.marginal_sampling import marginal_form

        start = time.perf_counter()
        template = efficient_su2(n, entanglement="linear", reps=1)
        self.names = [p.name for p in template.parameters]
        with_ancillas = cut_wires(cut_gates(template, gates)[0])
        observables = PauliList([observable])
        self.partitioned = partition_problem(
            circuit=with_ancillas, observables=expand_observables(observables, template, with_ancillas)
        )
        subexperiments, self.coefficients = generate_cutting_experiments(
            circuits=self.partitioned.subcircuits,
            observables=self.partitioned.subobservables,
            num_samples=np.inf,
        )
        self.shots = max(1, shots_per_subsystem // len(self.coefficients))
        self.forms = {
            label: [marginal_form(defer_to_end(drop_unobserved_gates(c)), self.shots) for c in circuits]
            for label, circuits in subexperiments.items()
        }
        if any(form is None for forms in self.forms.values() for form in forms):
            raise RuntimeError("a subexperiment cannot be sampled from its marginal")
        self.backend = AerSimulator(**AER_OPTIONS)
        self.setup_s = time.perf_counter() - start

    def step(self, values: np.ndarray) -> float:
        """The value at the angles ``values`` (in the circuit's parameter order)."""
        from qiskit_addon_cutting import reconstruct_expectation_values

        from parsl_quantum.devices.device import bind_all
        from parsl_quantum.devices.marginal_sampling import draw_counts

        assignment = dict(zip(self.names, values, strict=True))
        rng = np.random.default_rng()
        results = {}
        for label, forms in self.forms.items():
            bound = bind_all([form.circuit for form in forms], assignment)
            counts = draw_counts(self.backend, forms, self.shots, rng, bound)
            results[label] = sampler_result(counts, self.shots)
        return float(
            reconstruct_expectation_values(results, self.coefficients, self.partitioned.subobservables)[0]
        )


def angles(n: int, seed: int) -> np.ndarray:
    """The angles :func:`circuit` binds for ``seed``."""
    from qiskit.circuit.library import efficient_su2

    size = efficient_su2(n, entanglement="linear", reps=1).num_parameters
    return np.random.default_rng(seed).uniform(-np.pi, np.pi, size)


def exact_value(qc: Any, observable: str) -> float:
    """Exact expectation value from Aer's matrix product states (exact for this circuit)."""
    from qiskit_aer.primitives import EstimatorV2

    estimator = EstimatorV2(options={"backend_options": {"method": "matrix_product_state"}})
    return float(estimator.run([(qc, observable)]).result()[0].data.evs)


def beyond_memory(dreamer: Any, executor: Any, n: int) -> dict[str, Any]:
    """A circuit whose statevector does not fit this machine, planned and run by cutting, and checked
    against Aer's matrix product states (exact for it)."""
    import psutil

    qc = circuit(n, seed=7)
    observable = "I" * (n // 2 - 1) + "ZZ" + "I" * (n // 2 - 1)  # a correlator across the middle
    seconds, (plan, value) = timed(partial(ours_at_precision, dreamer, qc, observable, executor, 0.02))
    truth = exact_value(qc, observable)
    return {
        "qubits": n,
        "statevector_gib": 16 * 2.0**n / 2**30,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "plan": plan.label,
        "num_subexperiments": plan.num_subexperiments,
        "precision": 0.02,
        "plan_and_run_s": seconds,
        "value": value,
        "matrix_product_state_value": truth,
        "error_in_target_stderrs": abs(value - truth) / 0.02,
    }


def ours_at_precision(
    dreamer: Any, qc: Any, observable: str, executor: Any, precision: float
) -> tuple[Any, float]:
    """Q-Dreamer's plan for a precision, and its value."""
    plan = dreamer.plan(qc, observable, executor, precision=precision)
    return plan, float(plan.submit().result()[0])


def cpu_summary(
    cpu: dict[str, list[tuple[float, float]]], planning: dict[str, float]
) -> dict[str, dict[str, float]]:
    """Per flow, the CPU milliseconds of a run: the submitting process's (median), the pilots'
    processes' (mean; nothing for a serial flow), their total, and that total over the host's cores (a
    floor of the wall time, were every core busy with the flow alone). For ours also the floor when
    nothing runs while planning (as now: the tasks are submitted once the plan is chosen): the
    planning, on one core, then the rest of the CPU over all cores."""
    cores = os.cpu_count() or 1
    out = {}
    for kind, runs in cpu.items():
        if not runs:
            continue
        own = median([r[0] for r in runs])  # read to the nanosecond: a median, as for the times
        # the pilots' counters tick in 10 ms: the mean over the repeats (their median would round)
        pilots = sum(r[1] for r in runs) / len(runs) if kind in ("cold", "warm") else 0.0
        total = own + pilots
        out[kind] = {
            "submitting_process": round(own * 1e3, 1),
            "pilot_processes": round(pilots * 1e3, 1),
            "total": round(total * 1e3, 1),
            "floor_on_all_cores": round(total * 1e3 / cores, 1),
        }
        if kind in planning:
            plan = planning[kind]
            out[kind]["floor_planning_first"] = round((plan + max(total - plan, 0.0) / cores) * 1e3, 1)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--qubits", type=int, default=26)
    parser.add_argument("--shots", type=int, default=4096, help="per basis whole: sets the precision")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--beyond-qubits", type=int, default=34, help="a circuit too wide for memory")
    args = parser.parse_args(argv)
    n = args.qubits
    observable = "I" * (n - 1) + "Z"
    pilot = PilotDescription(
        name="cpu",
        kind="cpu",
        backend="aer",
        workers=args.workers,
        options={"max_parallel_threads": 1, "marginal_sampling": True},
    )
    config = local_config(pilots=[pilot], classical_workers=0, run_dir=RUN_DIR)
    executor = config.executors[0]
    kinds = (
        "cold",
        "warm",
        "tuned",
        "tuned_warm",
        "tuned_deferred",
        "tuned_deferred_warm",
        "tuned_deferred_parallel",
        "tuned_deferred_parallel_warm",
        "tuned_marginal",
        "tuned_marginal_warm",
        "tuned_marginal_parallel",
        "tuned_marginal_parallel_warm",
        "template_warm",
        "tutorial",
    )
    times: dict[str, list[float]] = {k: [] for k in kinds}
    planning: dict[str, list[float]] = {"cold": [], "warm": []}
    predicted: list[float] = []
    errors: dict[str, list[float]] = {k: [] for k in times}
    steps: list[dict[str, float]] = []
    template_setup: list[float] = []
    # CPU seconds per run: (the submitting process, the pilots' processes) for ours; the serial flows
    # run in the submitting process alone
    cpu: dict[str, list[tuple[float, float]]] = {k: [] for k in ("cold", "warm", *STRONGEST_COLD)}
    cpu.update({f"{k}_warm": [] for k in STRONGEST_COLD})

    def metered(kind: str, fn: Any) -> tuple[float, Any]:
        before = meter.seconds()
        seconds, value = timed(fn)
        after = meter.seconds()
        cpu[kind].append((after[0] - before[0], after[1] - before[1]))
        return seconds, value

    with Loaded(*config.executors):
        executor.wait_for_pilots()
        calibrator = QDreamer()
        calibration_s, profile = timed(lambda: calibrator.calibrate(executor))
        warmup = QDreamer(copy.deepcopy(profile)).plan(circuit(10), "Z" * 10, executor, shots=256)
        warmup.submit().result()  # workers import the fragment code once
        meter = CpuMeter(RUN_DIR)
        for repeat in range(args.repeats):
            seeds = (100 + 2 * repeat, 101 + 2 * repeat)
            cold_qc, warm_qc = circuit(n, seeds[0]), circuit(n, seeds[1])
            truths = {qc_seed: exact_value(circuit(n, qc_seed), observable) for qc_seed in seeds}
            dreamer = QDreamer(copy.deepcopy(profile))  # nothing kept from earlier repeats
            seconds, (plan, value) = metered(
                "cold", partial(ours, dreamer, cold_qc, observable, executor, args.shots)
            )
            times["cold"].append(seconds)
            planning["cold"].append(plan.planning_s)
            predicted.append(plan.predicted_makespan_s + plan.planning_s)
            errors["cold"].append(abs(value - truths[seeds[0]]) / plan.target_stderr)
            seconds, (warm_plan, value) = metered(
                "warm", partial(ours, dreamer, warm_qc, observable, executor, args.shots)
            )
            times["warm"].append(seconds)
            planning["warm"].append(warm_plan.planning_s)
            errors["warm"].append(abs(value - truths[seeds[1]]) / plan.target_stderr)
            shots = plan.shots if plan.cut else 9 * args.shots  # the same shots per subsystem
            seconds, (value, parts) = timed(partial(addon_flow, cold_qc, observable, shots, None, True))
            times["tuned"].append(seconds)
            steps.append(parts)
            errors["tuned"].append(abs(value - truths[seeds[0]]) / plan.target_stderr)
            gates = find_gate_cuts(cold_qc, n // 2)  # found before: the warm baseline reuses it
            seconds, (value, _) = timed(partial(addon_flow, warm_qc, observable, shots, gates, True))
            times["tuned_warm"].append(seconds)
            errors["tuned_warm"].append(abs(value - truths[seeds[1]]) / plan.target_stderr)
            for kind, qc_seed, found, parallel, marginal in (
                ("tuned_deferred", 0, None, False, False),
                ("tuned_deferred_warm", 1, gates, False, False),
                ("tuned_deferred_parallel", 0, None, True, False),
                ("tuned_deferred_parallel_warm", 1, gates, True, False),
                ("tuned_marginal", 0, None, False, True),
                ("tuned_marginal_warm", 1, gates, False, True),
                ("tuned_marginal_parallel", 0, None, True, True),
                ("tuned_marginal_parallel_warm", 1, gates, True, True),
            ):
                qc = (cold_qc, warm_qc)[qc_seed]
                seconds, (value, _) = metered(
                    kind, partial(addon_flow, qc, observable, shots, found, True, True, parallel, marginal)
                )
                times[kind].append(seconds)
                errors[kind].append(abs(value - truths[seeds[qc_seed]]) / plan.target_stderr)
            flow = TemplateFlow(n, observable, gates, shots)  # set up at the cold step's cut
            template_setup.append(flow.setup_s)
            seconds, value = timed(partial(flow.step, angles(n, seeds[1])))
            times["template_warm"].append(seconds)
            errors["template_warm"].append(abs(value - truths[seeds[1]]) / plan.target_stderr)
            seconds, (value, _) = timed(partial(addon_flow, cold_qc, observable, shots, None, False))
            times["tutorial"].append(seconds)
            errors["tutorial"].append(abs(value - truths[seeds[0]]) / plan.target_stderr)
        beyond = beyond_memory(QDreamer(copy.deepcopy(profile)), executor, args.beyond_qubits)
    m = {k: median(v) for k, v in times.items()}
    return write_result(
        "cutting_speed",
        {
            "qubits": n,
            "observable": "Z on qubit 0",
            "precision": plan.target_stderr,
            "shots_per_subsystem": shots,
            "workers": args.workers,
            "repeats": args.repeats,
            "plan_chosen": plan.label,
            "calibration_s": round(calibration_s, 1),
            "seconds": times,
            "median_s": m,
            "planning_s": {k: median(v) for k, v in planning.items()},
            "predicted_plan_and_run_s": median(predicted),
            "baseline_steps_s": {k: median([s[k] for s in steps]) for k in steps[0]},
            "speedup_cold_vs_tuned": round(m["tuned"] / m["cold"], 2),
            "speedup_warm_vs_tuned_cut_reused": round(m["tuned_warm"] / m["warm"], 2),
            "speedup_warm_vs_tutorial": round(m["tutorial"] / m["warm"], 2),
            "speedup_cold_vs_tutorial": round(m["tutorial"] / m["cold"], 2),
            "speedup_cold_vs_tuned_deferred": round(m["tuned_deferred"] / m["cold"], 2),
            "speedup_warm_vs_tuned_deferred_cut_reused": round(m["tuned_deferred_warm"] / m["warm"], 2),
            # the strongest serial flow: the fastest of the deferred flow's four settings (Aer's sampler or
            # the marginal's, one Aer call per subsystem or two experiments at once), by median
            "speedup_cold_vs_strongest": round(min(m[k] for k in STRONGEST_COLD) / m["cold"], 2),
            "speedup_warm_vs_strongest_cut_reused": round(
                min(m[f"{k}_warm"] for k in STRONGEST_COLD) / m["warm"], 2
            ),
            "speedup_warm_vs_template_flow": round(m["template_warm"] / m["warm"], 2),
            "template_flow_setup_s": median(template_setup),
            # how much faster two of the pilot's workers go than one, measured by calibration: what two
            # workers can gain at most over one process on this host
            "workers_parallel_slowdown": round(profile.pilots["cpu"].parallel_slowdown, 3),
            "worst_error_in_target_stderrs": {k: round(max(v), 2) for k, v in errors.items()},
            # CPU milliseconds per run, all processes of the flow, and the least wall time that CPU
            # allows on this host's cores
            "cpu_ms": cpu_summary(cpu, {k: median(v) for k, v in planning.items()}),
            "cpus": os.cpu_count(),
            "beyond_memory": beyond,
            "targets": {
                "speedup_cold_vs_tuned": ">= 1.3",
                "speedup_warm_vs_tuned_cut_reused": ">= 1.5",
                "speedup_warm_vs_tutorial": ">= 1.7",
                "speedup_cold_vs_strongest": ">= 1.3",
                "speedup_warm_vs_strongest_cut_reused": ">= 1.6",
            },
        },
    )


if __name__ == "__main__":
    main()
