"""QPU time of circuits run one by one or packed side by side: the seconds a QPU is busy, which is what
its users pay for.

One shot of a circuit lasts its critical path on the device (every instruction at the duration the
device's ``Target`` gives it on its qubits, readout included) and is followed by the repetition delay
``r``. A device call (one job) of ``n`` circuits of width ``w`` at ``s`` shots each, on a device that
packs ``k(w)`` circuits of that width side by side (:mod:`parsl_quantum.circuits.packing`), runs
``ceil(n / k(w))`` circuits, each as long as its longest piece::

    T = sum over jobs of [ overhead + sum over packed circuits c of s * (max duration of c's pieces + r) ]

Packing divides ``T`` by about ``k``: a shot's duration (microseconds) is small beside ``r`` (hundreds of
microseconds on IBM devices), so the longest piece hardly costs more than the others. Pieces are taken
in the order given, as :meth:`~parsl_quantum.devices.qpu.QPUDevice.pack` takes them. On a simulator
``k`` is 1 (:meth:`~parsl_quantum.devices.device.Device.packing_factor`).

This is device time, not the service's queue wait nor the classical work around the job.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_REP_DELAY_S = 250e-6
"""Delay between shots when the device does not state one (IBM's default ``rep_delay``)."""


@dataclass(frozen=True)
class CircuitRun:
    """One circuit as the QPU would run it.

    Attributes
    ----------
    duration_s
        Seconds one shot lasts (its critical path on the device, readout included).
    shots
        Shots it needs.
    width
        Qubits it needs (circuits of one width are packed together).
    """

    duration_s: float
    shots: int
    width: int


@dataclass(frozen=True)
class QPUTime:
    """Predicted QPU time of a workload.

    Attributes
    ----------
    seconds
        QPU seconds.
    circuits
        Circuits the QPU runs (a packed circuit counts once).
    pieces
        Circuits of the workload (each piece of a packed circuit counts).
    jobs
        Device calls.
    """

    seconds: float
    circuits: int
    pieces: int
    jobs: int

    @property
    def packing_factor(self) -> float:
        """Pieces per circuit run: 1 without packing."""
        return self.pieces / self.circuits if self.circuits else 1.0


def qpu_time(
    jobs: Sequence[Sequence[CircuitRun]],
    rep_delay_s: float = DEFAULT_REP_DELAY_S,
    packing_factor: Callable[[int], int] | None = None,
    job_overhead_s: float = 0.0,
) -> QPUTime:
    """QPU time of ``jobs``, each a device call of circuits of equal shots.

    Parameters
    ----------
    jobs
        The circuits of each device call (a fragment task calls the device once per distinct shots: a
        call here is one such group).
    rep_delay_s
        Delay between shots.
    packing_factor
        Circuits of a width packed side by side (``packing_factor(width)``); ``None`` packs nothing.
    job_overhead_s
        Fixed seconds of each job.

    Raises
    ------
    ValueError
        If the circuits of one job differ in shots, or a factor is below 1.
    """
    seconds, circuits, pieces = 0.0, 0, 0
    for job in jobs:
        if not job:
            continue
        shots = {run.shots for run in job}
        if len(shots) != 1:
            raise ValueError(f"a job runs its circuits at one number of shots, got {sorted(shots)}")
        by_width: dict[int, list[float]] = {}
        for run in job:
            by_width.setdefault(run.width, []).append(run.duration_s)
        seconds += job_overhead_s
        for width, durations in by_width.items():
            k = 1 if packing_factor is None else int(packing_factor(width))
            if k < 1:
                raise ValueError(f"packing factor for width {width} is {k}; it must be at least 1")
            for start in range(0, len(durations), k):
                seconds += job[0].shots * (max(durations[start : start + k]) + rep_delay_s)
            circuits += math.ceil(len(durations) / k)
            pieces += len(durations)
    return QPUTime(seconds=seconds, circuits=circuits, pieces=pieces, jobs=sum(1 for job in jobs if job))


@dataclass(frozen=True)
class PackingComparison:
    """QPU time of one workload on one device, run one by one and packed.

    Attributes
    ----------
    backend
        The device.
    unpacked, packed
        The two predictions.
    """

    backend: str
    unpacked: QPUTime
    packed: QPUTime

    @property
    def saving(self) -> float:
        """Unpacked over packed seconds."""
        return self.unpacked.seconds / self.packed.seconds if self.packed.seconds else 1.0


def device_runs(batches: Sequence[Sequence[tuple[Any, int]]], device: Any) -> list[list[CircuitRun]]:
    """Each device call's :class:`CircuitRun` s: ``batches`` holds ``(circuit, shots)`` pairs per task, split
    here into one call per distinct shots (as a fragment task samples them).

    Durations are those of the circuits transpiled by ``device`` (a
    :class:`~parsl_quantum.devices.qpu.QPUDevice`), on its target.
    """
    from parsl_quantum.devices.ibm_runtime import isa_durations_s

    calls: list[list[tuple[Any, int]]] = []
    for batch in batches:
        by_shots: dict[int, list[tuple[Any, int]]] = {}
        for circuit, shots in batch:
            by_shots.setdefault(int(shots), []).append((circuit, int(shots)))
        calls.extend(by_shots.values())
    flat = [circuit for call in calls for circuit, _ in call]
    durations = iter(isa_durations_s(device.transpile(flat), device.qiskit_backend)) if flat else iter(())
    return [
        [CircuitRun(next(durations), shots, circuit.num_qubits) for circuit, shots in call] for call in calls
    ]


def compare_packing(
    batches: Sequence[Sequence[tuple[Any, int]]], device: Any, job_overhead_s: float = 0.0
) -> PackingComparison:
    """QPU seconds of ``batches`` (see :func:`device_runs`) on ``device`` one by one and packed as the
    device packs them (:meth:`~parsl_quantum.devices.qpu.QPUDevice.packing_factor`).

    Raises
    ------
    ValueError
        If ``device`` is not a QPU or its emulator: a simulator has no QPU time, and never packs.
    """
    if getattr(device, "kind", None) != "qpu" or not hasattr(device, "qiskit_backend"):
        raise ValueError(f"device '{getattr(device, 'name', device)}' is not a QPU: it has no QPU time")
    runs = device_runs(batches, device)
    rep_delay = getattr(getattr(device, "timing", None), "repetition_delay", None) or DEFAULT_REP_DELAY_S
    return PackingComparison(
        backend=device.name,
        unpacked=qpu_time(runs, rep_delay, None, job_overhead_s),
        packed=qpu_time(runs, rep_delay, device.packing_factor, job_overhead_s),
    )
