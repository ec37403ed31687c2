"""The cutting optimizer: every way of running a circuit at the same precision, what it costs, the best.

Every candidate is sized to reach the same target standard error
(:class:`~parsl_quantum.q_dreamer.precision.Target`): running whole with enough shots per measurement
basis, or cutting with enough shots per subsystem (a cut estimate's error grows with the cuts' ``kappa``,
so a cut needs ``kappa**2`` times the shots for the same error). The objective is planning time plus
predicted makespan: planning that costs more than it saves is not worth doing. Planning is spent while
candidates are weighed, so it decides what is weighed (lower bounds prune candidates, probes run only
where they could change the choice); once weighed, the candidate that finishes first is chosen.

Candidates are running the circuit whole, running apart the groups of qubits no gate joins (where there
are several: no cut), and cutting it with one cut, two, ... up to ``max_cuts``, each at the narrowest
width the cut search reaches with that many cuts. A candidate is dropped before any work
is spent on it when a cheap *lower bound* on its makespan already loses to the best candidate so far:
before searching for ``c`` cuts, the bound from the fewest shots any ``c`` cuts need (the smallest
``kappa`` of a cut of the circuit's gates, to the power ``c``); after the search, the bound from the
shots its own ``kappa`` needs; only then are its subexperiments generated. Cut searches are kept across
widths (a cut found for width ``w`` whose widest piece is ``v`` is the answer for every width from ``v``
to ``w``) and across plans.

For each candidate the prediction follows what would run:

- whole: one task sampling the circuit in each measurement basis of the observables and turning the
  counts into values, on the pilot where it finishes first;
- cut: the subexperiments grouped into fragments exactly as :func:`~parsl_quantum.q_dreamer.planning.rewrite.
  fragments` will group them (each fragment also processing its outcomes), scheduled on the pilots' slots
  as ``earliest_finish`` binds them, plus packing and the reconstruction task on the submitting host.

Either way every task pays what calibration measured with no-op tasks through the executor (sending it,
the slot it holds beyond its work, its result's way back; the reconstruction task its launch), and waits
for the work already ahead on the pilots (:func:`~parsl_quantum.q_dreamer.model.models.backlog`).

Circuit times come from the pilots' calibrated models, anchored by a probe of the circuit at hand
(:mod:`~parsl_quantum.q_dreamer.model.probe`) where the profile has no measurement of its structure yet.

Errors and the shots that reach them, whole and cut, are :mod:`~parsl_quantum.q_dreamer.precision`'s.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from parsl_quantum.circuits.estimation import group_paulis
from parsl_quantum.q_dreamer.model.models import (
    CircuitFeatures,
    PilotModel,
    ReconstructionModel,
    contention,
    distinct_outcomes,
    schedule,
    seen_outcomes,
)
from parsl_quantum.q_dreamer.model.probe import LIMITS, PROBE_BUDGET_S, PROBE_SHOTS, Prober
from parsl_quantum.q_dreamer.planning.decompose import (
    CutProblem,
    CutStructure,
    CuttingError,
    find_gate_cuts,
    find_structure,
)
from parsl_quantum.q_dreamer.planning.reconstruct import batches_for, outcome_groups
from parsl_quantum.q_dreamer.planning.rewrite import fragments
from parsl_quantum.q_dreamer.planning.template import CutTemplate
from parsl_quantum.q_dreamer.precision import Target, allocate_shots, cut_shots, cut_stderr, whole_stderr

SEARCH_EFFORT = 200
"""Backjumps allowed to the cut search per width: linear circuits reached their minimum within it
(26 and 28 qubits, 1 to 3 cuts); a 16-qubit QAOA graph at a width it cannot split took 6 s at the
library's default of 10,000 and 0.5 s at 1,000."""

PROBE_WORTH = 0.5
"""The whole circuit is probed only if the probe costs less than this share of what choosing without it
could lose (the distance from the best cut to the nearer end of whole's range of predictions)."""

