"""The cutting optimizer: every way of running a circuit, its predicted makespan and error, the fastest.

Candidates are running the circuit whole, and cutting it at each subcircuit width from one less than the
circuit's down to two, up to ``max_cuts`` cuts. A cut configuration is *dominated* when another with as
few cuts has narrower subcircuits: it costs at least as much and is never weighed. For each candidate
the prediction follows what would run:

- whole: one task sampling the circuit in each measurement basis of the observables, on the pilot where
  it finishes first;
- cut: the subexperiments grouped into fragments exactly as :func:`~parsl_quantum.q_dreamer.rewrite.
  fragments` will group them, scheduled on the pilots' slots as ``earliest_finish`` binds them, plus
  packing and reconstruction on the submitting host.

Circuit times come from the pilots' calibrated models, anchored by a probe of the circuit at hand
(:mod:`~parsl_quantum.q_dreamer.probe`): the whole circuit's first qubits, one subexperiment per subsystem.
Cut structures are searched cheaply (``find_cuts`` and partitioning per width, jumping from a structure's
widest piece to the next narrower width) and only undominated ones have their subexperiments generated.

Errors: sampling a Pauli sum with ``s`` shots per basis has a standard error of at most
``sqrt(sum over bases of (sum of |c| in the basis)^2 / s)``; a cut estimate with ``N`` shots per subsystem
at most ``kappa * sum(|c|) / sqrt(N)`` (see :mod:`~parsl_quantum.q_dreamer.shots`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from parsl_quantum.providers.estimation import group_paulis
from parsl_quantum.q_dreamer.decompose import CutProblem, CuttingError, expand, find_structure, pauli_terms
from parsl_quantum.q_dreamer.models import (
    CircuitFeatures,
    PilotModel,
    ReconstructionModel,
    batch_outcomes,
    contention,
    distinct_outcomes,
    schedule,
    seen_outcomes,
)
from parsl_quantum.q_dreamer.probe import Prober
from parsl_quantum.q_dreamer.reconstruct import pass_cost
from parsl_quantum.q_dreamer.rewrite import fragments
from parsl_quantum.q_dreamer.shots import allocate_shots, shots_for_precision

DEFAULT_SHOTS = 4096
SEARCH_EFFORT = 200
"""Backjumps allowed to the cut search per width: linear circuits reached their minimum within it
(26 and 28 qubits, 1 to 3 cuts); a 16-qubit QAOA graph at a width it cannot split took 6 s at the
library's default of 10,000 and 0.5 s at 1,000."""


@dataclass
class Prediction:
    """A candidate way of running a circuit and what the models predict for it.

    Attributes
    ----------
    cut
        Whether the circuit is cut.
    subcircuit_size
        Width constraint of the cut (the circuit's width when not cut).
    makespan
        Predicted seconds from submission to the values.
    stderr
        Predicted standard error of the values (the largest over observables).
    shots
        Shots per measurement basis (whole) or per subsystem (cut).
    problem
        The cutting decomposition (``None`` when not cut).
    allocation
        Shots per subexperiment index (cut).
    expected
        Predicted seconds of each task it submits, per pilot: ``(task signature fields, {pilot: s})``.
    costs
        Predicted seconds of each subexperiment on its fastest pilot (by ``id`` of the circuit): what the
        fragments were balanced with, and will be again when submitted.
    parts
        The makespan's parts in seconds: ``packing``, ``circuits`` (the scheduled tasks) and
        ``reconstruction``, and the ``outcomes`` (distinct, over all subexperiments) it was costed for.
    """

    cut: bool
    subcircuit_size: int
    makespan: float
    stderr: float
    shots: int
    problem: CutProblem | None = None
    allocation: list[int] = field(default_factory=list)
    expected: list[tuple[tuple[str, int, int], dict[str, float]]] = field(default_factory=list)
    costs: dict[int, float] = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)

    def cost(self, circuit: Any, shots: int) -> float:
        """The predicted cost of a subexperiment (for balancing fragments)."""
        return self.costs[id(circuit)]

    @property
    def num_cuts(self) -> int:
        return self.problem.num_cuts if self.problem else 0

    @property
    def num_subexperiments(self) -> int:
        return self.problem.num_subexperiments if self.problem else 1


def _terms(observable: Any) -> list[tuple[str, float]]:
    """The non-identity Pauli terms of an observable with their coefficients' magnitudes."""
    pairs = zip(observable.paulis.to_labels(), observable.coeffs, strict=True)
    return [(label, float(abs(c))) for label, c in pairs if set(label) != {"I"}]


