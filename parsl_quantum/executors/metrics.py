"""Per-task metrics: where each task ran and when, kept in memory and in a SQLite file."""

from __future__ import annotations

import dataclasses
import operator
import os
import sqlite3
import threading
from collections import deque
from concurrent.futures import Future
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
    parsl_task_id
        The DataFlowKernel's id of the task (``None`` outside a DataFlowKernel).
    worker
        The worker process that ran the last attempt, ``host:pid``.
    block
        The pilot's block that ran it, when known.
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
    parsl_task_id: int | None = None
    worker: str | None = None
    block: str | None = None

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
    """Finished task records, appended to a SQLite table ``tasks``; memory holds only a bounded tail.

    Parameters
    ----------
    path
        SQLite file (created readable by its owner only); ``None`` keeps the last ``keep`` records in
        memory only.
    keep
        Records kept in memory when there is no file (a long run's memory stays flat).
    """

    def __init__(self, path: str | None, keep: int = 100_000) -> None:
        self.path = path
        self._records: deque[TaskRecord] = deque(maxlen=keep)
        self._unwritten: list[TaskRecord] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        if path is not None:
            with open(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600), "wb"):
                pass
            with sqlite3.connect(path) as db:
                cols = ", ".join(_COLUMNS)
                db.execute(f"CREATE TABLE IF NOT EXISTS tasks ({cols})")

    def add(self, record: TaskRecord) -> None:
        """Keep a finished record (written to SQLite on the next :meth:`flush`)."""
        with self._lock:
            self._unwritten.append(record)
            if self.path is None:
                self._records.append(record)

    def records(self) -> list[TaskRecord]:
        """Every finished record, in completion order (from the file, when there is one)."""
        if self.path is None:
            with self._lock:
                return list(self._records)
        self.flush()
        return read_metrics(self.path)

    def flush(self) -> None:
        """Append records not yet written to the SQLite file."""
        marks = ", ".join("?" for _ in _COLUMNS)
        with self._write_lock:  # batches are written in the order they were taken
            with self._lock:
                batch, self._unwritten = self._unwritten, []
            if self.path is None or not batch:
                return
            with sqlite3.connect(self.path) as db:
                db.executemany(f"INSERT INTO tasks VALUES ({marks})", [_ROW(r) for r in batch])


def read_metrics(path: str) -> list[TaskRecord]:
    """Task records from a metrics SQLite file written by an executor (opened read-only), in the order
    they were written. Columns are read by name, so files of older versions (without ``parsl_task_id``,
    ``worker`` or ``block``) load too."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        present = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
        columns = [c for c in _COLUMNS if c in present]
        rows = db.execute(f"SELECT {', '.join(columns)} FROM tasks ORDER BY rowid").fetchall()
    return [TaskRecord(**dict(zip(columns, row, strict=True))) for row in rows]


def dfk_task_id(future: Future) -> int | None:
    """The DataFlowKernel's id of the task whose executor future is ``future``, or ``None``.

    The DataFlowKernel learns of completion through a ``functools.partial(handle_exec_update,
    task_record)`` callback on the executor's future; its task record carries the id. Read at completion,
    so submission pays nothing; ``None`` for a future that no DataFlowKernel watches.
    """
    for callback in getattr(future, "_done_callbacks", ()):
        args = getattr(callback, "args", ())
        if args and isinstance(args[0], dict) and isinstance(args[0].get("id"), int):
            return args[0]["id"]
    return None
