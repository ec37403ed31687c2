"""What Q-Dreamer planned and what came of it, as JSON lines in ``<run_dir>/q_dreamer/plans.jsonl``.

One ``{"kind": "plan", ...}`` line per plan (the chosen candidate and the alternatives weighed) and, once a
submitted plan's values are in and each of its tasks has been reported finished, one
``{"kind": "run", ...}`` line with the predicted and measured makespan and each task's predicted and
measured seconds. The run report reads this file.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any


class PlanLog:
    """Appends plan and run records to ``<run_dir>/q_dreamer/plans.jsonl`` (nothing without a run
    directory)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def write(self, run_dir: str | None, record: dict[str, Any]) -> None:
        """Append ``record`` as one JSON line."""
        if not run_dir:
            return
        folder = os.path.join(run_dir, "q_dreamer")
        line = json.dumps(record, default=float) + "\n"
        with self._lock:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            with open(os.path.join(folder, "plans.jsonl"), "a") as f:
                f.write(line)


class PlanRun:
    """One submitted plan: its tasks' predictions and measurements, until its run record is written.

    Parameters
    ----------
    plan_id
        The plan's id.
    predicted_makespan_s
        The plan's predicted makespan.
    expected
        Per task, its predicted seconds on each pilot.
    write
        Called with the run record once the values are in and every task was observed.
    listening
        Whether task completions will be reported (:meth:`observe`); without, the record is written when
        the values are in.
    """

    def __init__(
        self,
        plan_id: str,
        predicted_makespan_s: float,
        expected: list[dict[str, float]],
        write: Callable[[dict[str, Any]], None],
        listening: bool,
    ) -> None:
        self.plan_id = plan_id
        self.predicted_makespan_s = predicted_makespan_s
        self.expected = expected
        self.submitted = time.time()
        self.measured_makespan_s: float | None = None
        self.tasks: dict[int, dict[str, Any]] = {}
        self.waiting = 0
        self.listening = listening
        self._write = write
        self._written = False
        self._lock = threading.Lock()
        self.on_task: Callable[[int, Any, PlanRun], None] | None = None

    def task(self, index: int, future: Any) -> None:
        """A task of the plan was submitted (``future``: its ``AppFuture``)."""
        with self._lock:
            self.tasks[index] = {
                "parsl_task_id": getattr(future, "tid", None),
                "executor_task_id": None,
                "predicted_s": None,
                "measured_s": None,
            }
            self.waiting += 1
        if self.on_task is not None:
            self.on_task(index, future, self)

    def observe(self, index: int, record: Any) -> None:
        """Task ``index`` finished (``record``: the executor's task record)."""
        with self._lock:
            entry = self.tasks.get(index)
            if entry is None or entry["executor_task_id"] is not None:
                return
            entry["executor_task_id"] = record.task_id
            entry["predicted_s"] = self.expected[index].get(record.pilot) if record.pilot else None
            entry["measured_s"] = record.run_time
            self.waiting -= 1
        self._flush()

    def finish(self, future: Any) -> None:
        """The plan's final future; its completion ends the run."""

        def done(_: Any) -> None:
            with self._lock:
                self.measured_makespan_s = time.time() - self.submitted
            self._flush()

        future.add_done_callback(done)

    def _flush(self) -> None:
        with self._lock:
            if self._written or self.measured_makespan_s is None or (self.listening and self.waiting > 0):
                return
            self._written = True
            record = {
                "kind": "run",
                "plan_id": self.plan_id,
                "time": time.time(),
                "predicted_makespan_s": self.predicted_makespan_s,
                "measured_makespan_s": self.measured_makespan_s,
                "tasks": [self.tasks[i] for i in sorted(self.tasks)],
            }
        self._write(record)
