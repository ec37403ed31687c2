"""A PennyLane device that runs PennyLane circuits on any ``parsl_quantum`` device.

With it a QNode runs on Aer, on a noisy emulator or on a real IBM QPU through the same
:class:`~parsl_quantum.devices.device.Device` calls as every other workload: circuits are decomposed
to the gates of :mod:`parsl_quantum.circuits.convert`, converted to Qiskit, and a whole batch of tapes
(a gradient's shifted circuits, say) becomes one ``estimate`` call and one ``sample`` call per shot
count.

Measurements
------------
``expval`` of any observable with a Pauli representation goes to ``device.estimate`` (exact without
shots, on devices that allow it; the shared shot-based estimator with shots). ``var(O)`` is
``<O^2> - <O>^2`` from the same estimates (for a Pauli word ``c P`` this is ``c^2 (1 - <P>^2)``).
``probs`` without shots is the Walsh-Hadamard transform of the exact expectation values of the ``2^k``
Z-strings on its ``k`` wires; with shots, ``probs``, ``counts`` and ``sample`` come from
``device.sample``: samples are rebuilt from the counts in random order, and PennyLane's own
post-processing (``process_samples``) turns them into the result. Measurements of an observable get
their own circuit with the observable's diagonalising gates. Mid-circuit measurements (``qml.measure``)
are not supported.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pennylane as qml
from pennylane.devices import ExecutionConfig
from pennylane.devices.preprocess import decompose, validate_device_wires, validate_measurements
from pennylane.measurements import CountsMP, ExpectationMP, ProbabilityMP, SampleMP, Shots, VarianceMP
from pennylane.tape import QuantumScript
from pennylane.transforms.core import CompilePipeline
from pennylane.wires import Wires

from parsl_quantum.circuits.convert import PENNYLANE_CONVERTIBLE, pennylane_to_sparse_pauli, tape_to_qiskit
from parsl_quantum.errors import (
    DeviceInputError,
    ObservableError,
    ShotsRequiredError,
    UnsupportedOperationError,
)

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

    from parsl_quantum.devices.device import Device

ANALYTIC_MEASUREMENTS = (ExpectationMP, VarianceMP, ProbabilityMP)
SAMPLED_MEASUREMENTS = (*ANALYTIC_MEASUREMENTS, SampleMP, CountsMP)
#: Widest ``probs`` computed without shots (it costs 2**k expectation values).
MAX_ANALYTIC_PROBS_WIRES = 12

Reader = Callable[[], Any]


class _DeviceCalls:
    """The ``estimate`` and ``sample`` requests of a batch for one shot count, run as one call each.

    Parameters
    ----------
    device
        The ``parsl_quantum`` device.
    shots
        Shots per circuit, or ``None`` for exact expectation values.
    """

    def __init__(self, device: Device, shots: int | None) -> None:
        self.device = device
        self.shots = shots
        self.circuits: list[QuantumCircuit] = []
        self.observables: list[list[SparsePauliOp]] = []
        self.sample_circuits: list[QuantumCircuit] = []
        self.values: list[np.ndarray] = []
        self.counts: list[dict[str, int]] = []
        self._index: dict[int, int] = {}

    def expectations(
        self, circuit: QuantumCircuit, observables: list[SparsePauliOp]
    ) -> Callable[[], np.ndarray]:
        """Request expectation values in the state of ``circuit``; returns their reader."""
        i = self._index.get(id(circuit))
        if i is None:
            i = self._index[id(circuit)] = len(self.circuits)
            self.circuits.append(circuit)
            self.observables.append([])
        start = len(self.observables[i])
        self.observables[i].extend(observables)
        window = slice(start, start + len(observables))
        return lambda: self.values[i][window]

    def sample(self, circuit: QuantumCircuit) -> Callable[[], dict[str, int]]:
        """Request counts of ``circuit``; returns their reader."""
        i = len(self.sample_circuits)
        self.sample_circuits.append(circuit)
        return lambda: self.counts[i]

    def run(self) -> None:
        """Make the device calls."""
        if self.circuits:
            values = self.device.estimate(self.circuits, self.observables, shots=self.shots)
            self.values = [np.atleast_1d(np.asarray(v, dtype=float)) for v in values]
        if self.sample_circuits:
            self.counts = self.device.sample(self.sample_circuits, shots=self.shots)


def _is_convertible(op: Any) -> bool:
    return op.name in PENNYLANE_CONVERTIBLE


def _z_strings(wires: Sequence[Any], wire_order: Sequence[Any]) -> list[SparsePauliOp]:
    """The ``2**k`` products of Z on subsets of ``wires``; bit ``k-1-j`` of the index selects wire j."""
    from pennylane.pauli import PauliWord

    k = len(wires)
    words = [PauliWord({wires[j]: "Z" for j in range(k) if mask >> (k - 1 - j) & 1}) for mask in range(2**k)]
    return [pennylane_to_sparse_pauli(qml.pauli.PauliSentence({w: 1.0}), wire_order) for w in words]


def _probs_from_z_strings(z: np.ndarray) -> np.ndarray:
    """Probabilities from Z-string expectations: ``p = H z / 2**k`` with the Sylvester Hadamard ``H``."""
    p = np.array(z, dtype=float)
    h = 1
    while h < len(p):  # fast Walsh-Hadamard transform, one butterfly layer per bit
        p = p.reshape(-1, 2, h)
        p = np.stack((p[:, 0] + p[:, 1], p[:, 0] - p[:, 1]), axis=1).reshape(-1)
        h *= 2
    return np.clip(p / len(p), 0.0, 1.0)


def _samples_from_counts(counts: dict[str, int], rng: np.random.Generator) -> np.ndarray:
    """Per-shot bits (column ``j`` is classical bit ``j``) from counts of one register, shuffled."""
    keys = list(counts)
    rows = np.array([[int(bit) for bit in reversed(key)] for key in keys], dtype=np.int64)
    samples = np.repeat(rows, [counts[k] for k in keys], axis=0)
    rng.shuffle(samples)
    return samples


class BackendPennyLaneDevice(qml.devices.Device):
    """PennyLane device running on a ``parsl_quantum`` :class:`~parsl_quantum.devices.device.Device`.

    Parameters
    ----------
    device
        The device that runs the circuits (an ``AerDevice``, a ``QPUDevice``, ...).
    wires
        Number of wires or their labels; the wire at position ``i`` is qubit ``i`` of the circuits.
    shots
        Default shots of QNodes on this device (``qml.set_shots`` overrides them); ``None`` for analytic
        results, which only devices with ``capabilities.exact_expectation`` give. Stored without
        PennyLane's deprecation warning for device shots: it is this device's documented default.
    seed
        Seed of the shuffling that rebuilds per-shot samples from counts.

    Notes
    -----
    The device computes no derivatives itself: use ``diff_method="parameter-shift"`` (which ``"best"``
    selects).
    """

    def __init__(
        self, device: Device, wires: int | Sequence[Any], shots: int | None = None, seed: int | None = None
    ) -> None:
        super().__init__(wires=wires)
        self._shots = Shots(shots)  # what QNodes read as device.shots; set directly to skip the warning
        self._device = device
        self._rng = np.random.default_rng(seed)

    @property
    def name(self) -> str:
        """``"parsl_quantum.backend"``."""
        return "parsl_quantum.backend"

    @property
    def backend_device(self) -> Device:
        """The ``parsl_quantum`` device the circuits run on."""
        return self._device

    def __repr__(self) -> str:
        return (
            f"<BackendPennyLaneDevice on {self._device.name} (wires={len(self.wires)}, shots={self.shots})>"
        )

    def preprocess_transforms(self, execution_config: ExecutionConfig | None = None) -> CompilePipeline:
        """Check wires, decompose to convertible gates, check measurements, expand parameter broadcasting.

        Mid-circuit measurements are not supported (deferring them needs spare wires this device does
        not have): they raise :class:`UnsupportedOperationError` like any operation without a
        decomposition.

        Parameters
        ----------
        execution_config
            PennyLane's execution configuration (unused: the pipeline is the same for every one).
        """
        program = CompilePipeline()
        program.add_transform(validate_device_wires, self.wires, name=self.name)
        program.add_transform(
            decompose,
            stopping_condition=_is_convertible,
            skip_initial_state_prep=False,
            name=self.name,
            error=UnsupportedOperationError,
        )
        program.add_transform(
            validate_measurements,
            analytic_measurements=lambda mp: isinstance(mp, ANALYTIC_MEASUREMENTS),
            sample_measurements=lambda mp: isinstance(mp, SAMPLED_MEASUREMENTS),
            name=self.name,
        )
        program.add_transform(qml.transforms.broadcast_expand)
        return program

    def execute(self, circuits: Any, execution_config: ExecutionConfig | None = None) -> Any:
        """Run a tape or a batch of tapes with as few device calls as possible.

        Parameters
        ----------
        circuits
            A ``QuantumScript`` or a sequence of them, preprocessed by :meth:`preprocess_transforms`.
        execution_config
            PennyLane's execution configuration (unused).

        Raises
        ------
        ShotsRequiredError
            For a tape without shots when the device gives no exact expectation values.
        """
        single = isinstance(circuits, QuantumScript)
        tapes = [circuits] if single else list(circuits)
        exact = self._device.capabilities.exact_expectation
        if not exact and any(not tape.shots for tape in tapes):
            raise ShotsRequiredError(
                f"device '{self._device.name}' cannot compute exact results: give the QNode shots, "
                "e.g. qml.set_shots(qnode, shots=4000), or create the PennyLane device with shots=..."
            )
        calls: dict[int | None, _DeviceCalls] = {}
        readers = []
        for tape in tapes:
            circuit = tape_to_qiskit(tape, self.wires, name=f"pennylane_{len(readers)}")
            copies = []
            for shots in tape.shots if tape.shots else [None]:
                batch = calls.setdefault(shots, _DeviceCalls(self._device, shots))
                copies.append(self._plan(tape, circuit, batch))
            readers.append((copies, tape.shots.has_partitioned_shots))
        for batch in calls.values():
            batch.run()
        results = tuple(
            tuple(read() for read in copies) if partitioned else copies[0]()
            for copies, partitioned in readers
        )
        return results[0] if single else results

    def _plan(self, tape: QuantumScript, circuit: QuantumCircuit, calls: _DeviceCalls) -> Reader:
        """Request what ``tape``'s measurements need from ``calls``; return the reader of its result."""
        measured: list[Reader] = []
        basis_wires = Wires.all_wires([mp.wires for mp in tape.measurements if mp.obs is None])
        if calls.shots is not None and basis_wires:  # one shared sample of the wires measured as bits
            basis = self._samples(calls.sample(self._measured(circuit, [], basis_wires)))
        for mp in tape.measurements:
            if isinstance(mp, (ExpectationMP, VarianceMP)):
                measured.append(self._plan_moment(mp, circuit, calls))
            elif calls.shots is None:
                measured.append(self._plan_exact_probs(mp, circuit, calls))
            elif mp.obs is None:
                measured.append(self._reader(mp, basis, basis_wires))
            else:
                read = calls.sample(self._measured(circuit, mp.diagonalizing_gates(), mp.obs.wires))
                measured.append(self._reader(mp, self._samples(read), mp.obs.wires))
        if len(measured) == 1:
            return measured[0]
        return lambda: tuple(read() for read in measured)

    def _samples(self, read_counts: Callable[[], dict[str, int]]) -> Callable[[], np.ndarray]:
        """Reader of per-shot samples rebuilt once from counts (so measurements sharing them agree)."""
        return functools.cache(lambda: _samples_from_counts(read_counts(), self._rng))

    @staticmethod
    def _reader(mp: Any, samples: Callable[[], np.ndarray], wires: Wires) -> Reader:
        """Reader of a sampled measurement: PennyLane's own processing of the samples."""
        return lambda: mp.process_samples(samples(), wires)

    def _plan_moment(self, mp: Any, circuit: QuantumCircuit, calls: _DeviceCalls) -> Reader:
        """``expval`` or ``var`` of a Pauli-representable observable through ``estimate``."""
        sentence = mp.obs.pauli_rep
        try:
            observable = pennylane_to_sparse_pauli(mp.obs if sentence is None else sentence, self.wires)
        except ObservableError as exc:
            raise ObservableError(f"{exc} (on device '{self._device.name}')") from exc
        if isinstance(mp, ExpectationMP):
            read = calls.expectations(circuit, [observable])
            return lambda: np.float64(read()[0])
        square_sentence = sentence @ sentence
        square_sentence.simplify()
        square = pennylane_to_sparse_pauli(square_sentence, self.wires)
        read = calls.expectations(circuit, [observable, square])

        def variance() -> np.float64:
            mean, mean_square = read()
            return np.float64(max(mean_square - mean * mean, 0.0))

        return variance

    def _plan_exact_probs(self, mp: Any, circuit: QuantumCircuit, calls: _DeviceCalls) -> Reader:
        """``probs`` without shots from exact Z-string expectation values."""
        wires = list(mp.wires)
        if len(wires) > MAX_ANALYTIC_PROBS_WIRES:
            raise DeviceInputError(
                f"exact probs of {len(wires)} wires need 2**{len(wires)} expectation values on device "
                f"'{self._device.name}' (at most {MAX_ANALYTIC_PROBS_WIRES} wires): give the QNode shots"
            )
        if mp.obs is not None:
            circuit = circuit.compose(tape_to_qiskit(mp.diagonalizing_gates(), self.wires))
        read = calls.expectations(circuit, _z_strings(wires, self.wires))
        return lambda: _probs_from_z_strings(read())

    def _measured(self, circuit: QuantumCircuit, rotations: Sequence[Any], wires: Wires) -> QuantumCircuit:
        """``circuit``, then ``rotations``, measuring ``wires`` (wire ``j`` into classical bit ``j``)."""
        from qiskit.circuit import ClassicalRegister

        measured = circuit.copy(name=f"{circuit.name}_sample")
        if rotations:
            measured.compose(tape_to_qiskit(rotations, self.wires), inplace=True)
        register = ClassicalRegister(len(wires), "meas")
        measured.add_register(register)
        measured.measure([self.wires.index(w) for w in wires], register)
        return measured
