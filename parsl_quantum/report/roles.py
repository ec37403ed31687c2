"""Whose work a task is: the user's, or overhead that the middleware or a demo spent around it.

The executor records each task under its function's name (``TaskRecord.name``). Q-Dreamer's calibration
and probes run as ordinary tasks on the pilots, as do the demo's warm-up tasks; a report that counted them
as the user's work would describe the planner, not the workflow (19 of 20 tasks of a small planned run
are calibration). This module is the one place that names them. It imports nothing, so that the report
(which must not import Parsl) and the demo can both use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

USER = "user"
"""Role of a task that is the user's own work."""

OVERHEAD_ROLES: Mapping[str, str] = MappingProxyType(
    {
        # Q-Dreamer's calibration (q_dreamer/model/calibrate.py, calibrate_executor): per-task overhead,
        # the worker's host and cores, and the benchmark circuits the models are fitted to.
        "noop": "calibration",
        "worker_host": "calibration",
        "time_circuits": "calibration",
        # Q-Dreamer's probe of the circuit at hand before predicting it (q_dreamer/model/probe.py).
        "time_probe": "probe",
        # A worker's first task, which builds its device (parsl_quantum/demo.py; any app of this name).
        "warm_up": "warm-up",
    }
)
"""Task function name -> role, for the tasks that are not the user's work (read-only)."""

ROLES = (USER, "calibration", "probe", "warm-up")
"""Every role, the user's first."""

OVERHEAD = ROLES[1:]
"""The roles that are overhead, in the order reports list them."""


def task_role(name: str) -> str:
    """The role of a task whose function is called ``name``: :data:`USER` unless it is overhead."""
    return OVERHEAD_ROLES.get(name, USER)


def is_user_task(name: str) -> bool:
    """Whether a task whose function is called ``name`` is the user's own work."""
    return task_role(name) == USER
