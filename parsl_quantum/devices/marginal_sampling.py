"""Counts drawn from the exact distribution of the measured qubits, for noiseless state simulators.

A circuit measured only at the end, on a noiseless statevector, gives counts that are a multinomial draw
from the joint distribution of the qubits it measures. Aer's sampler instead draws every shot from the
whole state (a search over its amplitudes per shot) and tallies it. When few qubits are measured (a cut
fragment measures its observable qubit and its cut's qubit out of 13), computing their marginal once with
``save_probabilities`` and drawing ``shots`` outcomes from it at once gives counts with the same
distribution for a fraction of the work.

:func:`marginal_form` rewrites a circuit for this (or says it cannot be: mid-circuit measurements,
resets, classical control, or more outcomes than shots); :meth:`MarginalForm.counts` turns the saved
probabilities into counts keyed as Qiskit's ``get_counts`` keys them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

MAX_MEASURED = 20
"""Most distinct measured qubits a circuit is sampled from its marginal for (2**20 outcomes)."""

PROBABILITIES = "marginal_probabilities"
"""The label the rewritten circuit saves its measured qubits' probabilities under."""

_PASSIVE = frozenset({"barrier", "delay"})


@dataclass(frozen=True)
class MarginalForm:
    """A circuit to run once for the probabilities of the qubits it measures, and how to key its counts.

    Attributes
    ----------
    circuit
        The original's unitary part followed by ``save_probabilities`` on its measured qubits.
    slots
        Per memory slot (classical bit index) that a measurement writes: the position of the qubit whose
        outcome it holds in the saved probabilities' index (qubit ``k`` of the saved list is bit ``k``).
    header
        The register layout Qiskit's count formatting reads (``creg_sizes``, ``memory_slots``).
    """

    circuit: QuantumCircuit
    slots: tuple[tuple[int, int], ...]
    header: dict[str, Any]

    def counts(self, probabilities: np.ndarray, shots: int, rng: np.random.Generator) -> dict[str, int]:
        """``shots`` outcomes drawn at once from ``probabilities`` (those the circuit saved), as counts.

        Parameters
        ----------
        probabilities
            The saved probabilities of the measured qubits.
        shots
            How many outcomes to draw.
        rng
            The random generator to draw with.

        Returns
        -------
        dict
            Counts keyed as ``Result.get_counts`` keys them: classical bit 0 rightmost, registers
            separated by spaces, last register first; outcomes never drawn left out.
        """
        from parsl_quantum.devices.counts import keyed_counts

        p = np.clip(np.asarray(probabilities, dtype=float), 0.0, None)
        drawn = rng.multinomial(shots, p / p.sum())
        memories: dict[int, int] = {}
        for outcome in np.flatnonzero(drawn):
            memory = 0
            for position, slot in self.slots:
                memory |= ((int(outcome) >> position) & 1) << slot
            memories[memory] = memories.get(memory, 0) + int(drawn[outcome])
        return keyed_counts(memories.items(), self.header)


def marginal_form(circuit: QuantumCircuit, shots: int) -> MarginalForm | None:
    """``circuit`` rewritten to save its measured qubits' probabilities, or ``None`` where sampling from
    them would not give the counts' distribution or would not save work.

    It is rewritten when every measurement is in the final run of measurements, barriers and delays;
    everything before is a unitary gate (no reset, initialisation, classical control or simulator
    instruction); its classical registers hold each bit once, in order; and it measures at most
    :data:`MAX_MEASURED` distinct qubits with no more outcomes than ``shots``. The caller answers for
    the rest: a noiseless simulator whose state is a pure state.

    Parameters
    ----------
    circuit
        A circuit whose operations the simulator runs natively.
    shots
        The shots it will be sampled with.

    Returns
    -------
    MarginalForm or None
    """
    from qiskit.circuit import Gate
    from qiskit_aer.library import SaveProbabilities

    data = circuit.data
    tail = len(data)
    while tail and data[tail - 1].name in _PASSIVE | {"measure"}:
        tail -= 1
    measures = [inst for inst in data[tail:] if inst.name == "measure"]
    if not measures:
        return None
    for inst in data[:tail]:
        # a standard gate is a Gate (reading its operation would build a Python object for it)
        if not (inst.is_standard_gate() or inst.name in _PASSIVE or isinstance(inst.operation, Gate)):
            return None
    in_registers = [bit for register in circuit.cregs for bit in register]
    if in_registers != list(circuit.clbits):
        return None  # loose or shared classical bits: Qiskit's formatting would not key them
    measured: dict[Any, int] = {}
    slot_of: dict[int, int] = {}  # memory slot -> position of its qubit; a later write wins
    for inst in measures:
        qubit, clbit = inst.qubits[0], inst.clbits[0]
        position = measured.setdefault(qubit, len(measured))
        slot_of[circuit.find_bit(clbit).index] = position
    if len(measured) > MAX_MEASURED or 2 ** len(measured) > shots:
        return None
    rewritten = circuit.copy()  # a copy of the whole, its final measurements then deleted: appending each
    del rewritten.data[tail:]  # instruction again costs ten times as much (checks, parameter copies)
    qubits = list(measured)
    rewritten.append(SaveProbabilities(len(qubits), label=PROBABILITIES), qubits)
    header = {
        "creg_sizes": [[register.name, register.size] for register in circuit.cregs],
        "memory_slots": circuit.num_clbits,
    }
    return MarginalForm(rewritten, tuple(sorted((p, s) for s, p in slot_of.items())), header)


def draw_counts(
    simulator: Any,
    forms: Sequence[MarginalForm],
    shots: int,
    rng: np.random.Generator,
    circuits: Sequence[QuantumCircuit] | None = None,
) -> list[dict[str, int]]:
    """Counts of ``shots`` shots of each of ``forms``, from one call of ``simulator`` (an Aer backend) at
    one shot: their probabilities are exact (with more shots Aer would run the circuits shot by shot).

    Parameters
    ----------
    simulator
        The Aer backend to run on.
    forms
        What :func:`marginal_form` gave.
    shots
        Shots per circuit.
    rng
        The random generator to draw with.
    circuits
        Run in place of the forms' circuits, one each (the same circuits with their parameters bound).

    Returns
    -------
    list of dict
        Counts per form (see :meth:`MarginalForm.counts`).
    """
    run = [form.circuit for form in forms] if circuits is None else list(circuits)
    result = simulator.run(run, shots=1).result()
    return [form.counts(result.data(i)[PROBABILITIES], shots, rng) for i, form in enumerate(forms)]
