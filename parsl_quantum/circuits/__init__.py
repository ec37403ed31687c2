"""Circuits, shared by every layer: normalising and packing (:mod:`.normalize`), Qiskit-PennyLane conversion
(:mod:`.convert`), estimation by sampling (:mod:`.estimation`) and deferred measurement
(:mod:`.deferred_measurement`)."""

from parsl_quantum.circuits.normalize import PackedCircuits

__all__ = ["PackedCircuits"]
