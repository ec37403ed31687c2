"""Task requirements from ``parsl_resource_specification``, and whether a pilot meets them."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from parsl.executors.errors import InvalidResourceSpecification

from parsl_quantum.devices.device import KINDS

REQUIREMENT_KEYS = frozenset({"qubits", "kinds", "pilot", "shots", "priority", "min_fidelity", "walltime"})


class PilotTraits(Protocol):
    """What eligibility looks at: a pilot's name, kind, width and fidelity (``None`` if not yet known)."""

    name: str
    kind: str

    @property
    def qubits(self) -> int | None: ...

    @property
    def fidelity(self) -> float | None: ...


def _invalid(key: str, message: str) -> InvalidResourceSpecification:
    return InvalidResourceSpecification({key}, message)


@dataclass(frozen=True)
class Requirements:
    """What a task needs of the pilot it is bound to.

    Attributes
    ----------
    qubits
        Width of the widest circuit the task runs.
    kinds
        Pilot kinds allowed (``{"cpu", "gpu", "qpu"}`` by default).
    pilot
        Name of the one pilot allowed (pinning), or ``None``.
    shots
        Shots the task will take (used to learn and predict runtimes).
    priority
        Larger runs first; equal priorities run in submission order.
    min_fidelity
        Lowest acceptable pilot fidelity (1 for simulators; 1 - median two-qubit error for QPUs).
    walltime
        Seconds the task may run on a worker before it is failed (``None``: no limit).
    """

    qubits: int = 0
    kinds: frozenset[str] = frozenset(KINDS)
    pilot: str | None = None
    shots: int | None = None
    priority: int = 0
    min_fidelity: float = 0.0
    walltime: float | None = None

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | None) -> Requirements:
        """Parse a resource specification.

        Raises
        ------
        InvalidResourceSpecification
            For an unknown key (the message lists the accepted ones) or a value of the wrong type.
        """
        if not spec:
            return cls()
        unknown = set(spec) - REQUIREMENT_KEYS
        if unknown:
            raise InvalidResourceSpecification(
                unknown,
                "the quantum executor accepts only these requirement keys: "
                + ", ".join(sorted(REQUIREMENT_KEYS)),
            )
        values: dict[str, Any] = {}
        if "qubits" in spec:
            qubits = spec["qubits"]
            if isinstance(qubits, bool) or not isinstance(qubits, int) or qubits < 0:
                raise _invalid("qubits", f"'qubits' must be a non-negative integer, got {qubits!r}")
            values["qubits"] = qubits
        if "kinds" in spec:
            kinds = spec["kinds"]
            names = [kinds] if isinstance(kinds, str) else kinds
            if isinstance(names, (list, tuple, set, frozenset)) and all(isinstance(k, str) for k in names):
                kinds = frozenset(names)
            else:
                kinds = frozenset()
            if not kinds or not kinds <= set(KINDS):
                raise _invalid(
                    "kinds", f"'kinds' must be a non-empty subset of {KINDS}, got {spec['kinds']!r}"
                )
            values["kinds"] = kinds
        if "pilot" in spec and spec["pilot"] is not None:
            if not isinstance(spec["pilot"], str):
                raise _invalid("pilot", f"'pilot' must be a pilot name, got {spec['pilot']!r}")
            values["pilot"] = spec["pilot"]
        if "shots" in spec and spec["shots"] is not None:
            shots = spec["shots"]
            if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
                raise _invalid("shots", f"'shots' must be a positive integer, got {shots!r}")
            values["shots"] = shots
        if "priority" in spec:
            priority = spec["priority"]
            if isinstance(priority, bool) or not isinstance(priority, int):
                raise _invalid("priority", f"'priority' must be an integer, got {priority!r}")
            values["priority"] = priority
        if "min_fidelity" in spec:
            fidelity = spec["min_fidelity"]
            if (
                isinstance(fidelity, bool)
                or not isinstance(fidelity, (int, float))
                or not 0.0 <= fidelity <= 1.0
            ):
                raise _invalid("min_fidelity", f"'min_fidelity' must be in [0, 1], got {fidelity!r}")
            values["min_fidelity"] = float(fidelity)
        if "walltime" in spec and spec["walltime"] is not None:
            walltime = spec["walltime"]
            if (
                isinstance(walltime, bool)
                or not isinstance(walltime, (int, float))
                or not math.isfinite(walltime)
                or walltime <= 0
            ):
                raise _invalid("walltime", f"'walltime' must be positive seconds, got {walltime!r}")
            values["walltime"] = float(walltime)
        return cls(**values)

    def unmet_by(self, pilot: PilotTraits) -> str | None:
        """Why ``pilot`` cannot serve these requirements, or ``None`` if it can (or may, once known)."""
        if self.pilot is not None and pilot.name != self.pilot:
            return f"pinned to pilot '{self.pilot}'"
        if pilot.kind not in self.kinds:
            return f"kind {pilot.kind} not in allowed kinds {sorted(self.kinds)}"
        if pilot.qubits is not None and self.qubits > pilot.qubits:
            return f"needs {self.qubits} qubits, pilot '{pilot.name}' holds {pilot.qubits}"
        if pilot.fidelity is not None and pilot.fidelity < self.min_fidelity:
            return f"needs fidelity >= {self.min_fidelity}, pilot '{pilot.name}' has {pilot.fidelity:.4f}"
        return None

    def describe(self) -> str:
        """A short text of the requirements, for messages."""
        parts = [f"qubits={self.qubits}"]
        if self.kinds != frozenset(KINDS):
            parts.append(f"kinds={sorted(self.kinds)}")
        if self.pilot:
            parts.append(f"pilot={self.pilot}")
        if self.min_fidelity:
            parts.append(f"min_fidelity={self.min_fidelity}")
        return ", ".join(parts)
