"""Workload layer: Q-Dreamer's performance models, calibration, cutting optimizer and DAG rewrite.

Modules are named for the step they perform: ``models`` (predict), ``calibrate`` (fit), ``decompose``
(cut with qiskit-addon-cutting), ``precision`` (the target standard error, and the shots that reach it,
whole or cut), ``optimize`` (weigh every candidate), ``rewrite`` (fragment tasks and a reconstruction task
in the Parsl DAG), ``reconstruct`` (values and standard errors), ``plan`` (the submittable result) and
``dreamer`` (all of it behind one object).
"""

from parsl_quantum.q_dreamer.calibrate import Profile
from parsl_quantum.q_dreamer.decompose import CutProblem, CuttingError, decompose
from parsl_quantum.q_dreamer.dreamer import PlanningError, QDreamer
from parsl_quantum.q_dreamer.plan import CuttingPlan
from parsl_quantum.q_dreamer.reconstruct import Reconstruction

__all__ = [
    "CutProblem",
    "CuttingError",
    "CuttingPlan",
    "PlanningError",
    "Profile",
    "QDreamer",
    "Reconstruction",
    "decompose",
]
