"""Offline noisy emulation of an IBM device, restricted to the qubits a circuit uses.

``AerSimulator.from_backend(fake_backend)`` builds a noise model over every qubit of the device (133 on
Torino) and hands all of it to the simulator on every run, which costs seconds per call even for a
5-qubit circuit. The noise of an instruction depends only on the physical qubits it acts on, so the
emulator builds, once per set of *active* physical qubits, the device's target restricted to those
qubits and a noise model from it, and runs the circuit relabelled onto them. The physics is the same
(same gate, readout and thermal-relaxation errors on the same physical qubits); the cost is that of the
circuit's width.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from parsl_quantum.circuits.normalize import active_qubits
from parsl_quantum.devices.hardware import job_memory_bytes, max_statevector_qubits

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.providers import BackendV2
    from qiskit.transpiler import Target


def emulated_qubits(memory_bytes: int | None = None) -> int:
    """The widest circuit the emulator simulates in ``memory_bytes`` (by default, the memory this job may
    use: :func:`~parsl_quantum.devices.hardware.job_memory_bytes`).

    Aer picks its method for a noisy circuit itself; beyond a few qubits it is a statevector with noise
    trajectories, whose memory is 16 bytes per amplitude.
    """
    memory = job_memory_bytes() if memory_bytes is None else memory_bytes
    return max_statevector_qubits(memory, 16)


def restrict_target(target: Target, qubits: list[int]) -> Target:
    """The part of ``target`` that acts only on ``qubits``, relabelled ``0..len(qubits)-1``."""
    from qiskit.transpiler import Target

    index = {q: i for i, q in enumerate(qubits)}
    props = target.qubit_properties
    sub = Target(
        num_qubits=len(qubits),
        dt=target.dt,
        qubit_properties=[props[q] for q in qubits] if props else None,
    )
    for name in target.operation_names:
        operation = target.operation_from_name(name)
        qargs_map = target[name]
        if qargs_map is None or None in qargs_map:
            sub.add_instruction(operation, name=name)
            continue
        kept = {
            tuple(index[q] for q in qargs): prop
            for qargs, prop in qargs_map.items()
            if all(q in index for q in qargs)
        }
        if kept:
            sub.add_instruction(operation, kept, name=name)
    return sub


def _reduced_backend(target: Target, name: str) -> BackendV2:
    """A minimal BackendV2 around ``target``: what Aer needs to build a noise model from it."""
    from qiskit.providers import BackendV2, Options

    class ReducedBackend(BackendV2):
        def __init__(self) -> None:
            super().__init__(name=name)

        @property
        def target(self) -> Target:
            return target

        @property
        def max_circuits(self) -> None:
            return None

        @classmethod
        def _default_options(cls) -> Options:
            return Options()

        def run(self, run_input: Any, **options: Any) -> Any:
            raise NotImplementedError("a reduced backend only describes noise; run it through Aer")

    return ReducedBackend()


class CompactNoiseEmulator:
    """Runs transpiled (ISA) circuits of a device on Aer with the device's noise.

    Parameters
    ----------
    backend
        A Qiskit BackendV2 with a calibrated target, e.g. a ``qiskit_ibm_runtime`` fake backend.
    seed_simulator
        Seed for reproducible sampling.
    cache_size
        How many simulators (one per set of active qubits) to keep, least recently used first out. The
        cache is the emulator's own and every access holds its lock, so threads sharing a device may
        call :meth:`run` at once.
    """

    def __init__(self, backend: BackendV2, seed_simulator: int | None = None, cache_size: int = 32) -> None:
        self._backend = backend
        self._seed = seed_simulator
        self._cache_size = cache_size
        self._simulators: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def simulator_for(self, qubits: tuple[int, ...]) -> Any:
        """The Aer simulator with the noise of ``qubits`` (built once, then reused)."""
        from qiskit_aer import AerSimulator

        with self._lock:
            sim = self._simulators.get(qubits)
            if sim is not None:
                self._simulators.move_to_end(qubits)
                return sim
        target = restrict_target(self._backend.target, list(qubits))
        sim = AerSimulator.from_backend(_reduced_backend(target, self._backend.name))
        if self._seed is not None:
            sim.set_options(seed_simulator=self._seed)
        with self._lock:
            sim = self._simulators.setdefault(qubits, sim)  # a concurrent build of the same key wins once
            self._simulators.move_to_end(qubits)
            while len(self._simulators) > self._cache_size:
                self._simulators.popitem(last=False)
        return sim

    def run(self, circuits: list[QuantumCircuit], shots: int) -> list[dict[str, int]]:
        """Counts for ISA circuits of the device, in Qiskit's ``get_counts`` format."""
        groups: dict[tuple[int, ...], list[int]] = {}
        compact: list[QuantumCircuit] = []
        for i, qc in enumerate(circuits):
            qubits = tuple(active_qubits(qc))
            groups.setdefault(qubits, []).append(i)
            compact.append(relabel(qc, qubits))
        counts: list[dict[str, int]] = [{} for _ in circuits]
        for qubits, members in groups.items():
            result = self.simulator_for(qubits).run([compact[i] for i in members], shots=shots).result()
            for j, i in enumerate(members):
                counts[i] = dict(result.get_counts(j))
        return counts


def relabel(circuit: QuantumCircuit, qubits: tuple[int, ...]) -> QuantumCircuit:
    """``circuit`` on ``len(qubits)`` qubits, physical qubit ``qubits[k]`` becoming qubit ``k``.

    Classical registers are kept as they are, so counts keep their format.
    """
    from qiskit import QuantumCircuit, QuantumRegister

    index = {q: k for k, q in enumerate(qubits)}
    out = QuantumCircuit(QuantumRegister(max(len(qubits), 1), "q"), *circuit.cregs, name=circuit.name)
    loose = [c for c in circuit.clbits if not circuit.find_bit(c).registers]
    if loose:
        out.add_bits(loose)
    for inst in circuit.data:
        positions = [circuit.find_bit(q).index for q in inst.qubits]
        if inst.operation.name in ("barrier", "delay") and not all(p in index for p in positions):
            continue
        out.append(inst.operation, [index[p] for p in positions], inst.clbits, copy=False)
    return out