def _l1(observable: Any) -> float:
    return sum(c for _, c in _terms(observable))


def whole_stderr(observables: Sequence[Any], shots: int) -> float:
    """Bound on the standard error of sampling each observable with ``shots`` shots per basis."""
    worst = 0.0
    for op in observables:
        total = 0.0
        for group in group_paulis([op]):
            members = set(group.paulis)
            total += sum(c for label, c in _terms(op) if label in members) ** 2
        worst = max(worst, math.sqrt(total / shots))
    return worst


def whole_shots(observables: Sequence[Any], precision: float) -> int:
    """Shots per basis for a standard error of at most ``precision`` running whole."""
    return max(1, math.ceil((whole_stderr(observables, 1) / precision) ** 2))


def predict_whole(
    circuit: Any, observables: Sequence[Any], pilots: Sequence[PilotModel], shots: int, prober: Prober
) -> Prediction | None:
    """Running the circuit whole, or ``None`` if no pilot can hold it."""
    n = circuit.num_qubits
    able = [p for p in pilots if p.can_run(n)]
    if not able:
        return None
    measured = circuit.copy()
    measured.measure_all()
    features = CircuitFeatures.of(measured)
    bases = max(1, len({g.basis for op in observables for g in group_paulis([op])}))
    slowdown = contention(able, 1)
    costs = {
        p.name: bases
        * p.anchored_seconds(features, shots, prober.factor(p, measured, shots))
        * slowdown[p.name]
        for p in able
    }
    makespan = schedule([costs], able).makespan
    return Prediction(
        cut=False,
        subcircuit_size=n,
        makespan=makespan,
        stderr=whole_stderr(observables, shots),
        shots=shots,
        expected=[(("run_whole", n, shots), costs)],
        parts={"circuits": makespan},
    )


def predict_cut(
    problem: CutProblem,
    pilots: Sequence[PilotModel],
    total_shots: int,
    reconstruction: ReconstructionModel,
    slots: int,
    prober: Prober,
) -> Prediction | None:
    """Running ``problem``'s subexperiments as fragments, or ``None`` if no pilot holds a subcircuit."""
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
        probe = max(circuits, key=lambda qc: qc.count_ops().get("measure", 0))
        probes[label] = probe
        for p in able:
            factors[(p.name, label)] = prober.factor(p, probe, max(allocation))
    features = {id(qc): CircuitFeatures.of(qc) for _, _, qc, _ in work}
    seconds = {
        (p.name, id(qc)): p.anchored_seconds(features[id(qc)], n, factors[(p.name, label)])
        for p in able
        for label, _, qc, n in work
    }
    costs = {id(qc): min(seconds[(p.name, id(qc))] for p in able) for _, _, qc, _ in work}
    groups = fragments(work, slots, lambda qc, n: costs[id(qc)])
    slowdown = contention(able, len(groups))
    tasks, expected = [], []
    for group in groups:
        per_pilot = {
            p.name: slowdown[p.name] * sum(seconds[(p.name, id(qc))] for *_, qc, _ in group) for p in able
        }
        tasks.append(per_pilot)
        expected.append((("sample_fragment", problem.widest, sum(n for *_, n in group)), per_pilot))
    outcomes = expected_outcomes(work, features, probes, prober, max(allocation))
    batches = max(2, min(8, min(n for *_, n in work)))  # as the reconstruction task will split them
    in_batch = sum(batch_outcomes(o, n, batches) for o, (*_, n) in zip(outcomes, work, strict=True))
    prepare = reconstruction.packing(len(work))
    finish = reconstruction.seconds(
        len(work), sum(n for *_, n in work), pass_cost(problem), sum(outcomes), in_batch, batches
    )
    norm = max(_l1(op) for op in problem.observables) or 1.0
    circuits = schedule(tasks, able).makespan
    return Prediction(
        cut=True,
        subcircuit_size=problem.subcircuit_size,
        makespan=prepare + circuits + finish,
        stderr=problem.kappa * norm / math.sqrt(total_shots),
        shots=total_shots,
        problem=problem,
        allocation=allocation,
        expected=expected,
        costs=costs,
        parts={"packing": prepare, "circuits": circuits, "reconstruction": finish, "outcomes": sum(outcomes)},
    )


