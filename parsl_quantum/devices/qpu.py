"""QPUs: real IBM devices (``ibm_<device>``) and their offline noisy emulators (``fake_<device>``).

Both kinds share this adapter: circuits are transpiled to the device's instruction set and layout, then
handed to a *runner*. A real device's runner is the runtime sampler in a session; an emulator's is
:class:`CompactNoiseEmulator` (or, with ``emulation="backend_run"``, the fake backend's own ``run``, as
qiskit-ibm-runtime documents for fake backends; or, with ``emulation="runtime_local"``, the runtime
sampler in its local testing mode, which is exactly the real device's code path, only slower).

A batch of circuits that need the same shots and are much narrower than the device runs *packed*
(:mod:`parsl_quantum.circuits.packing`): several of them side by side on disjoint regions of the chip, as
one circuit, whose outcomes are split back into each circuit's counts. It saves QPU time in proportion
to the circuits per region set (:meth:`QPUDevice.packing_factor`); callers see the same counts as before.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from parsl_quantum.circuits.normalize import active_qubits
from parsl_quantum.circuits.packing import (
    choose_regions,
    independent_parts,
    pack,
    packable,
    restrict_target,
    split_counts,
)
from parsl_quantum.devices.counts import counts_of
from parsl_quantum.devices.device import Device, DeviceCapabilities
from parsl_quantum.errors import DeviceInputError, TooManyQubitsError

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.providers import BackendV2


class Runner(Protocol):
    """Runs ISA circuits of one device and returns their counts.

    A runner may say, as a class attribute ``packing_pays``, whether several circuits packed side by side
    in one wider circuit cost it less than run one by one: true for a QPU (its time is counted in shots)
    and for an emulator that simulates independent parts apart; false (the default) for one that
    simulates the whole wider state, whose cost grows exponentially with its width.
    """

    def run(self, circuits: list[QuantumCircuit], shots: int) -> list[dict[str, int]]: ...


def packing_pays(runner: Runner) -> bool:
    """Whether ``runner`` runs packed circuits for less than their pieces one by one (see :class:`Runner`)."""
    return bool(getattr(runner, "packing_pays", False))


class BackendRunner:
    """Runs ISA circuits through a backend's own ``run`` (a fake backend simulates them with its noise).

    A job that fails is a backend fault (:class:`~parsl_quantum.errors.BackendError`), not the
    task's: the executor retries it elsewhere.

    Parameters
    ----------
    backend
        A Qiskit backend, e.g. a qiskit-ibm-runtime fake backend or a subclass of one.
    seed_simulator
        Seed of the simulator behind a fake backend.
    """

    packing_pays = False
    """A fake backend's ``run`` simulates every active qubit at once: packing costs it exponentially."""

    def __init__(self, backend: BackendV2, seed_simulator: int | None = None) -> None:
        self._backend = backend
        self._seed = seed_simulator

    def run(self, circuits: list[QuantumCircuit], shots: int) -> list[dict[str, int]]:
        """Counts of each circuit."""
        from parsl_quantum.errors import BackendError

        options: dict[str, Any] = {"shots": shots}
        if self._seed is not None:
            options["seed_simulator"] = self._seed
        try:
            result = self._backend.run(circuits, **options).result()
        except Exception as exc:
            raise BackendError(f"job on '{self._backend.name}' failed: {type(exc).__name__}: {exc}") from exc
        return [counts_of(result, i) for i in range(len(circuits))]


@dataclass(frozen=True)
class QPUTiming:
    """Durations of a device from its calibration data, in seconds.

    Attributes
    ----------
    one_qubit_gate, two_qubit_gate, readout
        Median durations of a single-qubit gate, a two-qubit gate and a measurement.
    repetition_delay
        Delay between shots.
    two_qubit_error, readout_error
        Median error rates (for fidelity estimates).
    """

    one_qubit_gate: float
    two_qubit_gate: float
    readout: float
    repetition_delay: float
    two_qubit_error: float
    readout_error: float


def _median_property(target: Any, names: Sequence[str], attr: str, arity: int) -> float:
    values = []
    for name in names:
        if name not in target.operation_names:
            continue
        for qargs, prop in (target[name] or {}).items():
            if qargs is not None and len(qargs) == arity and prop is not None:
                value = getattr(prop, attr)
                if value is not None:
                    values.append(value)
    return float(np.median(values)) if values else 0.0


def qpu_timing(backend: BackendV2) -> QPUTiming:
    """Median gate, readout and repetition times and errors of ``backend``."""
    target = backend.target
    two_q = ("cz", "ecr", "cx")
    one_q = ("sx", "x")
    rep_delay = getattr(backend, "default_rep_delay", None) or 250e-6
    return QPUTiming(
        one_qubit_gate=_median_property(target, one_q, "duration", 1),
        two_qubit_gate=_median_property(target, two_q, "duration", 2),
        readout=_median_property(target, ("measure",), "duration", 1),
        repetition_delay=float(rep_delay),
        two_qubit_error=_median_property(target, two_q, "error", 2),
        readout_error=_median_property(target, ("measure",), "error", 1),
    )


