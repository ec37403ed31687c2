"""Loading a run for the report: the quantum executors' task records and Q-Dreamer's plans.

A run directory is Parsl's (``runinfo/000``): each :class:`QuantumPilotExecutor` writes its task records to
``<run_dir>/<label>/tasks.sqlite`` (table ``tasks``) and Q-Dreamer appends its plans and their runs to
``<run_dir>/q_dreamer/plans.jsonl``. Columns are read by name, so files written by older versions (without
``parsl_task_id``, ``worker`` or ``block``) load too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parsl_quantum.executors.metrics import TaskRecord, read_metrics
from parsl_quantum.report.roles import USER, task_role

OUTCOMES = ("success", "error", "failed", "unschedulable", "cancelled")
"""Final outcomes of a task, as the executor records them."""


class RunNotFoundError(FileNotFoundError):
    """A directory holds no quantum executor's task records (``*/tasks.sqlite``), nor does any run in it."""


@dataclass
class TaskRow(TaskRecord):
    """One task of a run: its executor's :class:`~parsl_quantum.executors.metrics.TaskRecord` and the
    executor's label. ``worker`` is ``host:pid`` where recorded, else the host name, else ``None``.

    Attributes
    ----------
    executor
        Label of the executor that ran it.
    """

    executor: str = ""

    @property
    def ran(self) -> bool:
        """Whether a worker started and ended the task."""
        return self.run_time is not None

    @property
    def role(self) -> str:
        """``"user"`` for the user's own work, else the overhead it is (``"calibration"``, ``"probe"``,
        ``"warm-up"``): see :mod:`parsl_quantum.report.roles`."""
        return task_role(self.name)


@dataclass(frozen=True)
class PlanRun:
    """A Q-Dreamer plan that ran: what it chose and predicted, and what was measured.

    Attributes
    ----------
    plan_id
        The plan's id in ``plans.jsonl``.
    plan
        The plan line (``circuit``, ``qubits``, ``planning_s``, ``chosen``, ``alternatives``); empty if
        only the run line was found.
    predicted_makespan_s, measured_makespan_s
        Seconds from submission to the values, predicted and measured.
    tasks
        Per task: ``parsl_task_id``, ``executor_task_id``, ``predicted_s`` and ``measured_s``.
    """

    plan_id: Any
    plan: dict[str, Any]
    predicted_makespan_s: float
    measured_makespan_s: float
    tasks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    """What a report shows: every quantum task of a run, the plans Q-Dreamer made and those that ran.

    Attributes
    ----------
    run_dir
        The run directory read (an absolute path).
    tasks
        Task records of every quantum executor, in submission order: the user's tasks and the overhead
        (:attr:`TaskRow.role`).
    plans
        Plan lines of ``plans.jsonl``, in order.
    plan_runs
        Plans that ran, in order.
    skipped_lines
        Lines of ``plans.jsonl`` that were not valid JSON objects (a run cut short mid-write).
    """

    run_dir: Path
    tasks: list[TaskRow]
    plans: list[dict[str, Any]] = field(default_factory=list)
    plan_runs: list[PlanRun] = field(default_factory=list)
    skipped_lines: int = 0

    @property
    def origin(self) -> float:
        """The first submission: time zero of the charts."""
        return min((t.submit for t in self.tasks), default=0.0)

    @property
    def user_tasks(self) -> list[TaskRow]:
        """The user's own tasks, in submission order: what the headline, the pilot table's task counts and
        the queue waits describe."""
        return [t for t in self.tasks if t.role == USER]

    @property
    def overhead_tasks(self) -> list[TaskRow]:
        """Calibration, probe and warm-up tasks, in submission order: drawn apart."""
        return [t for t in self.tasks if t.role != USER]

    @property
    def pilots(self) -> list[str]:
        """Names of the pilots that took tasks, sorted (prefixed by executor when there are several)."""
        return sorted({pilot_name(self, t) for t in self.tasks if t.pilot is not None})


def pilot_name(run: Run, task: TaskRow) -> str:
    """The pilot's name in charts: ``pilot``, or ``executor/pilot`` when the run has several executors."""
    several = len({t.executor for t in run.tasks}) > 1
    pilot = task.pilot or "unbound"
    return f"{task.executor}/{pilot}" if several else pilot


def task_files(run_dir: Path) -> list[Path]:
    """Every ``<label>/tasks.sqlite`` directly under ``run_dir``, sorted."""
    return sorted(p for p in run_dir.glob("*/tasks.sqlite") if p.is_file())


def find_run_dir(path: str | Path) -> Path:
    """The run directory to report on: ``path`` itself if it holds task records, else its newest run.

    Parameters
    ----------
    path
        A Parsl run directory (``runinfo/000``) or the directory holding runs (``runinfo``).

    Raises
    ------
    RunNotFoundError
        If neither ``path`` nor any directory in it holds ``*/tasks.sqlite``.
    """
    path = Path(path).absolute()
    if task_files(path):
        return path
    runs = [p for p in path.iterdir() if p.is_dir() and task_files(p)] if path.is_dir() else []
    if not runs:
        raise RunNotFoundError(
            f"no quantum executor's task records (*/tasks.sqlite) in {path} or in a run directory under it"
        )
    return max(runs, key=lambda p: (max(f.stat().st_mtime for f in task_files(p)), p.name))


def read_tasks(path: Path) -> list[TaskRow]:
    """Task records of one executor's ``tasks.sqlite``, whichever columns its version wrote."""
    rows = []
    for record in read_metrics(str(path)):
        row = TaskRow(**record.as_dict(), executor=path.parent.name)
        row.worker = row.worker or row.host
        rows.append(row)
    return rows


def read_plans(path: Path) -> tuple[list[dict[str, Any]], list[PlanRun], int]:
    """Plan lines, plans that ran and the count of unreadable lines of a ``plans.jsonl``."""
    plans: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    skipped = 0
    if path.is_file():
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                skipped += 1
                continue
            if not isinstance(entry, dict):
                skipped += 1
            elif entry.get("kind") == "plan":
                plans.append(entry)
            elif entry.get("kind") == "run":
                runs.append(entry)
    by_id = {p.get("plan_id"): p for p in plans}
    plan_runs = [
        PlanRun(
            plan_id=r.get("plan_id"),
            plan=by_id.get(r.get("plan_id"), {}),
            predicted_makespan_s=float(r["predicted_makespan_s"]),
            measured_makespan_s=float(r["measured_makespan_s"]),
            tasks=[t for t in r.get("tasks", []) if isinstance(t, dict)],
        )
        for r in runs
        if r.get("predicted_makespan_s") is not None and r.get("measured_makespan_s") is not None
    ]
    return plans, plan_runs, skipped


def load_run(path: str | Path) -> Run:
    """Load the run at ``path`` (a run directory, or a directory of runs: the newest is taken).

    Raises
    ------
    RunNotFoundError
        If no quantum executor's task records are found.
    """
    run_dir = find_run_dir(path)
    tasks = [t for f in task_files(run_dir) for t in read_tasks(f)]
    tasks.sort(key=lambda t: (t.submit, t.executor, t.task_id))
    plans, plan_runs, skipped = read_plans(run_dir / "q_dreamer" / "plans.jsonl")
    return Run(run_dir=run_dir, tasks=tasks, plans=plans, plan_runs=plan_runs, skipped_lines=skipped)
