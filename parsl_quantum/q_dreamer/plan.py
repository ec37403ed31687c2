"""``CuttingPlan``: the way Q-Dreamer chose to run a circuit, submittable into the Parsl DAG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from parsl import python_app
from parsl.dataflow.futures import AppFuture

from parsl_quantum.executors.internal import INTERNAL_EXECUTOR
from parsl_quantum.q_dreamer.reconstruct import Reconstruction
from parsl_quantum.q_dreamer.rewrite import submit_cut


def run_whole(circuit: Any, observables: Sequence[Any], shots: int, *, device: Any) -> Reconstruction:
    """Sample the whole circuit on the pilot's device (runs on a worker)."""
    values, errors = device.estimate_with_errors(circuit, observables, shots)
    return Reconstruction(values, errors, {}, shots, 0)


def values_of(result: Reconstruction) -> np.ndarray:
    """The expectation values of a reconstruction."""
    return result.values


@dataclass
class CuttingPlan:
    """One way of running a circuit and its observables, with Q-Dreamer's predictions.

    Attributes
    ----------
    cut
        Whether the circuit is cut.
    subcircuit_size
        Widest subcircuit allowed (the circuit's width when not cut).
    num_cuts, num_subexperiments
        Cuts, and circuits to sample (1 when not cut).
    shots
        Shots per measurement basis (whole) or per subsystem (cut).
    predicted_makespan_s
        Seconds from submission to the values.
    predicted_speedup
        Running whole's predicted makespan over this one's (``inf`` when the circuit does not fit whole).
    predicted_stderr
        Predicted standard error of the values.
    planning_s
        Seconds Q-Dreamer took to weigh every candidate.
    alternatives
        The other plans it weighed, fastest first; each can be submitted too.
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
    alternatives: list[CuttingPlan] = field(default_factory=list)
    _prediction: Any = field(default=None, repr=False)
    _circuit: Any = field(default=None, repr=False)
    _observables: Any = field(default=None, repr=False)
    _executors: list[str] = field(default_factory=list, repr=False)
    _dreamer: Any = field(default=None, repr=False)
    _requirements: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def label(self) -> str:
        """A short name: ``whole`` or ``cut to <k> qubits``."""
        return "whole" if not self.cut else f"cut to {self.subcircuit_size} qubits"

    def submit_reconstruction(
        self, classical_executors: Sequence[str] | None = None, seed: int | None = None, **requirements: Any
    ) -> AppFuture:
        """Rewrite the work into the Parsl DAG; an ``AppFuture`` of the
        :class:`~parsl_quantum.q_dreamer.reconstruct.Reconstruction` (values and standard errors).

        Parameters
        ----------
        classical_executors
            Executors for the reconstruction task (default: the submitting host).
        seed
            Seed of the standard-error estimate.
        **requirements
            Requirements of the quantum tasks (``kinds``, ``pilot``, ``priority``, ``min_fidelity``).
        """
        if self._dreamer is not None:
            self._dreamer.expect(self._prediction.expected)
        requirements = {**self._requirements, **requirements}
        expected = self._prediction.expected
        track = self._dreamer.track if self._dreamer is not None else (lambda future, per_pilot: None)
        if not self.cut:
            app = python_app(run_whole, executors=self._executors)
            spec = {"qubits": self._circuit.num_qubits, "shots": self.shots, **requirements}
            future = app(self._circuit, self._observables, self.shots, parsl_resource_specification=spec)
            track(future, expected[0][1])
            return future
        return submit_cut(
            self._prediction.problem,
            self._prediction.allocation,
            self._executors,
            classical_executors,
            requirements,
            cost=self._prediction.cost,
            seed=seed,
            on_fragment=lambda index, future: track(future, expected[index][1]),
        )

    def submit(self, classical_executors: Sequence[str] | None = None, **requirements: Any) -> AppFuture:
        """Rewrite the work into the Parsl DAG; an ``AppFuture`` of the expectation values.

        Downstream apps take it like any other ``AppFuture``.
        """
        result = self.submit_reconstruction(classical_executors, **requirements)
        return python_app(values_of, executors=[INTERNAL_EXECUTOR])(result)

    def row(self) -> str:
        """One line of a plan table."""
        speedup = "n/a" if math.isinf(self.predicted_speedup) else f"{self.predicted_speedup:.2f}x"
        return (
            f"{self.label:>18} {self.num_cuts:>4} {self.num_subexperiments:>7} {self.shots:>8} "
            f"{self.predicted_makespan_s:>10.3f} {speedup:>8} {self.predicted_stderr:>9.4f}"
        )

    def table(self) -> str:
        """This plan and its alternatives as a table, the chosen one marked."""
        header = (
            f"  {'configuration':>18} {'cuts':>4} {'circuits':>7} {'shots':>8} {'makespan s':>10} "
            f"{'speedup':>8} {'stderr':>9}"
        )
        lines = [header, f"* {self.row()}"] + [f"  {alt.row()}" for alt in self.alternatives]
        return "\n".join(lines)