def fake_backend(name: str) -> BackendV2:
    """The qiskit-ibm-runtime fake backend called ``name`` (e.g. ``"fake_torino"``)."""
    from parsl_quantum.devices.backend_names import fake_backend_classes

    return fake_backend_classes()[name]()


class QPUDevice(Device):
    """A QPU or its noisy emulator.

    Parameters
    ----------
    backend_name
        ``"fake_<device>"`` or ``"ibm_<device>"``.
    backend
        The Qiskit backend (fake or real).
    runner
        What runs the transpiled circuits.
    optimization_level
        Transpiler optimisation level (0-3).
    seed_transpiler
        Seed for reproducible layouts.
    max_qubits
        The widest circuit it runs, when less than the device's qubits: an emulator simulates only as
        many as fit in the memory its host lets the job use.
    packing
        Whether a batch of circuits of equal shots runs packed, several side by side on disjoint regions
        of the device (:mod:`parsl_quantum.circuits.packing`), where at least two fit: ``None`` (the
        default) where it pays on the runner (a real QPU, the compact emulator; not an emulator that
        simulates the whole packed state), ``True`` always, ``False`` never.
    packing_spacing
        Couplings kept between the regions of packed circuits (see
        :func:`~parsl_quantum.circuits.packing.choose_regions`).
    """

    def __init__(
        self,
        backend_name: str,
        backend: BackendV2,
        runner: Runner,
        optimization_level: int = 2,
        seed_transpiler: int | None = None,
        max_qubits: int | None = None,
        packing: bool | None = None,
        packing_spacing: int = 1,
    ) -> None:
        from qiskit.transpiler import generate_preset_pass_manager

        self._backend = backend
        self._runner = runner
        self._transpile_options = {
            "optimization_level": optimization_level,
            "seed_transpiler": seed_transpiler,
        }
        self._pass_manager = generate_preset_pass_manager(backend=backend, **self._transpile_options)
        self.packing = packing_pays(runner) if packing is None else bool(packing)
        self.packing_spacing = int(packing_spacing)
        self._regions: dict[int, list[tuple[int, ...]]] = {}
        self._region_pass_managers: dict[tuple[int, ...], Any] = {}
        self._regions_lock = threading.Lock()
        self.timing = qpu_timing(backend)
        super().__init__(
            backend_name,
            DeviceCapabilities(
                kind="qpu",
                max_qubits=min(int(backend.num_qubits), max_qubits or int(backend.num_qubits)),
                exact_expectation=False,
                noisy=True,
                mid_circuit_measurement="reset" in backend.target.operation_names,
                method=None,
            ),
        )

    @property
    def qiskit_backend(self) -> BackendV2:
        """The underlying Qiskit backend."""
        return self._backend

    @property
    def runs_qpu_jobs(self) -> bool:
        """Whether its circuits run as qiskit-ibm-runtime jobs (a real QPU, or the runtime's local testing
        mode standing in for one) rather than in an emulator on this host: such jobs cost QPU time and
        queue, so nothing should spend them on benchmarks (the runner says so)."""
        return bool(getattr(self._runner, "runs_qpu_jobs", False))

    @property
    def fidelity(self) -> float:
        """One minus the median two-qubit gate error of the device."""
        return 1.0 - self.timing.two_qubit_error

    def check_width(self, circuit: QuantumCircuit) -> None:
        """Raise :class:`TooManyQubitsError` if ``circuit`` is wider than this device, naming both the
        device's qubits and, for an emulator, the width its host can simulate. An ISA circuit (laid out
        on all the device's qubits) counts the qubits it acts on, or, where the emulator simulates
        independent parts apart (a packed circuit's pieces), those of its widest part."""
        device_qubits = int(self._backend.num_qubits)
        if self.num_qubits == device_qubits:
            super().check_width(circuit)
            return
        width = circuit.num_qubits
        if self.is_isa(circuit):
            parts = independent_parts(circuit) if packing_pays(self._runner) else []
            width = max((len(q) for q, _ in parts), default=len(active_qubits(circuit)))
        if width > self.num_qubits:
            raise TooManyQubitsError(
                f"circuit '{circuit.name}' needs {width} qubits; device '{self.name}' has {device_qubits} "
                f"but its emulator simulates at most {self.num_qubits} in the memory this job may use"
            )

    def is_isa(self, circuit: QuantumCircuit) -> bool:
        """Whether ``circuit`` is already laid out on this device and uses only its instructions."""
        return (
            circuit.layout is not None
            and circuit.num_qubits == self._backend.num_qubits
            and set(circuit.count_ops()) - {"barrier"} <= set(self._backend.target.operation_names)
        )

    def transpile(self, circuits: list[QuantumCircuit]) -> list[QuantumCircuit]:
        """Circuits mapped to the device's qubits and instruction set (ISA circuits).

        Circuits that already are ISA circuits of this device run as they are: a workflow that chose the
        physical qubits itself (e.g. to calibrate readout on the same qubits) keeps them.
        """
        pending = [i for i, qc in enumerate(circuits) if not self.is_isa(qc)]
        out = list(circuits)
        for i, isa in zip(pending, self._pass_manager.run([circuits[i] for i in pending]), strict=True):
            out[i] = isa
        return out

    # -- packing -----------------------------------------------------------------------------------
    def regions(self, width: int) -> list[tuple[int, ...]]:
        """The disjoint regions of ``width`` qubits packed circuits of that width run on, lowest error
        first (:func:`~parsl_quantum.circuits.packing.choose_regions`; chosen once per width)."""
        with self._regions_lock:
            found = self._regions.get(width)
        if found is None:
            found = choose_regions(self._backend.target, width, spacing=self.packing_spacing)
            with self._regions_lock:
                found = self._regions.setdefault(width, found)
        return list(found)

    def packing_factor(self, width: int) -> int:
        """How many circuits of ``width`` qubits run side by side in one packed circuit: the regions of
        that width the device holds where packing is on, else 1 (see :meth:`Device.packing_factor`)."""
        if not self.packing or width < 1:
            return 1
        return max(1, len(self.regions(width)))

    def _region_pass_manager(self, region: tuple[int, ...]) -> Any:
        """A pass manager that transpiles onto ``region`` alone (its target restricted to it)."""
        from qiskit.transpiler import generate_preset_pass_manager

        with self._regions_lock:
            pm = self._region_pass_managers.get(region)
        if pm is None:
            target = restrict_target(self._backend.target, region)
            pm = generate_preset_pass_manager(target=target, **self._transpile_options)
            with self._regions_lock:
                pm = self._region_pass_managers.setdefault(region, pm)
        return pm

    def pack(self, circuits: Sequence[QuantumCircuit]) -> list[tuple[QuantumCircuit, Any, list[int]]]:
        """The packed circuits a batch runs as: ``(wide ISA circuit, its layout, indices of its pieces)``.

        Circuits of one width are taken in order, as many per packed circuit as the device has regions
        for them; ISA circuits (their physical qubits already chosen), circuits whose width fits fewer
        than two regions and circuits :func:`~parsl_quantum.circuits.packing.packable` refuses are left
        out, to run alone. Each piece is transpiled on its own region, so no gate leaves it.
        """
        by_width: dict[int, list[int]] = {}
        for i, qc in enumerate(circuits):
            if not self.is_isa(qc) and packable(qc):
                by_width.setdefault(qc.num_qubits, []).append(i)
        packed = []
        for width, members in by_width.items():
            regions = self.regions(width)
            if len(regions) < 2 or len(members) < 2:
                continue
            for start in range(0, len(members), len(regions)):
                chunk = members[start : start + len(regions)]
                if len(chunk) < 2:
                    break  # one circuit left over runs alone, on the device's best qubits for it
                pieces = [
                    self._region_pass_manager(region).run(circuits[i])
                    for i, region in zip(chunk, regions, strict=False)
                ]
                wide, layout = pack(pieces, regions[: len(chunk)], int(self._backend.num_qubits))
                packed.append((wide, layout, chunk))
        return packed

    def _sample(self, circuits: list[QuantumCircuit], shots: int) -> list[dict[str, int]]:
        packed = self.pack(circuits) if self.packing and len(circuits) > 1 else []
        in_packs = {i for _, _, chunk in packed for i in chunk}
        alone = [i for i in range(len(circuits)) if i not in in_packs]
        results = self._runner.run(
            [wide for wide, _, _ in packed] + self.transpile([circuits[i] for i in alone]), shots
        )
        counts: list[dict[str, int]] = [{} for _ in circuits]
        for (_, layout, chunk), result in zip(packed, results, strict=False):
            for i, piece_counts in zip(chunk, split_counts(result, layout), strict=True):
                counts[i] = piece_counts
        for i, result in zip(alone, results[len(packed) :], strict=True):
            counts[i] = result
        return counts

    def pennylane(self, wires: int | Sequence[Any], shots: int | None = None) -> Any:
        """A PennyLane device that runs on this QPU; a QPU needs ``shots``."""
        from parsl_quantum.devices.pennylane_device import BackendPennyLaneDevice

        if shots is None:
            raise DeviceInputError(f"device '{self.name}' is a QPU: its PennyLane device needs shots=...")
        return BackendPennyLaneDevice(self, wires=wires, shots=shots)
