"""``QDreamer``: calibrate the models, plan how to run a circuit, and keep the models honest online.

Typical use::

    dreamer = QDreamer()                     # or QDreamer(Profile.load("profile.json"))
    dreamer.calibrate(qex).save("profile.json")
    plan = dreamer.plan(circuit, observables, qex, precision=0.01)
    print(plan.table())                      # the chosen plan and every alternative weighed
    values = plan.submit()                   # an AppFuture of the expectation values

Every candidate is sized to the same target standard error, and ranked by its planning time plus its
predicted makespan. A plan of a circuit whose structure was planned before (same gates, wires and
observables; new angles) reuses that plan's cut search, experiments and predictions (its task times
scaled by the online corrections learned since): a variational loop over a cut circuit re-plans in
milliseconds. What planning measures on this host (probes, outcome counts)
is kept in the profile, so a profile gives the same predictions every time.

Q-Dreamer talks to the executor through two public hooks: ``set_runtime_prior`` gives the
``earliest_finish`` policy the runtimes the models expect before any task was observed, and
``add_completion_listener`` reports each finished task. Each report is compared with that task's own
prediction: a pilot's model is scaled by the median ratio of its recent tasks (an online correction), and
once a submitted plan's values are in, its predicted and measured times go to the run directory's
``q_dreamer/plans.jsonl``.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any

from parsl_quantum.q_dreamer.model.calibrate import Profile, calibrate_executor
from parsl_quantum.q_dreamer.model.models import PilotModel
from parsl_quantum.q_dreamer.model.probe import Prober
from parsl_quantum.q_dreamer.model.schedule import backlog
from parsl_quantum.q_dreamer.planning.candidates import Limits, Prediction, Rejected
from parsl_quantum.q_dreamer.planning.enumerate import enumerate_plans
from parsl_quantum.q_dreamer.planning.plan import CuttingPlan
from parsl_quantum.q_dreamer.planning.plan_log import PlanLog, PlanRun
from parsl_quantum.q_dreamer.planning.reconstruct_distribution import measured_bits
from parsl_quantum.q_dreamer.planning.search import CutSearch
from parsl_quantum.q_dreamer.precision import Target, check_output, check_target, target_of

logger = logging.getLogger(__name__)


MIN_REFINING_S = 0.05
"""Predicted seconds below which a task's observed time does not refine the models."""
SCALE_LIMITS = (0.5, 2.0)
"""The online correction stays within these factors: beyond them, calibrate again."""


def work_ahead(executor: Any, models: Sequence[PilotModel]) -> dict[str, list[float]]:
    """When each slot of each pilot in ``models`` is free of the work the executor already holds (see
    :func:`~parsl_quantum.q_dreamer.model.schedule.backlog`).

    A pilot's ``busy`` tasks (``QuantumPilotExecutor.pilots``) run on its workers, and those beyond its
    workers wait there; the executor's waiting tasks (``outstanding()`` less every pilot's busy ones) are
    shared among the pilots by their workers. Each lasts the executor's mean observed task on that pilot
    (``executor.estimator``); where it has observed none, the work ahead is not counted."""
    status = executor.pilots
    estimator = getattr(executor, "estimator", None)
    outstanding = executor.outstanding() if hasattr(executor, "outstanding") else 0
    waiting = max(0, outstanding - sum(getattr(s, "busy", 0) for s in status.values()))
    workers = sum(max(m.workers, 1) for m in models) or 1
    ahead = {}
    for model in models:
        busy = getattr(status.get(model.name), "busy", 0)
        running = min(busy, max(model.workers, 1))
        queued = busy - running + waiting * max(model.workers, 1) / workers
        mean = estimator.pilot_mean(model.name) if estimator is not None else None
        ahead[model.name] = backlog(model.workers, running, queued, mean or 0.0)
    return ahead


class PlanningError(RuntimeError):
    """No way to run a circuit on the executor's pilots: too wide to run whole and no cut fits, or the
    precision asked for needs more shots than the limits allow."""


