"""What a candidate costs: the predicted makespan of running a circuit whole or cut, at the shots its
target precision needs.

The prediction follows what would run:

- whole: one task sampling the circuit in each measurement basis of the observables and turning the
  counts into values, on the pilot where it finishes first;
- cut: the subexperiments grouped into fragments exactly as
  :func:`~parsl_quantum.q_dreamer.planning.rewrite.fragments` will group them (each fragment also
  processing its outcomes), scheduled on the pilots' slots as ``earliest_finish`` binds them, plus
  packing and the reconstruction task on the submitting host.

Either way every task pays what calibration measured with no-op tasks through the executor (sending it,
the slot it holds beyond its work, its result's way back; the reconstruction task its launch), and waits
for the work already ahead on the pilots (:func:`~parsl_quantum.q_dreamer.model.schedule.backlog`).

Circuit times come from the pilots' calibrated models, anchored by a probe of the circuit at hand
(:mod:`~parsl_quantum.q_dreamer.model.probe`) where the profile has no measurement of its structure yet;
the distinct outcomes the processing is costed for come from the same probe
(:func:`whole_outcomes`, :func:`expected_outcomes`). Errors and the shots that reach them, whole and
cut, are :mod:`~parsl_quantum.q_dreamer.precision`'s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from parsl_quantum.circuits.estimation import group_paulis
from parsl_quantum.q_dreamer.model.models import CircuitFeatures, PilotModel, ReconstructionModel
from parsl_quantum.q_dreamer.model.outcomes import distinct_outcomes, seen_outcomes
from parsl_quantum.q_dreamer.model.probe import PROBE_SHOTS, Prober
from parsl_quantum.q_dreamer.model.schedule import contention, schedule
from parsl_quantum.q_dreamer.planning.candidates import Prediction
from parsl_quantum.q_dreamer.planning.decompose import CutProblem
from parsl_quantum.q_dreamer.planning.reconstruct import batches_for, outcome_groups
from parsl_quantum.q_dreamer.planning.rewrite import fragments
from parsl_quantum.q_dreamer.precision import Target, allocate_shots, cut_stderr, whole_stderr


def measured_whole(circuit: Any) -> Any:
    """``circuit`` measured on every qubit: what running it whole samples."""
    measured = circuit.copy()
    measured.measure_all()
    return measured


@dataclass(frozen=True)
class WholeRun:
    """What predicting a whole run reads of the circuit and its observables, worked out once for the
    several predictions a plan makes of it (at each probe correction, then the chosen one).

    Attributes
    ----------
    measured
        :func:`measured_whole` of the circuit.
    features
        The measured circuit's :class:`~parsl_quantum.q_dreamer.model.models.CircuitFeatures`.
    bases
        Measurement bases the observables need (at least 1).
    groups
        Every observable's terms grouped by basis at once, as the worker groups them.
    stderr
        The standard error of the run at the target's shots.
    """

    measured: Any
    features: CircuitFeatures
    bases: int
    groups: list[Any]
    stderr: float

    @classmethod
    def of(cls, circuit: Any, observables: Sequence[Any], target: Target) -> WholeRun:
        """The whole run of ``circuit`` for ``observables`` at ``target``."""
        measured = measured_whole(circuit)
        return cls(
            measured=measured,
            features=CircuitFeatures.of(measured),
            bases=max(1, len({g.basis for op in observables for g in group_paulis([op])})),
            groups=group_paulis(list(observables)),
            stderr=whole_stderr(observables, target.whole_shots, target.output),
        )


def predict_whole(
    circuit: Any,
    observables: Sequence[Any],
    pilots: Sequence[PilotModel],
    target: Target,
    prober: Prober,
    factor: float | None = None,
    ahead: dict[str, list[float]] | None = None,
    reconstruction: ReconstructionModel | None = None,
    run: WholeRun | None = None,
) -> Prediction | None:
    """Running the circuit whole, or ``None`` if no pilot can hold it.

    The task samples the circuit once per measurement basis of the observables and turns each basis's
    counts into the expectations of its Pauli terms (``reconstruction``'s
    :meth:`~parsl_quantum.q_dreamer.model.models.ReconstructionModel.estimation`, for as many distinct
    outcomes as its probe showed, or else as :func:`~parsl_quantum.q_dreamer.model.outcomes.distinct_outcomes`
    bounds; nothing without it).
    ``factor`` corrects the models instead of a probe (the profile's measurement of this structure is
    still used where there is one): no probe runs. ``ahead``: the work ahead on each pilot's slots (see
    :func:`~parsl_quantum.q_dreamer.model.schedule.backlog`). ``run``: :meth:`WholeRun.of` the circuit,
    where the caller predicts it several times."""
    start = time.perf_counter()
    n = circuit.num_qubits
    able = [p for p in pilots if p.can_run(n)]
    if not able:
        return None
    shots = target.whole_shots
    run = run or WholeRun.of(circuit, observables, target)
    measured, features, bases = run.measured, run.features, run.bases
    slowdown = contention(able, 1)
    outcomes = whole_outcomes(measured, shots, prober)
    if reconstruction is None:
        estimation = 0.0
    elif target.output == "distribution":
        estimation = reconstruction.estimation(outcomes, 1)  # the counts tallied once, as frequencies
    else:
        # the worker groups every observable's terms by basis at once
        estimation = sum(reconstruction.estimation(outcomes, len(g.paulis)) for g in run.groups)
    costs = {
        p.name: (
            bases * p.anchored_seconds(features, shots, prober.factor(p, measured, shots, factor))
            + p.scale * estimation
        )
        * slowdown[p.name]
        for p in able
    }
    makespan = schedule([costs], able, ahead).makespan
    return Prediction(
        cut=False,
        subcircuit_size=n,
        makespan=makespan,
        stderr=run.stderr,
        shots=shots,
        planning_s=time.perf_counter() - start,
        expected=[(("run_whole", n, shots), costs)],
        parts={"circuits": makespan},
    )


def whole_outcomes(measured: Any, shots: int, prober: Prober) -> float:
    """Distinct outcomes of ``shots`` shots of a circuit measured on every qubit: from what its probe
    showed, scaled to ``shots`` as if its outcomes were equally likely; without a probe, the bound of
    equally likely outcomes over every bit."""
    seen = prober.outcomes_of(measured, shots)
    space = 2.0**measured.num_qubits
    if seen is None:
        return distinct_outcomes(measured.num_qubits, shots)
    probed = min(shots, PROBE_SHOTS)
    return min(float(shots), seen_outcomes(max(1.0, support_of(seen, probed, space)), shots))


def predict_cut(
    problem: CutProblem,
    pilots: Sequence[PilotModel],
    total_shots: int,
    reconstruction: ReconstructionModel,
    slots: int,
    prober: Prober,
    ahead: dict[str, list[float]] | None = None,
    output: str = "values",
) -> Prediction | None:
    """Running ``problem``'s subexperiments as fragments, or ``None`` if no pilot holds a subcircuit.

    ``ahead``: the work ahead on each pilot's slots (see
    :func:`~parsl_quantum.q_dreamer.model.schedule.backlog`). ``output="distribution"``: the problem is
    cut for the distribution of the measured bits, and the reconstruction is costed for its output
    (:func:`distribution_work`).
    """
    able = [p for p in pilots if p.can_run(problem.widest)]
    if not able:
        return None
    allocation = allocate_shots(problem.coefficients, total_shots)
    work = []
    factors: dict[tuple[str, Any], float] = {}
    probes: dict[Any, Any] = {}
    for label, circuits in problem.subexperiments.items():
        groups = len(circuits) // len(problem.coefficients)
        work.extend((label, i, qc, allocation[i // groups]) for i, qc in enumerate(circuits))
        # the richest subexperiment (most mid-circuit measurements) of the subsystem stands for all of it
        probes[label] = max(circuits, key=lambda qc: qc.count_ops().get("measure", 0))
    # a probe runs, so it is bound to the angles; the others' features do not depend on them
    runs = {label: problem.runnable(probe) for label, probe in probes.items()}
    prober.prefetch([(p, run, max(allocation)) for run in runs.values() for p in able])
    for label, run in runs.items():
        for p in able:
            factors[(p.name, label)] = prober.factor(p, run, max(allocation))
    features = {id(qc): CircuitFeatures.of(qc) for _, _, qc, _ in work}
    outcomes = expected_outcomes(work, features, probes, prober, min(max(allocation), PROBE_SHOTS), runs)
    processing = {
        id(qc): reconstruction.processing(o, n) for (_, _, qc, n), o in zip(work, outcomes, strict=True)
    }
    seconds = {
        (p.name, id(qc)): p.anchored_seconds(features[id(qc)], n, factors[(p.name, label)])
        + processing[id(qc)]
        for p in able
        for label, _, qc, n in work
    }
    costs = {id(qc): min(seconds[(p.name, id(qc))] for p in able) for _, _, qc, _ in work}
    overhead = min(p.task_overhead for p in able)
    groups = fragments(work, slots, lambda qc, n: costs[id(qc)], overhead)
    slowdown = contention(able, len(groups))
    tasks, expected = [], []
    for group in groups:
        per_pilot = {
            p.name: slowdown[p.name] * sum(seconds[(p.name, id(qc))] for *_, qc, _ in group) for p in able
        }
        tasks.append(per_pilot)
        expected.append((("sample_fragment", problem.widest, sum(n for *_, n in group)), per_pilot))
    kinds = outcome_groups(problem.coefficients, problem.subobservables)
    prepare = reconstruction.serialising(len(work))
    batches = batches_for(min(n for *_, n in work))
    bit_strings = 0.0
    if output == "distribution":
        tallies, products, bit_strings = distribution_work(work, outcomes, kinds, len(problem.coefficients))
        finish = reconstruction.distribution_seconds(len(work), tallies, products, bit_strings, batches)
    else:
        classes = sum(
            min(o, 2.0 ** (1 + len(kinds[label][i].masks)))
            for (label, i, _, _), o in zip(work, outcomes, strict=True)
        )
        finish = reconstruction.seconds(len(work), classes, batches)
    circuits = schedule(tasks, able, ahead).makespan
    return Prediction(
        cut=True,
        subcircuit_size=problem.subcircuit_size,
        makespan=prepare + circuits + finish,
        stderr=cut_stderr(problem.kappa, problem.observables, total_shots),
        shots=total_shots,
        allocation=allocation,
        expected=expected,
        costs=[costs[id(qc)] for _, _, qc, _ in work],
        task_overhead=overhead,
        parts={
            "serialising": prepare,
            "circuits": circuits,
            "reconstruction": finish,
            "outcomes": sum(outcomes),
            **({"bit_strings": bit_strings} if output == "distribution" else {}),
        },
    )


def distribution_work(
    work: Sequence[tuple[Any, int, Any, int]],
    outcomes: Sequence[float],
    groups: dict[Any, list[Any]],
    terms: int,
) -> tuple[float, float, float]:
    """What a distribution's reconstruction handles: ``(tallies, products, bit strings)``.

    A subexperiment's tallies are its distinct measured bits (at most its outcomes, at most
    ``2**bits``); the reconstruction multiplies, for each of the ``terms`` QPD terms, every subsystem's
    tallies (their product summed over the terms); the distribution holds at most that many bit strings,
    and at most ``2**n`` for ``n`` measured bits in all.
    """
    per_term: dict[int, float] = {}
    tallies = 0.0
    bits: dict[Any, int] = {}
    for (label, i, _, _), o in zip(work, outcomes, strict=True):
        group = groups[label][i]
        bits[label] = group.observable_bits
        count = min(o, 2.0**group.observable_bits)
        tallies += count
        term = i * terms // len(groups[label])
        per_term[term] = per_term.get(term, 1.0) * count
    products = sum(per_term.values())
    return tallies, products, min(products, 2.0 ** sum(bits.values()))


def expected_outcomes(
    work: Sequence[tuple[Any, int, Any, int]],
    features: dict[int, CircuitFeatures],
    probes: dict[Any, Any],
    prober: Prober,
    probe_shots: int,
    runs: dict[Any, Any] | None = None,
) -> list[float]:
    """Distinct outcomes of each subexperiment.

    From what its subsystem's probe gave when it ran: halved for each measurement fewer than the probe
    has (a subexperiment's mid-circuit measurements of cut qubits are close to fair coins), and scaled
    to its shots as if outcomes were equally likely. Without a probe, as if all outcomes were. ``runs``:
    per subsystem, the probe as it ran (bound to the angles), where ``probes`` holds it unbound.
    """
    runs = runs or {}
    out = []
    for label, _, qc, shots in work:
        probe = probes.get(label)
        run = runs.get(label, probe)
        seen = prober.outcomes_of(run, probe_shots) if run is not None else None
        bits = features[id(qc)].measurements
        if seen is None:
            out.append(distinct_outcomes(bits, shots))
            continue
        probed = features[id(probe)].measurements  # the probe is one of the subexperiments
        support = support_of(seen, probe_shots, 2.0**probed) * 2.0 ** (bits - probed)
        support = max(1.0, support)
        out.append(min(float(shots), seen_outcomes(support, shots)))
    return out


def support_of(seen: int, shots: int, space: float) -> float:
    """Outcomes ``S`` (equally likely) that ``shots`` samples would show ``seen`` of, at most ``space``:
    the root of ``S * (1 - exp(-shots / S)) = seen``."""
    if seen >= shots:
        return space
    low, high = float(seen), space
    if seen_outcomes(high, shots) <= seen:
        return space
    for _ in range(60):
        mid = math.sqrt(low * high)
        if seen_outcomes(mid, shots) < seen:
            low = mid
        else:
            high = mid
    return math.sqrt(low * high)
