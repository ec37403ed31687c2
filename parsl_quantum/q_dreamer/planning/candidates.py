"""Candidate records of the cutting planner: what a candidate may need at most (:class:`Limits`), one set
aside (:class:`Rejected`) and one weighed, with what the models predict for it (:class:`Prediction`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parsl_quantum.q_dreamer.planning.decompose import CutProblem
from parsl_quantum.q_dreamer.planning.template import CutTemplate


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
    task_overhead
        Seconds a fragment task was predicted to cost its worker beyond its circuits: what the fragments
        were sized with, and will be again when submitted.
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
    task_overhead: float = 0.0
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

    def submitted_problem(self) -> CutProblem | None:
        """The cut problem fragment tasks are made from (``None`` when not cut): the bound one where
        :attr:`problem` bound it already, else the template's circuits unbound: the tasks ship the
        template and :attr:`values`, so binding them here would be work nothing uses."""
        if self.template is None:
            return None
        return self._problem if self._problem is not None else self.template.unbound(self.values)

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
