"""``QDreamer``: calibrate the models, plan how to run a circuit, and keep the models honest online.

Typical use::

    dreamer = QDreamer()                     # or QDreamer(Profile.load("profile.json"))
    dreamer.calibrate(qex).save("profile.json")
    plan = dreamer.plan(circuit, observables, qex, precision=0.01)
    print(plan.table())                      # the chosen plan and every alternative weighed
    values = plan.submit()                   # an AppFuture of the expectation values

Planning also gives the executor Q-Dreamer's predictions: the ``earliest_finish`` policy then places the
fragment tasks with the runtimes the models expect, before any has been observed. Each plan first
compares the runtimes observed since the last plan with what was predicted, and scales each pilot's model
by the ratio (an exponentially weighted correction): the profile refines itself as work runs.
"""

from __future__ import annotations

import logging
import math
import statistics
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from parsl_quantum.executors.capacity import worker_slots
from parsl_quantum.executors.runtime_estimates import SignatureInfo, signature_of
from parsl_quantum.q_dreamer.calibrate import Profile, calibrate_executor
from parsl_quantum.q_dreamer.models import PilotModel
from parsl_quantum.q_dreamer.optimize import Prediction, enumerate_plans
from parsl_quantum.q_dreamer.plan import CuttingPlan
from parsl_quantum.q_dreamer.probe import Prober

logger = logging.getLogger(__name__)


MIN_REFINING_S = 0.05
"""Predicted seconds below which a task's observed time does not refine the models."""
SCALE_LIMITS = (0.5, 2.0)
"""The online correction stays within these factors: beyond them, calibrate again."""


