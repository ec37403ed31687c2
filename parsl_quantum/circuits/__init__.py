"""Circuits, shared by every layer: normalising and shipping as QPY (:mod:`.normalize`), Qiskit-PennyLane
conversion (:mod:`.convert`), estimation by sampling (:mod:`.estimation`), deferred measurement
(:mod:`.deferred_measurement`) and running several circuits side by side on a wide device
(:mod:`.packing`)."""

from parsl_quantum.circuits.normalize import PackedCircuits

__all__ = ["PackedCircuits"]
