"""Plan enumeration: every way of running a circuit at the same precision, weighed, best first.

Every candidate is sized to reach the same target standard error
(:class:`~parsl_quantum.q_dreamer.precision.Target`): running whole with enough shots per measurement
basis, or cutting with enough shots per subsystem (a cut estimate's error grows with the cuts' ``kappa``,
so a cut needs ``kappa**2`` times the shots for the same error). The objective is planning time plus
predicted makespan: planning that costs more than it saves is not worth doing. Planning is spent while
candidates are weighed, so it decides what is weighed (lower bounds prune candidates, probes run only
where they could change the choice); once weighed, the candidate that finishes first is chosen.

Candidates are running the circuit whole, running apart the groups of qubits no gate joins (where there
are several: no cut), and cutting it with one cut, two, ... up to ``max_cuts``, each at the narrowest
width the cut search (:mod:`~parsl_quantum.q_dreamer.planning.search`) reaches with that many cuts. A
candidate is dropped before any work is spent on it when its lower bound
(:mod:`~parsl_quantum.q_dreamer.planning.bounds`) already loses to the best candidate so far (its
makespan is no shorter than that candidate's predicted makespan, so it could never be chosen), or when
its lower bound plus the planning its weighing would cost (generating its subexperiments, calibrated per
generated instruction) cannot beat the best objective predicted so far; only then are its subexperiments
generated and its makespan predicted (:mod:`~parsl_quantum.q_dreamer.planning.predict`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from parsl_quantum.q_dreamer.model.models import PilotModel, ReconstructionModel
from parsl_quantum.q_dreamer.model.probe import LIMITS, PROBE_BUDGET_S, Prober
from parsl_quantum.q_dreamer.planning.bounds import (
    cut_kinds,
    cut_lower_bound,
    fewest_cut_terms,
    fewest_subexperiments,
)
from parsl_quantum.q_dreamer.planning.candidates import Limits, Prediction, Rejected
from parsl_quantum.q_dreamer.planning.predict import WholeRun, predict_cut, predict_whole
from parsl_quantum.q_dreamer.planning.search import CutSearch
from parsl_quantum.q_dreamer.planning.template import CutTemplate
from parsl_quantum.q_dreamer.precision import Target, cut_shots

PROBE_WORTH = 0.5
"""The whole circuit is probed only if the probe costs less than this share of what choosing without it
could lose (the distance from the best cut to the nearer end of whole's range of predictions)."""


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
        :func:`~parsl_quantum.q_dreamer.model.schedule.backlog`; default: free now).
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
    run = WholeRun.of(circuit, observables, target) if whole_fits else None
    if whole_fits:
        low, high, nominal = (
            predict_whole(circuit, observables, pilots, target, prober, f, ahead, reconstruction, run)
            for f in (*LIMITS, 1.0)
        )
        whole_low, whole_high = low.makespan, high.makespan  # type: ignore[union-attr]
        whole_nominal = nominal.makespan  # type: ignore[union-attr]
    best = whole_high if prune else math.inf
    if search is not None and circuit.num_qubits >= 3:
        kappa, branching = cut_kinds(search.circuit)
        terms = fewest_cut_terms(search.circuit)
        upper, narrowest = circuit.num_qubits - 1, math.inf
        # a circuit whose qubits fall into groups no gate joins runs as those pieces with no cut at all
        apart = search.narrowest(0, upper) is not None
        for cuts in range(0 if apart else 1, max_cuts + 1):
            # before the search: c cuts make two pieces at least (a ring cut twice makes two), and each
            # piece gets at least one subexperiment per combination of the cuts' terms
            pieces = min(cuts + 1, 2)
            bound = cut_lower_bound(
                kappa**cuts,
                observables,
                target,
                pieces,
                pilots,
                branching,
                pieces * terms**cuts,
                reconstruction,
            )
            if bound >= best:
                pruned += max_cuts - cuts + 1  # more cuts need more shots still
                break
            started = time.perf_counter()
            # a slow search runs only where the cut could save more than it costs, as predicted now
            expected = min([whole_nominal, *(p.objective for p in cuts_found)])
            if prune and search.gate_cut_seconds(cuts) > expected - bound:
                pruned += max_cuts - cuts + 1  # enumerating more cuts costs more still
                break
            structure = search.narrowest(cuts, upper, expected - bound if prune else math.inf)
            if structure is None or structure.widest >= narrowest:
                continue
            upper, narrowest = structure.widest - 1, structure.widest
            total = cut_shots(structure.kappa, observables, target.stderr)
            label = f"cut to {structure.subcircuit_size} qubits"
            if total > limits.shots:
                rejected.append(Rejected(label, total, f"more than {limits.shots} shots"))
                continue
            subsystems = len(structure.widths)
            circuits = fewest_subexperiments(structure.cut_circuit, subsystems)
            bound = cut_lower_bound(
                structure.kappa, observables, target, subsystems, pilots, branching, circuits, reconstruction
            )
            # weighing it (generating its subexperiments) is planning time it would cost: not worth doing
            # when even its lower bound with that cost cannot beat what is predicted now
            weighing = reconstruction.weighing(circuits, subsystems, len(search.circuit.data))
            if bound >= best or (prune and bound + weighing >= expected):
                pruned += 1
                continue
            template = CutTemplate.build(structure, search.circuit)
            if sum(len(v) for v in template.subexperiments.values()) > max_subexperiments:
                break
            # weighed unbound: a subexperiment's features do not depend on the angles, and the tasks
            # ship the template and the angles (only a probe is bound, to run)
            problem = template.unbound(values)
            prediction = predict_cut(
                problem, pilots, total, reconstruction, slots, prober, ahead, target.output
            )
            if prediction is None:
                continue
            prediction.template, prediction.values = template, list(values)
            prediction.planning_s = time.perf_counter() - started
            cuts_found.append(prediction)
            best = min(best, prediction.makespan) if prune else best
    predictions = list(cuts_found)
    if whole_fits:
        best_cut = min((p.objective for p in cuts_found), default=math.inf)
        # probe the whole circuit only where the probe could change the choice (the best cut lies between
        # the predictions at the probe's extreme corrections), whatever its width: circuits of one width
        # and gate count differ severalfold in time by how their gates fuse (a GHZ chain against
        # efficient_su2); and only where it costs less than a share of what a wrong choice could lose
        at_stake = min(best_cut - whole_low, whole_high - best_cut)
        probe_cost = min(whole_nominal, PROBE_BUDGET_S) + min((p.task_overhead for p in pilots), default=0.0)
        worth = whole_low < best_cut < whole_high and probe_cost < PROBE_WORTH * at_stake or not prune
        factor = None if worth else 1.0
        whole = predict_whole(
            circuit, observables, pilots, target, prober, factor, ahead, reconstruction, run
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
