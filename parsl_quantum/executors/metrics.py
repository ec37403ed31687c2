"""Per-task metrics: where each task ran and when, kept in memory and in a SQLite file."""

from __future__ import annotations

import dataclasses
import operator
import sqlite3
import threading
from dataclasses import dataclass


@dataclass
class TaskRecord:
    """The life of one task on a :class:`QuantumPilotExecutor`.

    Times are seconds since the epoch; ``start``/``end`` are taken on the worker around the call of
    the task's function, ``submit``/``bind``/``done`` on the submitting host.

    Attributes
    ----------
    task_id, name
        The executor's task id and the function's name.
    pilot, backend, kind
        Where the last attempt ran.
    submit, bind, start, end, done
        When the task reached the executor, was bound to a pilot, started and ended on the worker, and
        when its future was completed.
    attempts
        Bindings, including those lost to pilot faults.
    outcome
        ``"pending"``, ``"success"``, ``"error"`` (the function raised), ``"failed"`` (pilot faults
        exhausted ``max_attempts``), ``"unschedulable"`` or ``"cancelled"``.
    qubits, shots, priority
        The task's requirements.
    host
        The worker's host name.
    error
        The error message, for outcomes other than success.
    """

    task_id: int
    name: str
    submit: float
    qubits: int = 0
    shots: int | None = None
    priority: int = 0
    pilot: str | None = None
    backend: str | None = None
    kind: str | None = None
    bind: float | None = None
    start: float | None = None
    end: float | None = None
    done: float | None = None
    attempts: int = 0
    outcome: str = "pending"
    host: str | None = None
    error: str | None = None

    @property
    def queue_wait(self) -> float | None:
        """Seconds from submission to binding (the last binding)."""
        return None if self.bind is None else self.bind - self.submit

    @property
    def run_time(self) -> float | None:
        """Seconds the function ran on the worker."""
        return None if self.start is None or self.end is None else self.end - self.start

    def as_dict(self) -> dict[str, object]:
        """The record as a plain dict."""
        return dataclasses.asdict(self)


_COLUMNS = [f.name for f in dataclasses.fields(TaskRecord)]
_ROW = operator.attrgetter(*_COLUMNS)


class MetricsStore:
    """Finished task records, in memory and appended to a SQLite table ``tasks``.

    Parameters
    ----------
    path
        SQLite file; ``None`` keeps records in memory only.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._records: list[TaskRecord] = []
        self._unwritten: list[TaskRecord] = []
        self._lock = threading.Lock()
        if path is not None:
            with sqlite3.connect(path) as db:
                cols = ", ".join(_COLUMNS)
                db.execute(f"CREATE TABLE IF NOT EXISTS tasks ({cols})")

    def add(self, record: TaskRecord) -> None:
        """Keep a finished record (written to SQLite on the next :meth:`flush`)."""
        with self._lock:
            self._records.append(record)
            self._unwritten.append(record)

    def records(self) -> list[TaskRecord]:
        """Every finished record, in completion order."""
        with self._lock:
            return list(self._records)

    def flush(self) -> None:
        """Append records not yet written to the SQLite file."""
        with self._lock:
            batch, self._unwritten = self._unwritten, []
        if self.path is None or not batch:
            return
        marks = ", ".join("?" for _ in _COLUMNS)
        with sqlite3.connect(self.path) as db:
            db.executemany(
                f"INSERT INTO tasks VALUES ({marks})",
                [_ROW(r) for r in batch],
            )


def read_metrics(path: str) -> list[TaskRecord]:
    """Task records from a metrics SQLite file written by an executor."""
    with sqlite3.connect(path) as db:
        rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM tasks").fetchall()
    return [TaskRecord(**dict(zip(_COLUMNS, row, strict=True))) for row in rows]
