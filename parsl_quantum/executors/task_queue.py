"""The executor's queue of waiting tasks, ordered by priority and grouped by eligible pilots.

Tasks are grouped into classes by the set of pilots that can serve them. A dispatch pass looks only at
classes that include a pilot with a free slot, merged in priority order, so a long run of tasks pinned
to a busy pilot costs nothing to skip. The number of waiting tasks a pilot could take (its *demand*)
drives the pilot's elastic scaling.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Iterable, Iterator

from parsl_quantum.executors.task import QuantumTask


class _Ordered:
    """Tasks of one class, sorted by ``sort_key``."""

    def __init__(self) -> None:
        self.keys: list[tuple[int, int]] = []
        self.tasks: dict[tuple[int, int], QuantumTask] = {}

    def add(self, task: QuantumTask) -> None:
        key = task.sort_key
        bisect.insort(self.keys, key)
        self.tasks[key] = task

    def remove(self, task: QuantumTask) -> None:
        key = task.sort_key
        index = bisect.bisect_left(self.keys, key)
        del self.keys[index]
        del self.tasks[key]

    def __len__(self) -> int:
        return len(self.keys)

    def __iter__(self) -> Iterator[tuple[tuple[int, int], QuantumTask]]:
        # Callers do not change the queue while iterating (bindings are applied after the pass).
        for key in self.keys:
            yield key, self.tasks[key]


class TaskQueue:
    """Waiting tasks, by eligibility class and priority. Not thread-safe: the executor locks it."""

    def __init__(self) -> None:
        self._classes: dict[frozenset[str], _Ordered] = {}

    def push(self, task: QuantumTask) -> bool:
        """Add a task under its current ``eligible`` set.

        Returns
        -------
        bool
            Whether no task of the same eligibility was waiting. If some was, the last dispatch pass found
            its pilots full, and the new task cannot be bound either until a slot opens.
        """
        cls = self._classes.get(task.eligible)
        first = cls is None
        if first:
            cls = self._classes[task.eligible] = _Ordered()
        cls.add(task)
        return first

    def remove(self, task: QuantumTask) -> None:
        """Remove a waiting task."""
        cls = self._classes[task.eligible]
        cls.remove(task)
        if not len(cls):
            del self._classes[task.eligible]

    def __len__(self) -> int:
        return sum(len(c) for c in self._classes.values())

    def __iter__(self) -> Iterator[QuantumTask]:
        for cls in list(self._classes.values()):
            for _, task in list(cls):
                yield task

    def waiting_for(self, pilots: Iterable[str]) -> Iterator[QuantumTask]:
        """Tasks that some pilot in ``pilots`` can serve, highest priority first."""
        wanted = set(pilots)
        streams = [iter(c) for key, c in self._classes.items() if key & wanted]
        for _, task in heapq.merge(*streams, key=lambda pair: pair[0]):
            yield task

    def without_pilot(self) -> list[QuantumTask]:
        """Tasks that no live pilot can serve now (they wait for one to recover or be added)."""
        cls = self._classes.get(frozenset())
        return [task for _, task in cls] if cls is not None else []

    def demand(self, pilot: str) -> int:
        """Number of waiting tasks that ``pilot`` can serve."""
        return sum(len(c) for key, c in self._classes.items() if pilot in key)

    def reclassify(self, eligible: Callable[[QuantumTask], frozenset[str]]) -> None:
        """Recompute every task's eligible set (after pilots were added, removed or failed)."""
        tasks = list(self)
        self._classes.clear()
        for task in tasks:
            task.eligible = eligible(task)
            self.push(task)
