"""``CuttingPlan``: the way Q-Dreamer chose to run a circuit, submittable into the Parsl DAG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from parsl import python_app
from parsl.dataflow.futures import AppFuture

from parsl_quantum.executors.dfk_executors import INTERNAL_EXECUTOR
from parsl_quantum.q_dreamer.distribution import Distribution
from parsl_quantum.q_dreamer.model.qpu_time import PackingComparison
from parsl_quantum.q_dreamer.planning.qpu_workload import qpu_columns, qpu_seconds
from parsl_quantum.q_dreamer.planning.reconstruct import Reconstruction, batches_for
from parsl_quantum.q_dreamer.planning.reconstruct_distribution import bit_layout, sampled_distribution
from parsl_quantum.q_dreamer.planning.rewrite import submit_cut
from parsl_quantum.q_dreamer.precision import check_output


def run_whole(circuit: Any, observables: Sequence[Any], shots: int, *, device: Any) -> Reconstruction:
    """Sample the whole circuit on the pilot's device (runs on a worker)."""
    values, errors = device.estimate_with_errors(circuit, observables, shots)
    return Reconstruction(np.atleast_1d(values), np.atleast_1d(errors), {}, shots, 0)


def run_whole_distribution(
    circuit: Any, num_bits: int, shots: int, seed: int | None, *, device: Any
) -> Distribution:
    """Sample the whole circuit (measuring its bits) on the pilot's device, and its distribution (runs on
    a worker)."""
    return sampled_distribution(device.sample(circuit, shots=shots), num_bits, batches_for(shots), seed)


def values_of(result: Reconstruction) -> np.ndarray:
    """The expectation values of a reconstruction."""
    return result.values