def expected_outcomes(
    work: Sequence[tuple[Any, int, Any, int]],
    features: dict[int, CircuitFeatures],
    probes: dict[Any, Any],
    prober: Prober,
    probe_shots: int,
) -> list[float]:
    """Distinct outcomes of each subexperiment.

    From what its subsystem's probe gave when it ran: halved for each measurement fewer than the probe
    has (a subexperiment's mid-circuit measurements of cut qubits are close to fair coins), and scaled
    to its shots as if outcomes were equally likely. Without a probe, as if all outcomes were.
    """
    out = []
    for label, _, qc, shots in work:
        probe = probes.get(label)
        seen = prober.outcomes.get(id(probe))
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


def cut_candidates(
    circuit: Any,
    observables: Sequence[Any],
    max_cuts: int,
    max_subexperiments: int,
    seed: int,
    search_effort: int | None = SEARCH_EFFORT,
) -> list[CutProblem]:
    """Undominated cut configurations: for each number of cuts, the one with the narrowest subcircuits.

    A connected circuit cut into pieces of width ``w`` needs at least ``ceil(n / w) - 1`` cuts, so ``c``
    cuts cannot give pieces narrower than ``ceil(n / (c + 1))``: each count of cuts is tried at that
    width first. If the cut search needs more cuts there (the circuit does not split evenly), the
    narrowest width it can do with ``c`` cuts is found by bisection above it, where searches are cheap.
    (The cut search at small widths is what costs: seconds for four cuts on 26 qubits, and on graphs
    that do not split, like QAOA's, seconds per width: its effort is bounded by ``search_effort``
    backjumps, past which it returns its greedy answer.)
    """
    n = circuit.num_qubits
    cache: dict[int, Any] = {}

    def structure(size: int) -> Any:
        if size not in cache:
            try:
                cache[size] = find_structure(
                    circuit, observables, size, seed=seed, max_backjumps=search_effort
                )
            except CuttingError:
                cache[size] = None
        return cache[size]

    best: dict[int, Any] = {}
    upper = n - 1
    for cuts in range(1, max_cuts + 1):
        low = max(2, math.ceil(n / (cuts + 1)))
        if low > upper:
            continue
        found = structure(low)
        if found is None or found.num_cuts > cuts:
            lo, hi = low + 1, upper  # narrowest width in [lo, hi] with at most `cuts` cuts
            found = None
            while lo <= hi:
                mid = (lo + hi) // 2
                candidate = structure(mid)
                if candidate is not None and candidate.num_cuts <= cuts:
                    found, hi = candidate, mid - 1
                else:
                    lo = mid + 1
        if found is not None and found.num_cuts <= max_cuts:
            known = best.get(found.num_cuts)
            if known is None or found.widest < known.widest:
                best[found.num_cuts] = found
            upper = min(upper, found.widest - 1)
    # with more cuts a configuration is only worth weighing if its pieces are narrower
    kept, narrowest = [], math.inf
    for cuts in sorted(best):
        if best[cuts].widest < narrowest:
            problem = expand(best[cuts])
            if problem.num_subexperiments > max_subexperiments:
                break
            kept.append(problem)
            narrowest = best[cuts].widest
    return kept


def enumerate_plans(
    circuit: Any,
    observables: Sequence[Any],
    pilots: Sequence[PilotModel],
    reconstruction: ReconstructionModel,
    slots: int,
    precision: float | None = None,
    shots: int | None = None,
    max_cuts: int = 3,
    max_subexperiments: int = 2000,
    seed: int = 1234,
    prober: Prober | None = None,
) -> tuple[list[Prediction], float]:
    """Every candidate's prediction, fastest first, and the seconds the enumeration took."""
    prober = prober or Prober({})
    from parsl_quantum.providers.circuits import strip_measurements, to_circuit

    start = time.perf_counter()
    qc = strip_measurements(to_circuit(circuit))
    ops, _ = pauli_terms(observables, qc.num_qubits)
    predictions: list[Prediction] = []
    whole_basis_shots = shots or (whole_shots(ops, precision) if precision else DEFAULT_SHOTS)
    whole = predict_whole(qc, ops, pilots, whole_basis_shots, prober)
    if whole is not None:
        predictions.append(whole)
    for problem in cut_candidates(qc, ops, max_cuts, max_subexperiments, seed):
        norm = max(_l1(op) for op in problem.observables) or 1.0
        needed = shots_for_precision(problem.kappa * norm, precision) if precision else DEFAULT_SHOTS
        total = shots or needed
        prediction = predict_cut(problem, pilots, total, reconstruction, slots, prober)
        if prediction is not None:
            predictions.append(prediction)
    predictions.sort(key=lambda p: (p.makespan, p.stderr))
    return predictions, time.perf_counter() - start
