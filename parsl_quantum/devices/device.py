"""The device interface every backend adapter implements.

A device states what it can do as data (:class:`DeviceCapabilities`) and offers three operations:
``sample`` (counts), ``estimate`` (expectation values) and ``pennylane`` (a PennyLane device on the same
backend). The public methods here validate inputs once for every backend; adapters implement the
``_sample`` / ``_estimate_exact`` hooks on circuits that are already checked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from parsl_quantum.circuits.estimation import estimate_by_sampling
from parsl_quantum.circuits.normalize import (
    CircuitLike,
    ObservableLike,
    dynamic_operations,
    require_measurements,
    strip_measurements,
    to_circuits,
    to_observable_lists,
)
from parsl_quantum.errors import DeviceInputError, ShotsRequiredError, TooManyQubitsError

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

KINDS = ("cpu", "gpu", "qpu")


@dataclass(frozen=True)
class DeviceCapabilities:
    """What a device can do, for callers to ask instead of guessing.

    Attributes
    ----------
    kind
        ``"cpu"``, ``"gpu"`` or ``"qpu"``.
    max_qubits
        The widest circuit the device runs (for a simulator: what fits in memory for its method).
    exact_expectation
        Whether ``estimate(..., shots=None)`` returns exact values.
    noisy
        Whether results carry hardware noise (an emulator or a real QPU).
    mid_circuit_measurement
        Whether circuits may measure or reset a qubit and then act on it again.
    method
        The simulation method (``"statevector"``, ...), or ``None`` for a QPU.
    bytes_per_amplitude
        Memory per amplitude of the simulation method, used by the performance models.
    """

    kind: str
    max_qubits: int
    exact_expectation: bool
    noisy: bool
    mid_circuit_measurement: bool = True
    method: str | None = None
    bytes_per_amplitude: int = 16


class Device(ABC):
    """A quantum backend that runs circuits: a simulator on a CPU or GPU, an emulator, or a QPU.

    Parameters
    ----------
    backend
        The backend name the device was built for (``"aer"``, ``"fake_torino"``, ...).
    capabilities
        What the device can do.
    """

    def __init__(self, backend: str, capabilities: DeviceCapabilities) -> None:
        self.backend = backend
        self.capabilities = capabilities

    # -- description -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The device's name, e.g. ``"aer"`` or ``"fake_torino"``."""
        return self.backend

    @property
    def kind(self) -> str:
        """``"cpu"``, ``"gpu"`` or ``"qpu"``."""
        return self.capabilities.kind

    @property
    def num_qubits(self) -> int:
        """The widest circuit this device runs."""
        return self.capabilities.max_qubits

    @property
    def fidelity(self) -> float:
        """A figure of merit in [0, 1]: 1 for noiseless simulators, 1 - median two-qubit error for QPUs."""
        return 1.0

    def packing_factor(self, width: int) -> int:
        """How many circuits of ``width`` qubits this device runs side by side in one circuit, sharing
        its shots (see :mod:`parsl_quantum.circuits.packing`); 1 when it runs each alone.

        A simulator never packs: it holds the state of every qubit it simulates, so ``k`` circuits of
        ``w`` qubits side by side would cost it ``2**(k*w)`` amplitudes instead of ``k * 2**w``. QPUs and
        their emulators override this.
        """
        return 1

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} kind={self.kind} qubits={self.num_qubits}>"

    # -- public operations -------------------------------------------------------------------------
    def sample(self, circuits: CircuitLike | Sequence[CircuitLike], shots: int = 1024) -> Any:
        """Sample measurement outcomes.

        Parameters
        ----------
        circuits
            One circuit or a sequence of them (``QuantumCircuit`` or OpenQASM 2/3 text); each must
            measure something.
        shots
            Repetitions per circuit.

        Returns
        -------
        dict or list of dict
            Counts keyed by bit strings as Qiskit's ``get_counts`` writes them (classical bit 0
            rightmost, registers separated by spaces, last register first); a list for a sequence.
        """
        circs, single = to_circuits(circuits)
        self._check_shots(shots)
        for qc in circs:
            self.check_width(qc)
            require_measurements(qc)
        counts = self._sample(circs, int(shots))
        return counts[0] if single else counts

    def sample_assigned(
        self,
        circuits: Sequence[QuantumCircuit],
        assignment: Mapping[str, float],
        shots: int = 1024,
        key: Hashable | None = None,
    ) -> list[dict[str, int]]:
        """Counts of parametrised circuits, each parameter bound to ``assignment[its name]``.

        The same circuits come back with new angles at every step of a variational loop (a cut
        template's subexperiments): a device that can bind angles as it runs keeps what it prepared of
        the circuits under ``key`` and binds them there; this one binds them first and samples them as
        :meth:`sample` does.

        Parameters
        ----------
        circuits
            ``QuantumCircuit`` objects, each of whose parameters is named in ``assignment``; each must
            measure something.
        assignment
            Parameter name to value.
        shots
            Repetitions per circuit.
        key
            Names these circuits (and only these) across calls; ``None``: nothing is kept.

        Returns
        -------
        list of dict
            Counts per circuit, as :meth:`sample` gives them.

        Raises
        ------
        DeviceInputError
            For a parameter ``assignment`` does not name.
        """
        return self.sample(bind_all(circuits, assignment), shots=shots)

    def estimate(
        self,
        circuits: CircuitLike | Sequence[CircuitLike],
        observables: ObservableLike | Sequence[Any],
        shots: int | None = None,
    ) -> Any:
        """Expectation values of observables in the states the circuits prepare.

        Parameters
        ----------
        circuits
            One circuit or a sequence. Final measurements (those nothing reads afterwards, see
            :func:`~parsl_quantum.circuits.normalize.final_measurements`) are ignored; mid-circuit
            measurements, resets and ``if_test`` blocks are honoured. Exact values of such circuits
            stay exact: Lightning traverses the measurement outcomes, Aer estimates the circuit's
            deferred-measurement form (one more qubit per mid-circuit measurement or reset, see
            :mod:`~parsl_quantum.circuits.deferred_measurement`).
        observables
            For one circuit: one observable or a list. For several: one observable for all, or one
            entry (an observable or a list) per circuit. ``SparsePauliOp`` or Pauli strings.
        shots
            ``None`` for exact values (simulators only); otherwise shots per measurement basis.

        Returns
        -------
        float or numpy.ndarray
            A float for one circuit and one observable; otherwise an array (one value per observable,
            or per circuit, or a circuits-by-observables matrix).
        """
        circs, single = to_circuits(circuits)
        for qc in circs:
            self.check_width(qc)
        obs_lists, shape = to_observable_lists(observables, circs, single)
        circs = [strip_measurements(qc) for qc in circs]
        if shots is None:
            if not self.capabilities.exact_expectation:
                raise ShotsRequiredError(
                    f"device '{self.name}' is a {self.kind.upper()} and cannot give exact expectation "
                    "values: pass shots=..."
                )
            values = self._estimate_exact(*self._exact_inputs(circs, obs_lists))
        else:
            self._check_shots(shots)
            values, _ = estimate_by_sampling(self._sample, circs, obs_lists, int(shots))
        return _shape(values, shape)

    def estimate_with_errors(
        self, circuit: CircuitLike, observables: Sequence[ObservableLike], shots: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Expectation values of ``observables`` on one circuit, with their standard errors.

        Parameters
        ----------
        circuit
            The state-preparation circuit.
        observables
            Observables (``SparsePauliOp`` or Pauli strings).
        shots
            Shots per measurement basis; ``None`` for exact values (simulators), whose errors are 0.

        Returns
        -------
        (values, standard errors)
            Arrays with one entry per observable.
        """
        circs, _ = to_circuits(circuit)
        self.check_width(circs[0])
        obs_lists, _ = to_observable_lists(list(observables), circs, True)
        qc = strip_measurements(circs[0])
        if shots is None:
            values = self.estimate(qc, obs_lists[0])
            return np.atleast_1d(np.asarray(values, dtype=float)), np.zeros(len(obs_lists[0]))
        self._check_shots(shots)
        values, errors = estimate_by_sampling(self._sample, [qc], obs_lists, int(shots))
        return values[0], errors[0]

    def _exact_inputs(
        self, circuits: list[QuantumCircuit], observables: list[list[SparsePauliOp]]
    ) -> tuple[list[QuantumCircuit], list[list[SparsePauliOp]]]:
        """Circuits and observables for :meth:`_estimate_exact`: dynamic circuits this device cannot
        estimate exactly as they are become their deferred-measurement form, observables padded with
        identities on the ancillas."""
        from parsl_quantum.circuits.deferred_measurement import ancillas_needed, defer_measurements

        out_circuits, out_observables = [], []
        for qc, obs in zip(circuits, observables, strict=True):
            if self._needs_deferral(qc):
                extra = ancillas_needed(qc)
                if qc.num_qubits + extra > self.num_qubits:
                    raise TooManyQubitsError(
                        f"an exact estimate of circuit '{qc.name}' (mid-circuit measurements or "
                        f"classical control) defers them onto {extra} extra qubits: it needs "
                        f"{qc.num_qubits + extra} qubits but device '{self.name}' holds at most "
                        f"{self.num_qubits}; pass shots=... to estimate it by sampling"
                    )
                qc = defer_measurements(qc)
                obs = [op.apply_layout(None, qc.num_qubits) for op in obs]
            out_circuits.append(qc)
            out_observables.append(obs)
        return out_circuits, out_observables

    def _needs_deferral(self, circuit: QuantumCircuit) -> bool:
        """Whether an exact estimate of ``circuit`` (final measurements stripped) must go through its
        deferred-measurement form: by default when it has any mid-circuit measurement, reset or
        classical control."""
        return bool(dynamic_operations(circuit))

    @abstractmethod
    def pennylane(self, wires: int | Sequence[Any], shots: int | None = None) -> Any:
        """A PennyLane device on the same backend.

        Parameters
        ----------
        wires
            Number of wires or their labels.
        shots
            Default shots of the device; ``None`` for analytic results where the backend allows.
        """

    # -- checks shared by every adapter ------------------------------------------------------------
    def check_width(self, circuit: QuantumCircuit) -> None:
        """Raise :class:`TooManyQubitsError` if ``circuit`` is wider than this device."""
        if circuit.num_qubits > self.num_qubits:
            raise TooManyQubitsError(
                f"circuit '{circuit.name}' needs {circuit.num_qubits} qubits but device '{self.name}' "
                f"holds at most {self.num_qubits}"
            )

    def _check_shots(self, shots: Any) -> None:
        if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
            raise DeviceInputError(f"shots must be a positive integer, got {shots!r}")

    # -- hooks -------------------------------------------------------------------------------------
    @abstractmethod
    def _sample(self, circuits: list[QuantumCircuit], shots: int) -> list[dict[str, int]]:
        """Counts for checked circuits that measure something."""

    def _estimate_exact(
        self, circuits: list[QuantumCircuit], observables: list[list[SparsePauliOp]]
    ) -> list[np.ndarray]:
        """Exact expectation values; only devices with ``exact_expectation`` implement it."""
        raise ShotsRequiredError(f"device '{self.name}' cannot give exact expectation values")


def bind_all(circuits: Sequence[QuantumCircuit], assignment: Mapping[str, float]) -> list[QuantumCircuit]:
    """``circuits`` with each parameter bound to ``assignment[its name]`` (see :func:`values_for`)."""
    return [qc.assign_parameters(values_for(qc, assignment)) if qc.parameters else qc for qc in circuits]


def values_for(circuit: QuantumCircuit, assignment: Mapping[str, float]) -> list[float]:
    """The values of ``circuit``'s parameters (in ``circuit.parameters`` order) from ``assignment``."""
    try:
        return [float(assignment[p.name]) for p in circuit.parameters]
    except KeyError as exc:
        raise DeviceInputError(
            f"circuit '{circuit.name}': no value for its parameter {exc.args[0]!r}"
        ) from None


def _shape(values: list[np.ndarray], shape: str) -> Any:
    """Arrange per-circuit value arrays as :meth:`Device.estimate` documents."""
    if shape == "scalar":
        return float(values[0][0])
    if shape == "vector":
        if len(values) == 1:
            return np.asarray(values[0], dtype=float)
        return np.array([v[0] for v in values], dtype=float)
    lengths = {len(v) for v in values}
    if len(lengths) == 1:
        return np.array(values, dtype=float)
    return [np.asarray(v, dtype=float) for v in values]