class QDreamer:
    """Performance models and the cutting planner.

    Parameters
    ----------
    profile
        Calibrated models; ``None`` calibrates on first use.
    max_cuts
        Most cuts a plan may make.
    max_subexperiments
        Most subexperiments a plan may run.
    window
        Recent tasks whose observed/predicted ratios set a pilot's online correction.
    max_shots
        Most shots a candidate may need (per basis whole, per subsystem cut).
    time_limit_s
        Longest predicted makespan a candidate may have.
    cache_size
        Circuit structures whose plans and cut searches are kept.
    prune
        Whether candidates may be set aside by lower bounds on their makespan before their experiments
        are generated (``False`` weighs every one: slower planning, for benchmarks that run them all).
    """

    def __init__(
        self,
        profile: Profile | None = None,
        max_cuts: int = 3,
        max_subexperiments: int = 2000,
        window: int = 30,
        max_shots: int = 10**9,
        time_limit_s: float = 86400.0,
        cache_size: int = 64,
        prune: bool = True,
    ) -> None:
        self.profile = profile
        self.max_cuts = max_cuts
        self.max_subexperiments = max_subexperiments
        self.window = window
        self.limits = Limits(shots=max_shots, seconds=time_limit_s)
        self.cache_size = cache_size
        self.prune = prune
        self._hints: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._pending: dict[Any, tuple[PlanRun, int, float]] = {}
        self._ratios: dict[str, deque[float]] = {}
        self._plans: OrderedDict[tuple, tuple[list[Prediction], list[Rejected], int, dict]] = OrderedDict()
        self._searches: OrderedDict[tuple, dict] = OrderedDict()
        self._targets: OrderedDict[tuple, Target] = OrderedDict()
        self._attached: dict[int, bool] = {}
        self._log = PlanLog()
        self._lock = threading.Lock()

    # -- calibration ---------------------------------------------------------------------------------
    def calibrate(self, executor: Any, max_width: int = 22) -> Profile:
        """Run micro-benchmarks on every pilot of ``executor`` (under a minute) and fit the models.

        ``max_width`` is the widest benchmark circuit (fewer qubits: a quicker calibration)."""
        self.profile = calibrate_executor(executor, max_width=max_width)
        return self.profile

    def _models(
        self, executor: Any, kinds: Sequence[str] | None, pilot: str | None = None
    ) -> list[PilotModel]:
        """Models of the executor's running pilots (calibrating what the profile lacks)."""
        status = executor.pilots
        running = [n for n, s in status.items() if s.state in ("starting", "active")]
        if self.profile is None or any(n not in self.profile.pilots for n in running):
            logger.info("Q-Dreamer: calibrating %s", executor.label)
            self.calibrate(executor)
        assert self.profile is not None
        models = []
        for name in running:
            model = self.profile.pilots[name]
            model.workers = max(status[name].workers, getattr(status[name], "planned_workers", 0), 1)
            if (kinds is None or model.kind in kinds) and (pilot is None or name == pilot):
                models.append(model)
        if pilot is not None and not models:
            raise PlanningError(
                f"no running pilot named '{pilot}' of kinds {kinds} on executor '{executor.label}'"
            )
        return models

    # -- the executor's hooks --------------------------------------------------------------------------
    def _attach(self, executor: Any) -> bool:
        """Give ``executor`` the runtime prior and listen to its task completions (once); whether it
        reports completions."""
        key = id(executor)
        if key not in self._attached:
            if hasattr(executor, "set_runtime_prior"):
                executor.set_runtime_prior(self.prior)
            listening = hasattr(executor, "add_completion_listener")
            if listening:
                executor.add_completion_listener(self.completed)
            self._attached[key] = listening
        return self._attached[key]

    def expect(self, expected: Sequence[tuple[tuple[str, int, int], dict[str, float]]]) -> None:
        """Record the runtimes predicted for tasks about to be submitted (for placement)."""
        from parsl_quantum.executors.durations import signature_of

        with self._lock:
            for (name, qubits, shots), per_pilot in expected:
                signature = signature_of(name, qubits, shots).signature
                self._hints[signature] = dict(per_pilot)
                self._hints.move_to_end(signature)
            while len(self._hints) > 4096:
                self._hints.popitem(last=False)

    def prior(self, info: Any, pilot: str) -> float | None:
        """Predicted seconds of a task on ``pilot`` (for the executor's ``earliest_finish`` policy)."""
        with self._lock:
            return self._hints.get(info.signature, {}).get(pilot)

    def completed(self, record: Any) -> None:
        """A task finished (the executor's completion listener): refine the models and the plan's run
        record with it. Tasks that are not a plan's are ignored; a plan's are forgotten once seen."""
        key = getattr(record, "parsl_task_id", None)
        with self._lock:
            entry = self._pending.pop(key, None) if key is not None else None
        if entry is None:
            return
        run, index, scale_then = entry
        run.observe(index, record)
        predicted = run.expected[index].get(record.pilot) if record.pilot else None
        if (
            predicted is None
            or self.profile is None
            or record.pilot not in self.profile.pilots
            or not record.run_time
            or record.run_time <= 0
            or getattr(record, "outcome", "success") != "success"
            or predicted < MIN_REFINING_S  # a few milliseconds say more about fixed costs than the model
        ):
            return
        with self._lock:
            ratios = self._ratios.setdefault(record.pilot, deque(maxlen=self.window))
            ratios.append(record.run_time / (predicted / scale_then))
            median = statistics.median(ratios)
            self.profile.pilots[record.pilot].scale = min(max(median, SCALE_LIMITS[0]), SCALE_LIMITS[1])

    def started(self, plan: CuttingPlan) -> PlanRun:
        """A plan is being submitted: track its tasks for refinement and its run record."""
        executor = plan._executor
        listening = self._attach(executor) if executor is not None else False
        expected = [per_pilot for _, per_pilot in plan._prediction.expected]
        self.expect(plan._prediction.expected)
        run_dir = getattr(executor, "run_dir", None)
        run = PlanRun(
            plan.plan_id,
            plan.predicted_makespan_s,
            expected,
            lambda record: self._log.write(run_dir, record),
            listening,
        )
        scales = {n: m.scale for n, m in (self.profile.pilots if self.profile else {}).items()}

        def register(index: int, future: Any, run: PlanRun) -> None:
            tid = getattr(future, "tid", None)
            if tid is None or not listening:
                return
            scale = 1.0
            per_pilot = run.expected[index]
            if len(per_pilot) == 1:
                scale = scales.get(next(iter(per_pilot)), 1.0)
            with self._lock:
                self._pending[tid] = (run, index, scale)

        run.on_task = register
        return run

    # -- planning ------------------------------------------------------------------------------------
    def plan(
        self,
        circuit: Any,
        observables: Any,
        executor: Any,
        precision: float | None = None,
        shots: int | None = None,
        kinds: Sequence[str] | None = None,
        seed: int = 1234,
        pilot: str | None = None,
        output: str = "values",
    ) -> CuttingPlan:
        """The way of running ``circuit`` that finishes first, planning included, with the others weighed.

        Every candidate is sized to the same target standard error: ``precision``, or the standard error
        of running the circuit whole with ``shots`` shots per measurement basis (default 4096). The
        ``circuit_cutting`` motif reads both the same way, with or without a planner; the maths is
        :mod:`~parsl_quantum.q_dreamer.precision`'s.

        Parameters
        ----------
        circuit
            A circuit (``QuantumCircuit`` or OpenQASM); final measurements are ignored.
        observables
            One observable or a list (``SparsePauliOp`` or Pauli strings); ``None`` for a distribution.
        executor
            The :class:`QuantumPilotExecutor` that will run it.
        precision
            Standard error each value must reach, its observable's weights included (finite, above 0).
        shots
            Instead: the target as a number of shots, the standard error of running the circuit whole,
            uncut, with this many shots per measurement basis (a positive integer). The whole candidate
            spends exactly this; a cut one as many shots per subsystem as reach the same standard error
            (its :attr:`CuttingPlan.shots`).
        kinds
            Pilot kinds the tasks may use.
        seed
            Seed of the cut search.
        pilot
            Plan for this pilot only; the plan's tasks are pinned to it.
        output
            ``"values"``: the plan gives the observables' expectation values. ``"distribution"``: the
            quasi-probability distribution of the circuit's measured bits (all its qubits when it
            measures none), as a :class:`~parsl_quantum.q_dreamer.distribution.Distribution`; the target
            is then the largest standard error of a bit string's quasi-probability (``precision``, or
            ``1 / (2 sqrt(shots))``, what running whole with ``shots`` shots reaches), and the model
            costs the reconstruction for the bit strings it will hold.

        Raises
        ------
        ValueError
            For a non-finite or non-positive ``precision``, a ``shots`` that is not a positive integer, or
            both given; an unknown ``output``; observables given for a distribution; a distribution of a
            circuit that measures in mid-circuit.
        PlanningError
            If the circuit fits no pilot whole and no cut within the limits fits either, or the target
            needs more shots (or time) than the limits allow (the message names the shots needed).
        """
        start = time.perf_counter()
        check_target(precision, shots)
        check_output(output)
        from parsl_quantum.circuits.normalize import strip_measurements, to_circuit
        from parsl_quantum.q_dreamer.planning.decompose import cuttable, pauli_terms
        from parsl_quantum.q_dreamer.planning.template import (
            fingerprint,
            has_classical_control,
            parameter_values,
        )

        measured = None
        if output == "distribution":
            if observables is not None:
                raise ValueError("a distribution of the measured bits takes no observables: pass None")
            measured = measured_bits(circuit)
            observables = measured.observables(to_circuit(circuit).num_qubits)
        if isinstance(observables, str) or not isinstance(observables, Sequence):
            observables = [observables]
        models = self._models(executor, kinds, pilot)
        self._attach(executor)
        assert self.profile is not None
        qc = strip_measurements(to_circuit(circuit))
        ops, _ = pauli_terms(observables, qc.num_qubits)
        uncuttable = has_classical_control(qc)
        view = qc if uncuttable else cuttable(qc)
        values = parameter_values(view)
        structure = fingerprint(qc)
        observable_key = tuple((tuple(op.paulis.to_labels()), tuple(op.coeffs.tolist())) for op in ops)
        # the target depends on the observables alone: a loop's steps group their terms once
        target_key = (observable_key, precision, shots, output)
        with self._lock:
            target = self._targets.get(target_key)
        if target is None:
            target = target_of(ops, precision, shots, output)
            with self._lock:
                self._targets[target_key] = target
                self._trim(self._targets)
        from parsl_quantum.executors.dfk_executors import worker_slots

        slots = worker_slots([executor.label])
        ahead = work_ahead(executor, models)
        key = (
            structure,
            observable_key,
            target,
            tuple(kinds or ()),
            pilot,
            tuple((m.name, m.workers) for m in models),
            slots,
            seed,
            tuple((name, tuple(round(t, 3) for t in free)) for name, free in sorted(ahead.items())),
        )
        with self._lock:
            cached = self._plans.get(key)
        scales = {m.name: m.scale for m in models}
        if cached is not None:
            kept, rejected, pruned, scales_then = cached
            rescale = {name: scales[name] / scales_then.get(name, scales[name]) for name in scales}
            predictions = [p.rebound(values, view, rescale) for p in kept]
            for p in predictions:
                p.planning_s = 0.0
            predictions.sort(key=lambda p: (p.makespan, p.stderr))
        else:
            search = None
            if uncuttable is None:
                with self._lock:
                    found = self._searches.setdefault((structure, observable_key, seed), {})
                    self._trim(self._searches)
                search = CutSearch(view, ops, seed, found)
            prober = Prober(executor, self.profile.measured)
            predictions, rejected, pruned = enumerate_plans(
                qc,
                ops,
                models,
                self.profile.reconstruction,
                slots,
                target,
                values,
                search,
                prober,
                max_cuts=self.max_cuts,
                max_subexperiments=self.max_subexperiments,
                limits=self.limits,
                prune=self.prune,
                ahead=ahead,
            )
            if predictions:
                with self._lock:
                    self._plans[key] = (predictions, rejected, pruned, scales)
                    self._trim(self._plans)
        if not predictions:
            raise PlanningError(self._why_not(qc, models, target, rejected, uncuttable))
        requirements = {k: v for k, v in (("kinds", list(kinds) if kinds else None), ("pilot", pilot)) if v}
        whole = next((p for p in predictions if not p.cut), None)
        plans = [
            self._as_plan(p, whole, qc, ops, executor, requirements, target, measured) for p in predictions
        ]
        best, *others = plans
        best.alternatives = others
        best.pruned = pruned
        elapsed = time.perf_counter() - start
        for p in plans:
            p.planning_s = elapsed
        self._log.write(
            getattr(executor, "run_dir", None),
            {
                "kind": "plan",
                "plan_id": best.plan_id,
                "time": time.time(),
                "circuit": qc.name,
                "qubits": qc.num_qubits,
                "planning_s": elapsed,
                "chosen": best.summary(),
                "alternatives": [p.summary() for p in others],
            },
        )
        return best

    def _trim(self, cache: OrderedDict) -> None:
        while len(cache) > self.cache_size:
            cache.popitem(last=False)

    def _why_not(
        self,
        circuit: Any,
        models: list[PilotModel],
        target: Target,
        rejected: list[Rejected],
        uncuttable: str | None,
    ) -> str:
        """The message of a :class:`PlanningError`."""
        if rejected:
            needs = "; ".join(f"{r.label} needs {r.shots} shots ({r.reason})" for r in rejected)
            return (
                f"circuit of {circuit.num_qubits} qubits: a standard error of {target.stderr:.3g} needs more "
                f"than the limits allow: {needs}; ask for a larger precision or raise max_shots/time_limit_s"
            )
        widest = max((m.max_qubits for m in models), default=0)
        if uncuttable:
            return (
                f"circuit of {circuit.num_qubits} qubits: no pilot holds it whole (widest {widest}), and it "
                f"cannot be cut: circuit cutting does not support {uncuttable}"
            )
        return (
            f"circuit of {circuit.num_qubits} qubits: no pilot holds it whole (widest "
            f"{widest}) and no cut with at most {self.max_cuts} cuts and {self.max_subexperiments} "
            "subexperiments fits; allow more cuts or add a wider pilot"
        )

    def _as_plan(
        self,
        prediction: Prediction,
        whole: Prediction | None,
        circuit: Any,
        observables: Any,
        executor: Any,
        requirements: dict[str, Any],
        target: Target,
        measured: Any = None,
    ) -> CuttingPlan:
        speedup = whole.makespan / prediction.makespan if whole is not None else math.inf
        return CuttingPlan(
            cut=prediction.cut,
            subcircuit_size=prediction.subcircuit_size,
            num_cuts=prediction.num_cuts,
            num_subexperiments=prediction.num_subexperiments,
            shots=prediction.shots,
            predicted_makespan_s=prediction.makespan,
            predicted_speedup=speedup,
            predicted_stderr=prediction.stderr,
            candidate_planning_s=prediction.planning_s,
            plan_id=uuid.uuid4().hex[:12],
            target_stderr=target.stderr,
            output=target.output,
            _measured=measured,
            _prediction=prediction,
            _circuit=circuit,
            _observables=observables,
            _executors=[executor.label],
            _dreamer=self,
            _executor=executor,
            _requirements=requirements,
        )
