"""Circuits, shared by every layer: normalising and shipping as QPY (:mod:`.normalize`), Qiskit-PennyLane
conversion (:mod:`.convert`), estimation by sampling (:mod:`.estimation`), deferred measurement
(:mod:`.deferred_measurement`) and running several circuits side by side on a wide device
(:mod:`.packing`)."""

import warnings
from typing import Any

from parsl_quantum.circuits.normalize import QpyCircuits

__all__ = ["QpyCircuits"]


def __getattr__(name: str) -> Any:
    if name == "PackedCircuits":  # "packed" now means circuits side by side on a chip (.packing)
        warnings.warn(
            "parsl_quantum.circuits.PackedCircuits is now QpyCircuits", DeprecationWarning, stacklevel=2
        )
        return QpyCircuits
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