@dataclass
class CuttingPlan:
    """One way of running a circuit and its observables, with Q-Dreamer's predictions.

    Every plan Q-Dreamer weighs reaches the same target standard error (``target_stderr``: the
    ``precision`` asked for, or what running whole with the ``shots`` asked for per measurement basis
    reaches); they differ in the shots they spend and in time.

    Attributes
    ----------
    cut
        Whether the circuit is cut.
    subcircuit_size
        Widest subcircuit allowed (the circuit's width when not cut).
    num_cuts, num_subexperiments
        Cuts, and circuits to sample (1 when not cut).
    shots
        Shots this plan spends for the target standard error: per measurement basis (whole; the
        ``shots=`` asked for, if it was) or per subsystem (cut; more, to reach the same standard error).
    predicted_makespan_s
        Seconds from submission to the values.
    predicted_speedup
        Running whole's predicted makespan over this one's, at the same precision (``inf`` when the
        circuit does not fit whole).
    predicted_stderr
        Predicted standard error of the values.
    planning_s
        Seconds the call to ``plan`` took (every candidate weighed).
    candidate_planning_s
        Seconds of planning this candidate needed (its cut search, experiments and probes): what, with
        its makespan, candidates are ranked by.
    alternatives
        The other plans it weighed, best first; each can be submitted too.
    plan_id
        Names the plan in the run directory's ``q_dreamer/plans.jsonl``.
    target_stderr
        The standard error every candidate was sized for.
    pruned
        Candidates set aside by their lower bounds before any experiment was generated.
    output
        What :meth:`submit` gives: ``"values"`` (expectation values) or ``"distribution"`` (a
        :class:`~parsl_quantum.q_dreamer.distribution.Distribution` of the measured bits, every bit
        string's standard error at most ``target_stderr``).
    """

    cut: bool
    subcircuit_size: int
    num_cuts: int
    num_subexperiments: int
    shots: int
    predicted_makespan_s: float
    predicted_speedup: float
    predicted_stderr: float
    planning_s: float = 0.0
    candidate_planning_s: float = 0.0
    alternatives: list[CuttingPlan] = field(default_factory=list)
    plan_id: str = ""
    target_stderr: float = 0.0
    pruned: int = 0
    output: str = "values"
    _measured: Any = field(default=None, repr=False)
    _prediction: Any = field(default=None, repr=False)
    _circuit: Any = field(default=None, repr=False)
    _observables: Any = field(default=None, repr=False)
    _executors: list[str] = field(default_factory=list, repr=False)
    _dreamer: Any = field(default=None, repr=False)
    _executor: Any = field(default=None, repr=False)
    _requirements: dict[str, Any] = field(default_factory=dict, repr=False)
    _qpu_seconds: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        """A short name: ``whole`` or ``cut to <k> qubits``."""
        return "whole" if not self.cut else f"cut to {self.subcircuit_size} qubits"

    @property
    def predicted_total_s(self) -> float:
        """Candidate planning plus makespan: what candidates are ranked by."""
        return self.candidate_planning_s + self.predicted_makespan_s

    def submit_reconstruction(
        self, classical_executors: Sequence[str] | None = None, seed: int | None = None, **requirements: Any
    ) -> AppFuture:
        """Rewrite the work into the Parsl DAG; an ``AppFuture`` of the
        :class:`~parsl_quantum.q_dreamer.planning.reconstruct.Reconstruction` (values and standard errors),
        or of the :class:`~parsl_quantum.q_dreamer.distribution.Distribution` for a plan made for one.

        Parameters
        ----------
        classical_executors
            Executors for the reconstruction task (default: the DataFlowKernel's internal thread executor
            on the submitting host).
        seed
            Seed of the standard-error estimate.
        **requirements
            Requirements of the quantum tasks (``kinds``, ``pilot``, ``priority``, ``min_fidelity``).
        """
        return self._launch(classical_executors, seed, False, requirements)

    def _launch(
        self,
        classical_executors: Sequence[str] | None,
        seed: int | None,
        values_only: bool,
        requirements: dict[str, Any],
    ) -> AppFuture:
        """Submit the plan's tasks: an ``AppFuture`` of what :meth:`submit_reconstruction` gives, or with
        ``values_only`` of the expectation values (a cut's reconstruction task gives them itself)."""
        prediction = self._prediction
        requirements = {**self._requirements, **requirements}
        run = self._dreamer.started(self) if self._dreamer is not None else None
        if not self.cut:
            spec = {"qubits": self._circuit.num_qubits, "shots": self.shots, **requirements}
            if self.output == "distribution":
                measured = self._measured
                future = python_app(run_whole_distribution, executors=self._executors)(
                    measured.measure(self._circuit),
                    measured.num_bits,
                    self.shots,
                    seed,
                    parsl_resource_specification=spec,
                )
            else:
                app = python_app(run_whole, executors=self._executors)
                future = app(self._circuit, self._observables, self.shots, parsl_resource_specification=spec)
            if run is not None:
                run.task(0, future)
                run.finish(future)
            if values_only and self.output != "distribution":
                return python_app(values_of, executors=[INTERNAL_EXECUTOR])(future)
            return future
        problem = prediction.submitted_problem()
        future = submit_cut(
            problem,
            prediction.allocation,
            self._executors,
            classical_executors,
            requirements,
            cost=prediction.cost(problem),
            seed=seed,
            on_fragment=run.task if run is not None else None,
            bits=bit_layout(problem, self._measured) if self.output == "distribution" else None,
            values_only=values_only,
            overhead=prediction.task_overhead,
        )
        if run is not None:
            run.finish(future)
        return future

    def submit(
        self,
        classical_executors: Sequence[str] | None = None,
        output: str | None = None,
        **requirements: Any,
    ) -> AppFuture:
        """Rewrite the work into the Parsl DAG; an ``AppFuture`` of the expectation values, or of the
        :class:`~parsl_quantum.q_dreamer.distribution.Distribution` of the measured bits.

        Downstream apps take it like any other ``AppFuture``.

        Parameters
        ----------
        classical_executors
            Executors for the reconstruction task (default: the DataFlowKernel's internal thread executor
            on the submitting host).
        output
            ``"values"`` or ``"distribution"``; the plan's own :attr:`output` when not given. A plan is
            made for one (``QDreamer.plan(..., output=...)``): a distribution's subexperiments measure
            every measured qubit, and its shots are sized for the largest error of a bit string.
        **requirements
            Requirements of the quantum tasks (``kinds``, ``pilot``, ``priority``, ``min_fidelity``).

        Raises
        ------
        ValueError
            For an ``output`` other than the one the plan was made for.
        """
        if output is not None and check_output(output) != self.output:
            raise ValueError(
                f"this plan was made for {self.output}: plan again with QDreamer.plan(..., output={output!r})"
            )
        return self._launch(classical_executors, None, True, requirements)

    def summary(self) -> dict[str, Any]:
        """This candidate as a dictionary (as the run directory's ``plans.jsonl`` records it)."""
        return {
            "label": self.label,
            "num_cuts": self.num_cuts,
            "subcircuit_size": self.subcircuit_size,
            "num_subexperiments": self.num_subexperiments,
            "shots": self.shots,
            "predicted_stderr": self.predicted_stderr,
            "predicted_makespan_s": self.predicted_makespan_s,
            "planning_s": self.candidate_planning_s,
        }

    def qpu_seconds(self, backend: str | None = None) -> PackingComparison | None:
        """Predicted QPU seconds of this plan's circuits, run one at a time and packed side by side on
        the chip (see :mod:`~parsl_quantum.q_dreamer.planning.qpu_workload`).

        Parameters
        ----------
        backend
            A QPU backend (``fake_*`` or ``ibm_*``); default: the executor's QPU pilot's.

        Returns
        -------
        PackingComparison or None
            ``unpacked`` and ``packed`` predictions (seconds, circuits, jobs); ``None`` when there is
            no QPU to count for.
        """
        return qpu_seconds(self, backend)

    def row(self) -> str:
        """One line of a plan table."""
        speedup = "n/a" if math.isinf(self.predicted_speedup) else f"{self.predicted_speedup:.2f}x"
        return (
            f"{self.label:>18} {self.num_cuts:>4} {self.num_subexperiments:>8} {self.shots:>9} "
            f"{self.predicted_stderr:>9.4f} {self.candidate_planning_s:>10.3f} "
            f"{self.predicted_makespan_s:>10.3f} {self.predicted_total_s:>9.3f} {speedup:>8}"
        )

    def table(self) -> str:
        """This plan and its alternatives as a table, the chosen one marked, with the planning time (and,
        where the executor has a QPU pilot, each plan's QPU seconds one circuit at a time and packed)."""
        header = (
            f"  {'configuration':>18} {'cuts':>4} {'circuits':>8} {'shots':>9} {'stderr':>9} "
            f"{'planning s':>10} {'makespan s':>10} {'total s':>9} {'speedup':>8}"
        )
        pruned = f", {self.pruned} pruned by their lower bounds" if self.pruned else ""
        of = " of every bit string" if self.output == "distribution" else ""
        title = (
            f"planned in {self.planning_s:.3f} s: {len(self.alternatives) + 1} candidates at "
            f"the same target stderr{of} {self.target_stderr:.4g}{pruned}"
        )
        plans = [self, *self.alternatives]
        rows = [plan.row() for plan in plans]
        qpu = qpu_columns(plans)
        if qpu is not None:  # a QPU pilot: its seconds one circuit at a time and packed
            header = f"{header} {qpu[0]}"
            rows = [f"{row} {cells}" for row, cells in zip(rows, qpu[1], strict=True)]
        lines = [title, header, f"* {rows[0]}"] + [f"  {row}" for row in rows[1:]]
        return "\n".join(lines + ([qpu[2]] if qpu is not None else []))
