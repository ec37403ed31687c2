"""Qiskit Aer on the CPU (``aer``) or on an NVIDIA GPU (``aer_gpu``)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from parsl_quantum.circuits.deferred_measurement import defer_to_end
from parsl_quantum.circuits.normalize import (
    DYNAMIC_OPERATIONS,
    drop_unobserved_gates,
    require_measurements,
    terminal_measurements_last,
)
from parsl_quantum.devices.counts import counts_of
from parsl_quantum.devices.device import Device, DeviceCapabilities, bind_all
from parsl_quantum.devices.hardware import detect_gpus, job_memory_bytes, max_statevector_qubits
from parsl_quantum.devices.marginal_sampling import MarginalForm, draw_counts, marginal_form
from parsl_quantum.errors import DeviceInputError, GPUUnavailableError

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

# Methods whose memory is a dense state: bytes per amplitude at double precision, and whether the state
# is a density matrix (4**n amplitudes) rather than a vector (2**n).
_DENSE_METHODS = {"statevector": False, "automatic": False, "density_matrix": True, "unitary": True}

PREPARED_KEPT = 32
"""Most sets of circuits :meth:`AerDevice.sample_assigned` keeps prepared (the oldest is dropped)."""

MAX_DEFERRED = 4
"""Most mid-circuit measurements and resets a sampled circuit has deferred onto ancillas (each doubles
its state; see :meth:`AerDevice.deferred_ancillas`)."""


def gpu_unavailable_reason() -> str | None:
    """Why Aer cannot simulate on a GPU here, or ``None`` when it can."""
    from qiskit_aer import AerSimulator

    if "GPU" in AerSimulator().available_devices():
        return None
    info = detect_gpus()
    if info.count == 0:
        return info.reason
    return "qiskit-aer was built without CUDA support (install the 'gpu' extra, which brings qiskit-aer-gpu)"


_CLASSICAL_CONTROL = DYNAMIC_OPERATIONS - {"measure", "reset"}


def _measurements_last(circuit: QuantumCircuit, ops: dict[str, int]) -> bool:
    """Whether every measurement of ``circuit`` (whose ``count_ops()`` is ``ops``) is in its final run of
    measurements and barriers, and nothing resets: nothing to defer (a quick check)."""
    if ops.get("reset"):
        return False
    measurements = int(ops.get("measure", 0))
    for inst in reversed(circuit.data):
        name = inst.name
        if name == "measure":
            measurements -= 1
        elif name not in ("barrier", "delay"):
            break
    return measurements == 0


class AerDevice(Device):
    """Qiskit Aer simulator.

    Parameters
    ----------
    backend
        ``"aer"`` (CPU) or ``"aer_gpu"`` (GPU).
    method
        Aer simulation method; ``"statevector"`` by default.
    marginal_sampling
        Draw the counts of a circuit measured only at the end from its measured qubits' marginal (see
        :mod:`~parsl_quantum.devices.marginal_sampling`) rather than by Aer's shot-by-shot sampler: the
        same distribution, far less work where few qubits are measured (cut fragments); noiseless dense
        states only. Off by default: the Q-Dreamer time model is calibrated and evaluated with Aer's
        sampler; with it on, calibration fits the model to what this device does.
    **options
        Passed to ``qiskit_aer.AerSimulator`` (``precision``, ``seed_simulator``,
        ``max_parallel_threads``, ``noise_model``...).

    Raises
    ------
    GPUUnavailableError
        For ``aer_gpu`` on a machine without a usable GPU.
    """

    def __init__(
        self,
        backend: str = "aer",
        method: str = "statevector",
        marginal_sampling: bool = False,
        **options: Any,
    ) -> None:
        from qiskit_aer import AerError, AerSimulator

        on_gpu = backend == "aer_gpu"
        if on_gpu:
            reason = gpu_unavailable_reason()
            if reason is not None:
                raise GPUUnavailableError(
                    f"backend 'aer_gpu' needs a usable CUDA GPU: {reason}. "
                    "Use backend 'aer' to simulate on the CPU instead."
                )
            options["device"] = "GPU"
        # Shot branching: after a mid-circuit measurement Aer would otherwise simulate every shot
        # separately; with it, the state branches once per outcome. Branch sampling makes the final
        # measurements sampled rather than branched too (without it, branches multiply up to the shot
        # count: 4096 statevectors for a 16-qubit circuit). Measured on a 16-qubit circuit with one
        # mid-circuit measurement, 4096 shots: 9.0 s shot by shot, 0.1 s branched and sampled; no cost
        # on circuits measured only at the end.
        given = sorted(options)
        options.setdefault("shot_branching_enable", True)
        options.setdefault("shot_branching_sampling_enable", True)
        self._options = {"method": method, **options}
        try:
            self._simulator = AerSimulator(**self._options)
        except AerError as exc:  # an option Aer does not know: the caller's mistake, named
            raise DeviceInputError(f"aer: {exc}; options given: {given}") from exc
        bytes_per_amp = 8 if options.get("precision") == "single" else 16
        if method in _DENSE_METHODS:
            memory = detect_gpus().memory_bytes if on_gpu else job_memory_bytes()
            max_qubits = max_statevector_qubits(memory, bytes_per_amp, _DENSE_METHODS[method])
        else:
            max_qubits = int(self._simulator.num_qubits)
        super().__init__(
            backend,
            DeviceCapabilities(
                kind="gpu" if on_gpu else "cpu",
                max_qubits=max_qubits,
                exact_expectation=True,
                noisy="noise_model" in options,
                mid_circuit_measurement=True,
                method=method,
                bytes_per_amplitude=bytes_per_amp,
            ),
        )
        # Directives are not in the target but Aer runs them; without them here every measure_all()
        # circuit would be re-transpiled.
        self._native = set(self._simulator.target.operation_names) | {"barrier", "delay"}
        # Deferring measurements changes which instructions noise acts on: only noiseless dense states.
        dense = method in ("statevector", "automatic")
        self.max_deferred = MAX_DEFERRED if dense and "noise_model" not in options else 0
        # The same condition lets counts be drawn from the measured qubits' marginal (a pure state).
        self.samples_marginals = bool(self.max_deferred) and bool(marginal_sampling)
        # Aer simulates only the qubits the measurements depend on (its truncation pass, on by default):
        # Q-Dreamer's model counts the light cone's qubits and gates for it.
        self.truncates = bool(options.get("enable_truncation", True))
        self._prepared: dict[
            tuple[Hashable, int], list[QuantumCircuit | MarginalForm]
        ] = {}  # see sample_assigned

    @property
    def simulator(self) -> Any:
        """The underlying ``AerSimulator``."""
        return self._simulator

    def _prepare(self, circuits: list[QuantumCircuit]) -> list[QuantumCircuit]:
        """Decompose operations Aer does not know natively, and put terminal measurements last (Aer
        samples a final state only then: see :func:`~parsl_quantum.circuits.normalize.
        terminal_measurements_last`)."""
        from qiskit import transpile

        out = []
        for qc in circuits:
            native = set(qc.count_ops()) <= self._native  # count_ops: no Python object per instruction
            qc = qc if native else transpile(qc, self._simulator, optimization_level=0)
            out.append(terminal_measurements_last(qc) if qc.count_ops().get("measure") else qc)
        return out

    def deferred_ancillas(self, circuit: QuantumCircuit, shots: int) -> int:
        """Ancillas :meth:`sample` adds to ``circuit`` to defer its mid-circuit measurements (0: none).

        Aer branches on a mid-circuit outcome (or, without shot branching, simulates shot by shot); for a
        cut fragment that costs ten times the circuit itself (measured: 0.12 s against 0.012 s for 6,144
        shots of a 13-qubit fragment with one mid-circuit measurement). Sampling instead defers the
        measurements onto ancillas (:func:`~parsl_quantum.circuits.deferred_measurement.defer_to_end`),
        after dropping the gates no measurement observes, when the circuit has no classical control, at
        most ``max_deferred`` of them remain, their outcomes are no more than the shots, and the wider
        state fits.
        """
        deferred = self._deferred(circuit, shots)
        return 0 if deferred is None else deferred.num_qubits - circuit.num_qubits

    def _deferred(self, circuit: QuantumCircuit, shots: int) -> QuantumCircuit | None:
        """``circuit`` with its mid-circuit measurements deferred, or ``None`` (see
        :meth:`deferred_ancillas`)."""
        if not self.max_deferred:
            return None
        ops = circuit.count_ops()
        if set(ops) & _CLASSICAL_CONTROL or _measurements_last(circuit, ops):
            return None
        pruned = drop_unobserved_gates(circuit)
        deferred = defer_to_end(pruned)
        needed = deferred.num_qubits - pruned.num_qubits
        if needed > self.max_deferred or 2**needed > shots:
            return None
        return deferred if circuit.num_qubits + needed <= self.capabilities.max_qubits else None

    def _observed(self, circuit: QuantumCircuit) -> QuantumCircuit:
        """``circuit`` without the gates no measurement observes, on a noiseless dense state when it
        measures fewer qubits than it has (see :func:`~parsl_quantum.circuits.normalize.
        drop_unobserved_gates`). Aer's truncation would skip them too, but only after turning every
        instruction into its own form at each call: a cut fragment measuring two qubits of 13 carries
        60-odd instructions of which a dozen are observed."""
        if not self.max_deferred or circuit.count_ops().get("measure", 0) >= circuit.num_qubits:
            return circuit
        return drop_unobserved_gates(circuit)

    def _ready(self, circuits: list[QuantumCircuit], shots: int) -> list[QuantumCircuit | MarginalForm]:
        """What :meth:`_counts` runs for checked ``circuits``: mid-circuit measurements deferred (see
        :meth:`deferred_ancillas`) or else unobserved gates dropped (:meth:`_observed`), operations made
        native, and, on a noiseless dense state, each
        circuit that measures few qubits at the end rewritten to be sampled from their marginal (see
        :mod:`~parsl_quantum.devices.marginal_sampling`)."""
        prepared = self._prepare([self._deferred(qc, shots) or self._observed(qc) for qc in circuits])
        if not self.samples_marginals:
            return list(prepared)
        return [marginal_form(qc, shots) or qc for qc in prepared]

    def _counts(
        self,
        ready: Sequence[QuantumCircuit | MarginalForm],
        shots: int,
        assignment: Mapping[str, float] | None = None,
    ) -> list[dict[str, int]]:
        """Counts of what :meth:`_ready` gave, bound to ``assignment`` first where given: the marginal
        forms in one Aer call of one shot (:func:`~parsl_quantum.devices.marginal_sampling.draw_counts`),
        the rest in another."""
        circuits = [r.circuit if isinstance(r, MarginalForm) else r for r in ready]
        if assignment is not None:
            circuits = bind_all(circuits, assignment)
        forms = [(i, r) for i, r in enumerate(ready) if isinstance(r, MarginalForm)]
        sampled = [i for i, r in enumerate(ready) if not isinstance(r, MarginalForm)]
        counts: list[dict[str, int]] = [{} for _ in ready]
        if forms:
            rng = np.random.default_rng(self._options.get("seed_simulator"))
            drawn = draw_counts(
                self._simulator, [form for _, form in forms], shots, rng, [circuits[i] for i, _ in forms]
            )
            for (i, _), got in zip(forms, drawn, strict=True):
                counts[i] = got
        if sampled:
            result = self._simulator.run([circuits[i] for i in sampled], shots=shots).result()
            for j, i in enumerate(sampled):
                counts[i] = counts_of(result, j)
        return counts

    def _sample(self, circuits: list[QuantumCircuit], shots: int) -> list[dict[str, int]]:
        return self._counts(self._ready(circuits, shots), shots)

    def sample_assigned(
        self,
        circuits: Sequence[QuantumCircuit],
        assignment: Mapping[str, float],
        shots: int = 1024,
        key: Hashable | None = None,
    ) -> list[dict[str, int]]:
        """Counts of parametrised circuits, prepared once per ``key`` and bound to new angles at each call
        (see :meth:`Device.sample_assigned`).

        The circuits are checked and made ready as :meth:`sample` makes them (measurements deferred,
        operations native, the marginal form where it applies) once per ``key`` and shots; later calls
        with the same ``key`` only bind the new angles into what was prepared.
        """
        self._check_shots(shots)
        shots = int(shots)
        ready = self._prepared.get((key, shots)) if key is not None else None
        if ready is None:
            for qc in circuits:
                self.check_width(qc)
                require_measurements(qc)
            ready = self._ready(list(circuits), shots)
            if key is not None:
                self._prepared[(key, shots)] = ready
                while len(self._prepared) > PREPARED_KEPT:
                    self._prepared.pop(next(iter(self._prepared)))
        # bound here, not through Aer's parameter_binds: that took longer than the binding (measured 33
        # against 29 ms for six 13-qubit fragments)
        return self._counts(ready, shots, assignment)

    def _estimate_exact(
        self, circuits: list[QuantumCircuit], observables: list[list[SparsePauliOp]]
    ) -> list[np.ndarray]:
        from qiskit_aer.primitives import EstimatorV2

        options = {k: v for k, v in self._options.items() if k != "seed_simulator"}
        estimator = EstimatorV2(options={"backend_options": options})
        pubs = [(qc, obs) for qc, obs in zip(self._prepare(circuits), observables, strict=True)]
        result = estimator.run(pubs, precision=0.0).result()
        return [np.atleast_1d(np.asarray(r.data.evs, dtype=float)) for r in result]

    def pennylane(self, wires: int | Sequence[Any], shots: int | None = None) -> Any:
        """A PennyLane device that runs on this Aer simulator (see :class:`BackendPennyLaneDevice`)."""
        from parsl_quantum.devices.pennylane_device import BackendPennyLaneDevice

        return BackendPennyLaneDevice(self, wires=wires, shots=shots)
