"""Exact references for the tests: textbook circuits, their exact distributions, and distances."""

from __future__ import annotations

import math

import numpy as np
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector


def ghz(n: int, measure: bool = True) -> QuantumCircuit:
    """The n-qubit GHZ state (|0...0> + |1...1>)/sqrt(2)."""
    qc = QuantumCircuit(n, name=f"ghz{n}")
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    if measure:
        qc.measure_all()
    return qc


def w_state(n: int, measure: bool = True) -> QuantumCircuit:
    """The n-qubit W state: an equal superposition of the n one-hot basis states."""
    qc = QuantumCircuit(n, name=f"w{n}")
    qc.x(0)
    for i in range(n - 1):
        theta = 2 * math.acos(math.sqrt(1 / (n - i)))
        qc.cry(theta, i, i + 1)
        qc.cx(i + 1, i)
    if measure:
        qc.measure_all()
    return qc


def exact_probabilities(circuit: QuantumCircuit) -> dict[str, float]:
    """Exact outcome probabilities of a circuit's qubits, keys as Qiskit bit strings (qubit 0 rightmost)."""
    state = Statevector(circuit.remove_final_measurements(inplace=False))
    return {k: float(v) for k, v in state.probabilities_dict().items() if v > 1e-12}


def exact_expectation(circuit: QuantumCircuit, observable: str | SparsePauliOp) -> float:
    """Exact expectation value of a Pauli string or SparsePauliOp."""
    state = Statevector(circuit.remove_final_measurements(inplace=False))
    op = SparsePauliOp(observable) if isinstance(observable, str) else observable
    return float(np.real(state.expectation_value(op)))


def tvd(counts: dict[str, int], probs: dict[str, float]) -> float:
    """Total variation distance between empirical counts and a distribution."""
    shots = sum(counts.values())
    keys = set(counts) | set(probs)
    return 0.5 * sum(abs(counts.get(k, 0) / shots - probs.get(k, 0.0)) for k in keys)


def pauli_sigma(exact: float, shots: int) -> float:
    """Standard deviation of a single Pauli's shot estimate: sqrt((1 - <P>^2) / shots)."""
    return math.sqrt(max(1.0 - exact * exact, 1e-12) / shots)


def exact_midcircuit_distribution(circuit: QuantumCircuit) -> dict[str, float]:
    """Exact distribution of a circuit's classical bits, mid-circuit measurements included.

    Each measurement splits every branch into its two outcomes (projected and renormalised); keys are
    Qiskit's counts keys (registers space-separated, last register first).
    """
    from qiskit.quantum_info import Operator

    projectors = [Operator(np.diag([1.0, 0.0])), Operator(np.diag([0.0, 1.0]))]
    branches = [(Statevector.from_label("0" * circuit.num_qubits), 1.0, [0] * circuit.num_clbits)]
    for inst in circuit.data:
        name = inst.operation.name
        qargs = [circuit.find_bit(q).index for q in inst.qubits]
        if name == "barrier":
            continue
        if name == "measure":
            (q,), (c,) = qargs, [circuit.find_bit(b).index for b in inst.clbits]
            split = []
            for state, weight, bits in branches:
                for outcome, projector in enumerate(projectors):
                    p = float(state.probabilities([q])[outcome])
                    if p > 1e-14:
                        projected = state.evolve(projector, [q])
                        new_bits = list(bits)
                        new_bits[c] = outcome
                        split.append((projected / np.sqrt(p), weight * p, new_bits))
            branches = split
        else:
            branches = [
                (state.evolve(inst.operation, qargs), weight, bits) for state, weight, bits in branches
            ]
    out: dict[str, float] = {}
    for _, weight, bits in branches:
        parts = []
        for creg in reversed(circuit.cregs):
            parts.append("".join(str(bits[circuit.find_bit(b).index]) for b in reversed(creg)))
        key = " ".join(parts)
        out[key] = out.get(key, 0.0) + weight
    return out


def su2(n: int, seed: int) -> QuantumCircuit:
    """An n-qubit efficient_su2 ansatz (linear entanglement, one repetition) at angles drawn uniformly from
    [-pi, pi) with ``seed``."""
    from qiskit.circuit.library import efficient_su2

    qc = efficient_su2(n, entanglement="linear", reps=1)
    return qc.assign_parameters(np.random.default_rng(seed).uniform(-np.pi, np.pi, qc.num_parameters))


def qaoa_ring(n: int, gamma: float = 0.4, beta: float = 0.3, measure: bool = False) -> QuantumCircuit:
    """p=1 QAOA for MaxCut on the n-node ring: H on every qubit, RZZ(2 gamma) on each edge, RX(2 beta)."""
    qc = QuantumCircuit(n, name=f"qaoa_ring{n}")
    qc.h(range(n))
    for i in range(n):
        qc.rzz(2 * gamma, i, (i + 1) % n)
    qc.rx(2 * beta, range(n))
    if measure:
        qc.measure_all()
    return qc


def hardware_efficient(n: int, reps: int, seed: int, measure: bool = False) -> QuantumCircuit:
    """A random hardware-efficient ansatz: RY and RZ on every qubit at angles drawn with ``seed``, then a
    CX chain, ``reps`` times, and a last rotation layer."""
    rng = np.random.default_rng(seed)
    qc = QuantumCircuit(n, name=f"hea{n}")
    for rep in range(reps + 1):
        for q in range(n):
            qc.ry(rng.uniform(-np.pi, np.pi), q)
            qc.rz(rng.uniform(-np.pi, np.pi), q)
        if rep < reps:
            for q in range(n - 1):
                qc.cx(q, q + 1)
    if measure:
        qc.measure_all()
    return qc


def star_with_a_wire_cut(n: int = 7) -> QuantumCircuit:
    """Qubit 0 drives three CXs, turns, then drives three more: one wire cut on qubit 0 is the cheapest
    way into two 4-qubit pieces."""
    rng = np.random.default_rng(1)
    qc = QuantumCircuit(n, name="star")
    for q in range(n):
        qc.ry(rng.uniform(0, 3), q)
    for q in (1, 2, 3):
        qc.cx(0, q)
    qc.rx(0.7, 0)
    for q in (4, 5, 6):
        qc.cx(0, q)
    for q in range(n):
        qc.ry(rng.uniform(0, 3), q)
    return qc