SEARCH_SECONDS_PER_GATE = 0.02
"""What one width of the addon's cut search costs per two-qubit gate of the circuit, about (measured on
this project's 2-core machine: 0.41 s for 30 gates, 0.75 s for 37, 1.2 s for 42). It is only run where
gate cuts alone cannot reach a width and the gain it could bring is larger than its predicted cost."""


@dataclass(frozen=True)
class Limits:
    """What a candidate may need at most: ``shots`` per task and ``seconds`` of predicted makespan."""

    shots: int = 10**9
    seconds: float = 86400.0


@dataclass
class Rejected:
    """A candidate set aside because it needs more than the :class:`Limits` allow."""

    label: str
    shots: int
    reason: str


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
    planning_s
        Seconds spent planning this candidate (its cut search, experiments, probes and predictions).
    template
        The cut, expanded once with its angles as parameters (``None`` when not cut).
    values
        The circuit's angles the subexperiments are bound to.
    allocation
        Shots per subexperiment index (cut).
    expected
        Predicted seconds of each task it submits, per pilot: ``(task signature fields, {pilot: s})``.
    costs
        Predicted seconds of each subexperiment on its fastest pilot, in subexperiment order (subsystem
        by subsystem): what the fragments were balanced with, and will be again when submitted.
    parts
        The makespan's parts in seconds: ``packing``, ``circuits`` (the scheduled tasks) and
        ``reconstruction``, and the ``outcomes`` (distinct, over all subexperiments) it was costed for.
    """

    cut: bool
    subcircuit_size: int
    makespan: float
    stderr: float
    shots: int
    planning_s: float = 0.0
    template: CutTemplate | None = None
    values: list[float] = field(default_factory=list)
    allocation: list[int] = field(default_factory=list)
    expected: list[tuple[tuple[str, int, int], dict[str, float]]] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)
    parts: dict[str, float] = field(default_factory=dict)
    _problem: CutProblem | None = field(default=None, repr=False)

    @property
    def objective(self) -> float:
        """Its planning plus its makespan (what a later candidate's lower bound must beat)."""
        return self.planning_s + self.makespan

    @property
    def problem(self) -> CutProblem | None:
        """The cut problem bound to :attr:`values` (``None`` when not cut)."""
        if self.template is None:
            return None
        if self._problem is None:
            self._problem = self.template.bind(self.values)
        return self._problem

    def rebound(self, values: list[float], circuit: Any, rescale: dict[str, float]) -> Prediction:
        """This prediction for the same structure with angles ``values`` (the cut rebuilt at the same
        positions when the cut gates' own angles changed), its task times scaled by ``rescale`` (per
        pilot: its model's online correction now over the one it was predicted with)."""
        template = self.template
        if template is not None and not template.fits(values):
            template = CutTemplate.build(template.structure, circuit)
        expected = [
            (signature, {p: t * rescale.get(p, 1.0) for p, t in per_pilot.items()})
            for signature, per_pilot in self.expected
        ]
        used = sorted(rescale.get(p, 1.0) for _, per_pilot in self.expected for p in per_pilot) or [1.0]
        circuits = self.parts.get("circuits", 0.0) * used[len(used) // 2]
        return dataclasses.replace(
            self,
            template=template,
            values=list(values),
            expected=expected,
            makespan=self.makespan + circuits - self.parts.get("circuits", 0.0),
            parts={**self.parts, "circuits": circuits},
            _problem=None,
        )

    def cost(self, problem: CutProblem) -> Callable[[Any, int], float]:
        """The predicted cost of each subexperiment of ``problem`` (for balancing fragments)."""
        circuits = [qc for runs in problem.subexperiments.values() for qc in runs]
        by_id = {id(qc): c for qc, c in zip(circuits, self.costs, strict=True)}
        return lambda circuit, shots: by_id[id(circuit)]

    @property
    def num_cuts(self) -> int:
        return self.template.structure.num_cuts if self.template else 0

    @property
    def num_subexperiments(self) -> int:
        if self.template is None:
            return 1
        return sum(len(v) for v in self.template.subexperiments.values())

    @property
    def label(self) -> str:
        return "whole" if not self.cut else f"cut to {self.subcircuit_size} qubits"


def predict_whole(
    circuit: Any,
    observables: Sequence[Any],
    pilots: Sequence[PilotModel],
    target: Target,
    prober: Prober,
    factor: float | None = None,
    ahead: dict[str, list[float]] | None = None,
    reconstruction: ReconstructionModel | None = None,
) -> Prediction | None:
    """Running the circuit whole, or ``None`` if no pilot can hold it.

    The task samples the circuit once per measurement basis of the observables and turns each basis's
    counts into the expectations of its Pauli terms (``reconstruction``'s :meth:`~parsl_quantum.
    q_dreamer.model.models.ReconstructionModel.estimation`, for as many distinct outcomes as its probe showed,
    or else as :func:`~parsl_quantum.q_dreamer.model.models.distinct_outcomes` bounds; nothing without it).
    ``factor`` corrects the models instead of a probe (the profile's measurement of this structure is
    still used where there is one): no probe runs. ``ahead``: the work ahead on each pilot's slots (see
    :func:`~parsl_quantum.q_dreamer.model.models.backlog`)."""
    start = time.perf_counter()
    n = circuit.num_qubits
    able = [p for p in pilots if p.can_run(n)]
    if not able:
        return None
    shots = target.whole_shots
    measured = circuit.copy()
    measured.measure_all()
    features = CircuitFeatures.of(measured)
    bases = max(1, len({g.basis for op in observables for g in group_paulis([op])}))
    slowdown = contention(able, 1)
    outcomes = whole_outcomes(measured, shots, prober)
    estimation = (
        # the worker groups every observable's terms by basis at once
        sum(reconstruction.estimation(outcomes, len(g.paulis)) for g in group_paulis(list(observables)))
        if reconstruction
        else 0.0
    )
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
        stderr=whole_stderr(observables, shots),
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


def cut_lower_bound(
    kappa: float,
    observables: Sequence[Any],
    target: Target,
    subsystems: int,
    pilots: Sequence[PilotModel],
    branching: float,
) -> float:
    """Seconds any cut of ``kappa`` into ``subsystems`` pieces needs at least.

    It needs ``N`` shots per subsystem for the target; each costs at least a pilot's calibrated cost per
    shot and per measured bit (every subexperiment reads at least one: one that reads none cannot be
    sampled), and a share ``branching`` of them (over both sides of a cut, see :func:`cut_kinds`) at
    least the extra cost of a shot after a mid-circuit measurement; spread over every slot.
    """
    shots = cut_shots(kappa, observables, target.stderr)
    slots = sum(max(p.workers, 1) for p in pilots) or 1
    costs = [
        p.scale
        * ((p.simulator.c2 + p.simulator.c5) * shots * subsystems + p.simulator.c4 * shots * branching)
        for p in pilots
        if p.simulator is not None and p.qpu is None
    ]
    return min(costs, default=0.0) / slots


def _measuring_share(basis: Any, side: int) -> float:
    """The share of a decomposition's ``|coefficients|`` whose term measures on ``side``."""
    total = sum(abs(float(c)) for c in basis.coeffs) or 1.0
    measured = sum(
        abs(float(c))
        for c, maps in zip(basis.coeffs, basis.maps, strict=True)
        if any(op.name == "qpd_measure" for op in maps[side])
    )
    return measured / total


def cut_kinds(circuit: Any) -> tuple[float, float]:
    """``(kappa, branching)``: the smallest ``kappa`` any one cut of ``circuit`` can have, and the smallest
    share of shots (summed over a cut's two sides) that a cut makes measure mid-circuit, over its gates
    (the addon's decomposition of each) and a wire cut. A side counts only where its qubit is acted on
    after the cut."""
    from qiskit_addon_cutting.instructions import Move
    from qiskit_addon_cutting.qpd import qpdbasis_from_instruction

    last: dict[int, int] = {}
    for index, inst in enumerate(circuit.data):
        if inst.operation.name not in ("measure", "barrier"):
            for q in inst.qubits:
                last[circuit.find_bit(q).index] = index
    wire = qpdbasis_from_instruction(Move())
    kappa, branching = float(wire.kappa), _measuring_share(wire, 0)
    shares: dict[Any, tuple[float, float, float]] = {}
    for index, inst in enumerate(circuit.data):
        operation = inst.operation
        if len(inst.qubits) != 2 or operation.name in ("barrier", "measure"):
            continue
        key = (operation.name, repr(operation.params))
        if key not in shares:
            try:
                basis = qpdbasis_from_instruction(operation)
            except (ValueError, TypeError):
                continue
            shares[key] = (float(basis.kappa), _measuring_share(basis, 0), _measuring_share(basis, 1))
        gate_kappa, first, second = shares[key]
        a, b = (circuit.find_bit(q).index for q in inst.qubits)
        share = first * (last.get(a, -1) > index) + second * (last.get(b, -1) > index)
        kappa, branching = min(kappa, gate_kappa), min(branching, share)
    return max(kappa, 1.0), branching


def predict_cut(
    problem: CutProblem,
    pilots: Sequence[PilotModel],
    total_shots: int,
    reconstruction: ReconstructionModel,
    slots: int,
    prober: Prober,
    ahead: dict[str, list[float]] | None = None,
) -> Prediction | None:
    """Running ``problem``'s subexperiments as fragments, or ``None`` if no pilot holds a subcircuit.

    ``ahead``: the work ahead on each pilot's slots (see
    :func:`~parsl_quantum.q_dreamer.model.models.backlog`).
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
    prober.prefetch([(p, probe, max(allocation)) for probe in probes.values() for p in able])
    for label, probe in probes.items():
        for p in able:
            factors[(p.name, label)] = prober.factor(p, probe, max(allocation))
    features = {id(qc): CircuitFeatures.of(qc) for _, _, qc, _ in work}
    outcomes = expected_outcomes(work, features, probes, prober, min(max(allocation), PROBE_SHOTS))
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
    groups = fragments(work, slots, lambda qc, n: costs[id(qc)])
    slowdown = contention(able, len(groups))
    tasks, expected = [], []
    for group in groups:
        per_pilot = {
            p.name: slowdown[p.name] * sum(seconds[(p.name, id(qc))] for *_, qc, _ in group) for p in able
        }
        tasks.append(per_pilot)
        expected.append((("sample_fragment", problem.widest, sum(n for *_, n in group)), per_pilot))
    kinds = outcome_groups(problem.coefficients, problem.subobservables)
    classes = sum(
        min(o, 2.0 ** (1 + len(kinds[label][i].masks)))
        for (label, i, _, _), o in zip(work, outcomes, strict=True)
    )
    prepare = reconstruction.packing(len(work))
    batches = batches_for(min(n for *_, n in work))
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
        seen = prober.outcomes_of(probe, probe_shots) if probe is not None else None
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


class CutSearch:
    """Cut searches of one circuit structure and its observables, kept across widths and plans.

    Parameters
    ----------
    circuit, observables
        The circuit (final measurements stripped) and its observables.
    seed
        Seed of the search.
    found
        Searches made before, by width (``None``: no cut found there); filled as it goes.
    """

    def __init__(
        self, circuit: Any, observables: Sequence[Any], seed: int, found: dict[int, CutStructure | None]
    ) -> None:
        self.circuit = circuit
        self.observables = observables
        self.seed = seed
        self.found = found
        self.seconds = 0.0
        self.gate_cuts: dict[int, CutStructure | None] = {}
        self.two_qubit_gates = sum(1 for inst in circuit.data if len(inst.qubits) == 2)

    def at(self, size: int) -> CutStructure | None:
        """The cut for subcircuits of at most ``size`` qubits (searched once)."""
        if size not in self.found:
            start = time.perf_counter()
            try:
                structure: CutStructure | None = find_structure(
                    self.circuit, self.observables, size, seed=self.seed, max_backjumps=SEARCH_EFFORT
                )
            except CuttingError:
                structure = None
            self.seconds += time.perf_counter() - start
            self.found[size] = structure
            if structure is not None and structure.minimum_reached:
                # fewest cuts for `size`, within every narrower width down to its widest piece
                for narrower in range(structure.widest, size):
                    self.found.setdefault(narrower, structure)
        return self.found[size]

    def narrowest(self, cuts: int, upper: int, budget: float = math.inf) -> CutStructure | None:
        """The cut with at most ``cuts`` cuts and the narrowest pieces, at widths up to ``upper``.

        Gate cuts are enumerated first (:func:`~parsl_quantum.q_dreamer.planning.decompose.find_gate_cuts`,
        milliseconds). Only if they cannot reach a width up to ``upper`` does the addon's search for gate
        and wire cuts run, and only if its predicted cost is within ``budget`` (seconds the cut could still
        save). A connected circuit cut into pieces of width ``w`` needs at least ``ceil(n / w) - 1``
        cuts, so ``c`` cuts cannot give pieces narrower than ``ceil(n / (c + 1))``: that width is tried
        first, and if the search needs more cuts there, the narrowest width that ``c`` cuts reach is found
        by bisection above it.
        """
        if cuts not in self.gate_cuts:
            start = time.perf_counter()
            self.gate_cuts[cuts] = find_gate_cuts(
                self.circuit, self.observables, cuts, self.circuit.num_qubits - 1
            )
            self.seconds += time.perf_counter() - start
        by_gates = self.gate_cuts[cuts]
        if by_gates is not None and by_gates.widest <= upper:
            return by_gates
        low = max(2, math.ceil(self.circuit.num_qubits / (cuts + 1)))
        if low > upper:
            return None
        calls = 1 + math.ceil(math.log2(max(upper - low, 1) + 1))
        if SEARCH_SECONDS_PER_GATE * self.two_qubit_gates * calls > budget:
            return None
        found = self.at(low)
        if found is not None and found.num_cuts <= cuts:
            return found
        lo, hi, found = low + 1, upper, None
        while lo <= hi:
            mid = (lo + hi) // 2
            candidate = self.at(mid)
            if candidate is not None and candidate.num_cuts <= cuts:
                found, hi = candidate, mid - 1
            else:
                lo = mid + 1
        return found


def enumerate_plans(
    circuit: Any,
    observables: Sequence[Any],
    pilots: Sequence[PilotModel],
    reconstruction: ReconstructionModel,
    slots: int,
    target: Target,
    values: list[float],
    search: CutSearch | None,
    prober: Prober,
    max_cuts: int = 3,
    max_subexperiments: int = 2000,
    limits: Limits | None = None,
    prune: bool = True,
    ahead: dict[str, list[float]] | None = None,
) -> tuple[list[Prediction], list[Rejected], int]:
    """Every candidate worth weighing, best first; those the limits rule out; and how many were pruned by
    their lower bounds.

    Parameters
    ----------
    circuit, observables
        The circuit (``QuantumCircuit``, final measurements stripped) and ``SparsePauliOp`` observables.
    pilots, reconstruction, slots
        The models, and the worker slots fragments are made for.
    target
        The precision every candidate is sized for.
    values
        The circuit's angles (as the cut finder sees the circuit).
    search
        Cut searches of this structure (``None``: the circuit cannot be cut).
    prober
        The probe runner (it keeps what it measures in the profile).
    max_cuts, max_subexperiments, limits
        What a candidate may have or need at most.
    prune
        Whether lower bounds may set candidates aside (``False`` weighs every one, for benchmarks).
    ahead
        Per pilot, when each of its slots is free of the work submitted before (see
        :func:`~parsl_quantum.q_dreamer.model.models.backlog`; default: free now).
    """
    limits = limits or Limits()
    cuts_found: list[Prediction] = []
    rejected: list[Rejected] = []
    pruned = 0
    whole_fits = target.whole_shots <= limits.shots and any(p.can_run(circuit.num_qubits) for p in pilots)
    if target.whole_shots > limits.shots:
        rejected.append(Rejected("whole", target.whole_shots, f"more than {limits.shots} shots"))
    # whole's makespan lies between its predictions with the probe's correction at its limits
    whole_low, whole_high, whole_nominal = math.inf, math.inf, math.inf
    if whole_fits:
        low, high, nominal = (
            predict_whole(circuit, observables, pilots, target, prober, f, ahead, reconstruction)
            for f in (*LIMITS, 1.0)
        )
        whole_low, whole_high = low.makespan, high.makespan  # type: ignore[union-attr]
        whole_nominal = nominal.makespan  # type: ignore[union-attr]
    best = whole_high if prune else math.inf
    if search is not None and circuit.num_qubits >= 3:
        kappa, branching = cut_kinds(search.circuit)
        upper, narrowest = circuit.num_qubits - 1, math.inf
        # a circuit whose qubits fall into groups no gate joins runs as those pieces with no cut at all
        apart = search.narrowest(0, upper) is not None
        for cuts in range(0 if apart else 1, max_cuts + 1):
            bound = cut_lower_bound(kappa**cuts, observables, target, cuts + 1, pilots, branching)
            if bound >= best:
                pruned += max_cuts - cuts + 1  # more cuts need more shots still
                break
            started = time.perf_counter()
            # a slow search runs only where the cut could save more than it costs, as predicted now
            expected = min([whole_nominal, *(p.objective for p in cuts_found)])
            structure = search.narrowest(cuts, upper, expected - bound if prune else math.inf)
            if structure is None or structure.widest >= narrowest:
                continue
            upper, narrowest = structure.widest - 1, structure.widest
            total = cut_shots(structure.kappa, observables, target.stderr)
            label = f"cut to {structure.subcircuit_size} qubits"
            if total > limits.shots:
                rejected.append(Rejected(label, total, f"more than {limits.shots} shots"))
                continue
            bound = cut_lower_bound(
                structure.kappa, observables, target, len(structure.widths), pilots, branching
            )
            if bound >= best:
                pruned += 1
                continue
            template = CutTemplate.build(structure, search.circuit)
            if sum(len(v) for v in template.subexperiments.values()) > max_subexperiments:
                break
            problem = template.bind(values)
            prediction = predict_cut(problem, pilots, total, reconstruction, slots, prober, ahead)
            if prediction is None:
                continue
            prediction.template, prediction.values, prediction._problem = template, list(values), problem
            prediction.planning_s = time.perf_counter() - started
            cuts_found.append(prediction)
            best = min(best, prediction.objective) if prune else best
    predictions = list(cuts_found)
    if whole_fits:
        best_cut = min((p.objective for p in cuts_found), default=math.inf)
        # probe the whole circuit only where the probe could change the choice (the best cut lies between
        # the predictions at the probe's extreme corrections), whatever its width: circuits of one width
        # and gate count differ 3x in time by how their gates fuse (a GHZ chain against efficient_su2);
        # and only where it costs less than a share of what a wrong choice could lose
        at_stake = min(best_cut - whole_low, whole_high - best_cut)
        probe_cost = min(whole_nominal, PROBE_BUDGET_S) + min((p.task_overhead for p in pilots), default=0.0)
        worth = whole_low < best_cut < whole_high and probe_cost < PROBE_WORTH * at_stake or not prune
        whole = predict_whole(
            circuit, observables, pilots, target, prober, None if worth else 1.0, ahead, reconstruction
        )
        if whole is not None:
            predictions.append(whole)
    return _ranked(predictions, rejected, limits), rejected, pruned


def _ranked(predictions: list[Prediction], rejected: list[Rejected], limits: Limits) -> list[Prediction]:
    """Candidates within the time limit, quickest first (the others added to ``rejected``)."""
    kept = []
    for p in predictions:
        if p.makespan > limits.seconds:
            rejected.append(
                Rejected(p.label, p.shots, f"predicted {p.makespan:.3g} s, more than {limits.seconds:.3g} s")
            )
        else:
            kept.append(p)
    # every candidate's planning is spent by now: the choice is the one that finishes first
    return sorted(kept, key=lambda p: (p.makespan, p.stderr))
