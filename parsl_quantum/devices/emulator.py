"""Offline noisy emulation of an IBM device, restricted to the qubits a circuit uses.

``AerSimulator.from_backend(fake_backend)`` builds a noise model over every qubit of the device (133 on
Torino) and hands all of it to the simulator on every run, which costs seconds per call even for a
5-qubit circuit. The noise of an instruction depends only on the physical qubits it acts on, so the
emulator builds, once per set of *active* physical qubits, the device's target restricted to those
qubits and a noise model from it, and runs the circuit relabelled onto them. The physics is the same
(same gate, readout and thermal-relaxation errors on the same physical qubits); the cost is that of the
circuit's width.

For the same reason, parts of a circuit that no instruction joins
(:func:`~parsl_quantum.circuits.packing.independent_parts`: several circuits packed side by side on the
device, see :mod:`parsl_quantum.circuits.packing`) are simulated apart and their outcomes joined shot by
shot: ``k`` parts of ``w`` qubits cost ``k * 2**w`` amplitudes, not ``2**(k*w)``. The device's noise model
has no crosstalk, so nothing is lost; a real device's crosstalk between neighbouring parts is not
emulated.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from parsl_quantum.circuits.normalize import active_qubits
from parsl_quantum.circuits.packing import independent_parts, restrict_target
from parsl_quantum.devices.counts import counts_of, keyed_counts
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
    noisy
        ``False`` runs the same ISA circuits without the device's noise: what the device would give were
        it perfect, on the same layout (to tell a layout's errors from the device's).
    """

    packing_pays = True
    """Independent parts are simulated apart, so circuits packed side by side cost what they cost alone."""

    def __init__(
        self, backend: BackendV2, seed_simulator: int | None = None, cache_size: int = 32, noisy: bool = True
    ) -> None:
        self._backend = backend
        self._noisy = noisy
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
        if self._noisy:
            target = restrict_target(self._backend.target, list(qubits))
            sim = AerSimulator.from_backend(_reduced_backend(target, self._backend.name))
        else:
            sim = AerSimulator()
        if self._seed is not None:
            sim.set_options(seed_simulator=self._seed)
        with self._lock:
            sim = self._simulators.setdefault(qubits, sim)  # a concurrent build of the same key wins once
            self._simulators.move_to_end(qubits)
            while len(self._simulators) > self._cache_size:
                self._simulators.popitem(last=False)
        return sim

    def run(self, circuits: list[QuantumCircuit], shots: int) -> list[dict[str, int]]:
        """Counts for ISA circuits of the device, in Qiskit's ``get_counts`` format.

        A circuit of several independent parts runs as one simulation per part, each with its own seed
        (derived from the emulator's), and its counts join the parts' outcomes shot by shot.
        """
        # one Aer job per circuit (per part), every job started before any is awaited: qiskit-aer 0.18.2
        # returned wrong counts for a noisy circuit batched behind another for which its automatic method
        # chose differently (a density-matrix circuit sampled after a statevector one on the same qubits
        # came out almost all zeros)
        jobs = []
        parts_of: list[int] = []
        for i, qc in enumerate(circuits):
            # parts that measure nothing change no outcome: they are not simulated
            parts = [tuple(q) for q, c in independent_parts(qc) if c] if qc.num_qubits > 1 else []
            if len(parts) <= 1:
                parts = [tuple(active_qubits(qc))]
            parts_of.append(len(parts))
            for number, qubits in enumerate(parts):
                options: dict[str, Any] = {"shots": shots}
                if len(parts) > 1:
                    options["memory"] = True
                if self._seed is not None:  # alike circuits and parts are not sampled alike
                    options["seed_simulator"] = self._seed + 7919 * i + number
                jobs.append((i, self.simulator_for(qubits).run(relabel(qc, qubits), **options)))
        counts: list[dict[str, int]] = [{} for _ in circuits]
        memories: list[list[list[str]]] = [[] for _ in circuits]
        headers: list[Any] = [None for _ in circuits]
        for i, job in jobs:
            result = job.result()
            if parts_of[i] > 1:
                memories[i].append(result.data(0)["memory"])
                headers[i] = result.results[0].header
            else:
                counts[i] = counts_of(result, 0)
        for i, memory in enumerate(memories):
            if memory:
                counts[i] = join_outcomes(memory, headers[i])
        return counts


def join_outcomes(parts: list[list[str]], header: Any) -> dict[str, int]:
    """Counts of the shot-by-shot join of independent parts' outcomes.

    Parameters
    ----------
    parts
        Each part's memory as Aer returns it: one hexadecimal outcome per shot over *all* the circuit's
        classical bits, the bits of other parts 0. A joined outcome has a bit set where any part set it.
    header
        The experiment header of a part's result (its classical registers), to write the counts' keys
        as ``get_counts`` writes them.
    """
    from collections import Counter

    shots = {len(memory) for memory in parts}
    if len(shots) != 1:
        raise ValueError(f"parts ran different shots: {sorted(shots)}")
    joined = [int(outcome, 16) for outcome in parts[0]]
    for memory in parts[1:]:
        joined = [a | int(b, 16) for a, b in zip(joined, memory, strict=True)]
    header = header if isinstance(header, dict) else header.to_dict()
    return keyed_counts(Counter(joined).items(), header)


def relabel(circuit: QuantumCircuit, qubits: tuple[int, ...]) -> QuantumCircuit:
    """``circuit`` on ``len(qubits)`` qubits, physical qubit ``qubits[k]`` becoming qubit ``k``.

    Instructions on none of ``qubits`` (another independent part's) are left out, as are barriers and
    delays that reach beyond them. Classical registers are kept as they are, so counts keep their format.
    """
    from qiskit import QuantumCircuit, QuantumRegister

    index = {q: k for k, q in enumerate(qubits)}
    out = QuantumCircuit(QuantumRegister(max(len(qubits), 1), "q"), *circuit.cregs, name=circuit.name)
    loose = [c for c in circuit.clbits if not circuit.find_bit(c).registers]
    if loose:
        out.add_bits(loose)
    for inst in circuit.data:
        positions = [circuit.find_bit(q).index for q in inst.qubits]
        inside = [p in index for p in positions]
        if not all(inside) and (inst.name in ("barrier", "delay") or not any(inside)):
            continue
        out.append(inst.operation, [index[p] for p in positions], inst.clbits, copy=False)
    return out