class PlanningError(RuntimeError):
    """No way to run a circuit on the executor's pilots (too wide to run whole, and no cut fits)."""


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
    """

    def __init__(
        self,
        profile: Profile | None = None,
        max_cuts: int = 3,
        max_subexperiments: int = 2000,
        window: int = 30,
    ) -> None:
        self.profile = profile
        self.max_cuts = max_cuts
        self.max_subexperiments = max_subexperiments
        self.window = window
        self._hints: dict[str, dict[str, float]] = {}
        self._predicted: dict[int, dict[str, tuple[float, float]]] = {}
        self._ratios: dict[str, deque[float]] = {}
        self._seen: set[int] = set()
        self._lock = threading.Lock()

    # -- calibration ---------------------------------------------------------------------------------
    def calibrate(self, executor: Any) -> Profile:
        """Run micro-benchmarks on every pilot of ``executor`` (under a minute) and fit the models."""
        self.profile = calibrate_executor(executor)
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
            model.workers = max(status[name].workers, status[name].planned_workers, 1)
            if (kinds is None or model.kind in kinds) and (pilot is None or name == pilot):
                models.append(model)
        if pilot is not None and not models:
            raise PlanningError(
                f"no running pilot named '{pilot}' of kinds {kinds} on executor '{executor.label}'"
            )
        return models

    # -- online refinement -----------------------------------------------------------------------------
    def expect(self, expected: Sequence[tuple[tuple[str, int, int], dict[str, float]]]) -> None:
        """Record the runtimes predicted for tasks about to be submitted (for placement and refinement)."""
        with self._lock:
            for (name, qubits, shots), per_pilot in expected:
                self._hints[signature_of(name, qubits, shots).signature] = dict(per_pilot)

    def track(self, future: Any, per_pilot: dict[str, float]) -> None:
        """Pair a submitted task with its own prediction, for :meth:`refine` (once Parsl has launched it)."""

        def record(done: Any) -> None:
            launched = done.task_record.get("exec_fu")
            task_id = getattr(launched, "parsl_executor_task_id", None)
            if task_id is not None:
                scales = {name: m.scale for name, m in (self.profile.pilots if self.profile else {}).items()}
                with self._lock:
                    self._predicted[task_id] = {p: (t, scales.get(p, 1.0)) for p, t in per_pilot.items()}

        future.add_done_callback(record)

    def prior(self, info: SignatureInfo, pilot: str) -> float | None:
        """Predicted seconds of a task on ``pilot`` (for the executor's ``earliest_finish`` policy)."""
        with self._lock:
            return self._hints.get(info.signature, {}).get(pilot)

    def refine(self, executor: Any) -> int:
        """Correct each pilot's model by what its recent tasks took against what was predicted for them.

        Each task is compared with its own prediction, with the correction then in force taken out; a
        pilot's correction becomes the median of its last ``window`` such ratios, bounded to
        ``SCALE_LIMITS``. A median of recent tasks follows a pilot that got slower or faster, and one
        mispredicted task cannot drag it (a product of per-task updates would compound).

        Returns
        -------
        int
            Task records used.
        """
        if self.profile is None:
            return 0
        used = 0
        touched = set()
        for record in executor.metrics():
            if record.task_id in self._seen or record.run_time is None or record.pilot is None:
                continue
            self._seen.add(record.task_id)
            with self._lock:
                predicted = self._predicted.get(record.task_id, {}).get(record.pilot)
            if predicted is None or record.pilot not in self.profile.pilots or record.run_time <= 0:
                continue
            seconds, scale_then = predicted
            if seconds < MIN_REFINING_S:
                continue  # tasks of a few milliseconds say more about fixed costs than about the model
            self._ratios.setdefault(record.pilot, deque(maxlen=self.window)).append(
                record.run_time / (seconds / scale_then)
            )
            touched.add(record.pilot)
            used += 1
        for name in touched:
            median = statistics.median(self._ratios[name])
            self.profile.pilots[name].scale = min(max(median, SCALE_LIMITS[0]), SCALE_LIMITS[1])
        return used

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
    ) -> CuttingPlan:
        """The way of running ``circuit`` that finishes first, with the others it weighed.

        Parameters
        ----------
        circuit
            A circuit (``QuantumCircuit`` or OpenQASM); final measurements are ignored.
        observables
            One observable or a list (``SparsePauliOp`` or Pauli strings).
        executor
            The :class:`QuantumPilotExecutor` that will run it.
        precision
            Standard error to reach; shots follow from it for every candidate.
        shots
            Shots instead (per measurement basis whole, per subsystem cut). Default: 4096.
        kinds
            Pilot kinds the tasks may use.
        seed
            Seed of the cut search.
        pilot
            Plan for this pilot only; the plan's tasks are pinned to it.

        Raises
        ------
        PlanningError
            If the circuit fits no pilot whole and no cut within the limits fits either.
        """
        if isinstance(observables, str) or not isinstance(observables, Sequence):
            observables = [observables]
        self.refine(executor)
        models = self._models(executor, kinds, pilot)
        if executor.estimator.prior is None:
            executor.estimator.prior = self.prior
        assert self.profile is not None
        slots = worker_slots([executor.label])
        predictions, elapsed = enumerate_plans(
            circuit,
            observables,
            models,
            self.profile.reconstruction,
            slots,
            precision=precision,
            shots=shots,
            max_cuts=self.max_cuts,
            max_subexperiments=self.max_subexperiments,
            seed=seed,
            prober=Prober({d.name: dict(d.options) for d in executor.pilot_descriptions}),
        )
        if not predictions:
            widest = max((m.max_qubits for m in models), default=0)
            raise PlanningError(
                f"circuit of {getattr(circuit, 'num_qubits', '?')} qubits: no pilot holds it whole (widest "
                f"{widest}) and no cut with at most {self.max_cuts} cuts and {self.max_subexperiments} "
                "subexperiments fits; allow more cuts or add a wider pilot"
            )
        whole = next((p for p in predictions if not p.cut), None)
        from parsl_quantum.providers.circuits import strip_measurements, to_circuit
        from parsl_quantum.q_dreamer.decompose import pauli_terms

        qc = strip_measurements(to_circuit(circuit))
        ops, _ = pauli_terms(observables, qc.num_qubits)
        requirements = {k: v for k, v in (("kinds", list(kinds) if kinds else None), ("pilot", pilot)) if v}
        plans = [self._as_plan(p, whole, qc, ops, executor.label, elapsed, requirements) for p in predictions]
        best, *others = plans
        best.alternatives = others
        return best

    def _as_plan(
        self,
        prediction: Prediction,
        whole: Prediction | None,
        circuit: Any,
        observables: Any,
        label: str,
        elapsed: float,
        requirements: dict[str, Any],
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
            planning_s=elapsed,
            _prediction=prediction,
            _circuit=circuit,
            _observables=observables,
            _executors=[label],
            _dreamer=self,
            _requirements=requirements,
        )
