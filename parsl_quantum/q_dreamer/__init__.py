"""Workload layer: Q-Dreamer's performance models, calibration, cutting planner and DAG rewrite.

Two halves, each named for what it does: ``model`` (what a task costs on a pilot: the performance
models, their calibration and the probe of a circuit) and ``planning`` (cutting a circuit, weighing every
way to run it, rewriting the Parsl DAG into fragment tasks and a reconstruction task, and reconstructing
the values, or the distribution of the measured bits). ``distribution`` holds that
:class:`Distribution`. ``precision`` (the target standard error, and the shots that reach it, whole or
cut) serves both the planner and the circuit-cutting motif; ``dreamer`` puts it all behind one object.
"""

from parsl_quantum.q_dreamer.distribution import Distribution
from parsl_quantum.q_dreamer.dreamer import PlanningError, QDreamer
from parsl_quantum.q_dreamer.model.calibrate import Profile
from parsl_quantum.q_dreamer.planning.decompose import CutProblem, CuttingError, decompose
from parsl_quantum.q_dreamer.planning.plan import CuttingPlan
from parsl_quantum.q_dreamer.planning.reconstruct import Reconstruction

__all__ = [
    "CutProblem",
    "CuttingError",
    "CuttingPlan",
    "Distribution",
    "PlanningError",
    "Profile",
    "QDreamer",
    "Reconstruction",
    "decompose",
]
