r"""Expectation values from measurement counts.

For a Pauli operator :math:`P = \bigotimes_q \sigma_q`, the expectation value in state
:math:`|\psi\rangle` is estimated by rotating every qubit where :math:`\sigma_q \in \{X, Y\}` into the
Z basis (``H`` for X, ``S†H`` for Y), measuring, and averaging the parity
:math:`(-1)^{\sum_{q \in \mathrm{supp}(P)} b_q}` over shots. Paulis that commute qubit-wise share one
measurement basis, so an observable with many terms costs one circuit per group, not per term.

This is the one shot-based estimator of the project: every device with shots (a simulator asked for
shots, a noisy emulator, a real QPU) goes through it, so their results differ only by the device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

BASIS_REGISTER = "pauli_basis"


@dataclass(frozen=True)
class MeasurementGroup:
    """Paulis of one circuit measured together in one basis.

    Attributes
    ----------
    circuit_index
        Which input circuit the group belongs to.
    basis
        One letter per qubit, qubit 0 first: ``"Z"``, ``"X"`` or ``"Y"``.
    paulis
        The Pauli labels (Qiskit order, rightmost letter on qubit 0) estimated from this group.
    """

    circuit_index: int
    basis: str
    paulis: tuple[str, ...]


def group_paulis(observables: Sequence[SparsePauliOp], circuit_index: int = 0) -> list[MeasurementGroup]:
    """Group the non-identity Pauli terms of ``observables`` into qubit-wise commuting sets."""
    from qiskit.quantum_info import SparsePauliOp

    labels = sorted({lab for op in observables for lab in op.paulis.to_labels() if set(lab) != {"I"}})
    if not labels:
        return []
    groups = SparsePauliOp(labels).group_commuting(qubit_wise=True)
    result = []
    for group in groups:
        group_labels = tuple(group.paulis.to_labels())
        n = len(group_labels[0])
        basis = []
        for qubit in range(n):
            letters = {lab[n - 1 - qubit] for lab in group_labels} - {"I"}
            basis.append(letters.pop() if letters else "Z")
        result.append(MeasurementGroup(circuit_index, "".join(basis), group_labels))
    return result


def basis_circuit(circuit: QuantumCircuit, basis: str) -> QuantumCircuit:
    """Copy of ``circuit`` (without measurements) rotated into ``basis`` and measured on every qubit."""
    from qiskit.circuit import ClassicalRegister

    from parsl_quantum.circuits.normalize import strip_measurements

    measured = strip_measurements(circuit).copy(name=f"{circuit.name}_{basis}")
    measured.add_register(ClassicalRegister(measured.num_qubits, BASIS_REGISTER))
    for qubit, letter in enumerate(basis):
        if letter == "X":
            measured.h(qubit)
        elif letter == "Y":
            measured.sdg(qubit)
            measured.h(qubit)
    measured.measure(range(measured.num_qubits), measured.cregs[-1])
    return measured


def _basis_bits(key: str) -> int:
    """The integer value of the basis register's bits in a counts key (its first, leftmost register)."""
    return int(key.split(" ", 1)[0], 2)


def _outcome_values(keys: Sequence[str]) -> np.ndarray:
    """The basis register's bits of each counts key as integers: unsigned 64-bit where they fit (and
    NumPy counts bits), else Python integers."""
    first = keys[0] if keys else ""
    width = len(first.split(" ", 1)[0])
    fits = width <= 64 and hasattr(np, "bitwise_count")
    dtype: Any = np.uint64 if fits else object
    if " " in first:
        return np.fromiter((_basis_bits(k) for k in keys), dtype=dtype, count=len(keys))
    return np.fromiter((int(k, 2) for k in keys), dtype=dtype, count=len(keys))


def _parities(values: np.ndarray, mask: int) -> np.ndarray:
    """1 where an outcome has an odd number of ones under ``mask``, else 0."""
    if values.dtype == np.uint64 and mask < 1 << 64:
        return np.bitwise_count(values & np.uint64(mask)) & 1
    return np.array([(int(v) & mask).bit_count() & 1 for v in values], dtype=np.int64)


def pauli_expectations(counts: dict[str, int], labels: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Mean and standard error of each Pauli in ``labels`` from counts taken in a shared basis.

    Each outcome's bits are read once; every label's signs are then one vectorised pass over them.

    Returns
    -------
    dict
        ``label -> (mean, standard error of the mean)``.
    """
    values = _outcome_values(list(counts))
    weights = np.fromiter(counts.values(), dtype=float, count=len(counts))
    shots = weights.sum()
    out = {}
    for label in labels:
        n = len(label)
        mask = sum(1 << q for q in range(n) if label[n - 1 - q] != "I")
        signs = 1.0 - 2.0 * _parities(values, mask)
        mean = float(signs @ weights / shots)
        out[label] = (mean, float(np.sqrt(max(1.0 - mean * mean, 0.0) / shots)))
    return out


def combine(observable: SparsePauliOp, paulis: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """Value and standard error of ``observable`` from its terms' estimates (terms measured independently
    in different groups; terms of the same group are treated as independent too, an upper-bound-ish
    approximation adequate for error bars)."""
    value = 0.0
    variance = 0.0
    for label, coeff in zip(observable.paulis.to_labels(), observable.coeffs, strict=True):
        if set(label) == {"I"}:
            value += float(np.real(coeff))
            continue
        mean, err = paulis[label]
        value += float(np.real(coeff)) * mean
        variance += (float(np.abs(coeff)) * err) ** 2
    return value, float(np.sqrt(variance))


def estimate_by_sampling(
    sample: Callable[[list[QuantumCircuit], int], list[dict[str, int]]],
    circuits: Sequence[QuantumCircuit],
    observables: Sequence[Sequence[SparsePauliOp]],
    shots: int,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Estimate expectation values by sampling measurement-basis circuits.

    Parameters
    ----------
    sample
        ``sample(circuits, shots) -> list of counts``: a device's sampler.
    circuits
        The state-preparation circuits.
    observables
        Per circuit, the observables to estimate on it.
    shots
        Shots per measurement basis.

    Returns
    -------
    (values, standard_errors)
        Per circuit, an array with one entry per observable.
    """
    groups = [g for i, obs in enumerate(observables) for g in group_paulis(obs, i)]
    to_run = [basis_circuit(circuits[g.circuit_index], g.basis) for g in groups]
    all_counts = sample(to_run, shots) if to_run else []
    per_circuit: list[dict[str, tuple[float, float]]] = [{} for _ in circuits]
    for group, counts in zip(groups, all_counts, strict=True):
        per_circuit[group.circuit_index].update(pauli_expectations(counts, group.paulis))
    values, errors = [], []
    for i, obs in enumerate(observables):
        pairs = [combine(op, per_circuit[i]) for op in obs]
        values.append(np.array([v for v, _ in pairs]))
        errors.append(np.array([e for _, e in pairs]))
    return values, errors
