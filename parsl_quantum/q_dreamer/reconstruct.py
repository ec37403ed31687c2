"""Reconstruction of cut expectation values from subexperiment counts, with standard errors.

The combination itself is qiskit-addon-cutting's ``reconstruct_expectation_values``, fed quasi-
distributions (one entry per distinct outcome, not per shot). The standard error comes from batch means:
each subexperiment's shots are split at random into ``B`` equal parts, the value is reconstructed from
each part, and the spread of the ``B`` values over ``sqrt(B)`` estimates the error of the full estimate.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Reconstruction:
    """Reconstructed expectation values of a cut circuit.

    Attributes
    ----------
    values
        One value per observable asked for.
    stderr
        Standard error of each value (batch means over ``batches`` parts).
    pauli_values
        The reconstructed value of each distinct Pauli term.
    shots
        Shots spent, over all subexperiments.
    batches
        Parts used for the standard error.
    """

    values: np.ndarray
    stderr: np.ndarray
    pauli_values: dict[str, float]
    shots: int
    batches: int


def quasi_distribution(counts: Mapping[str, int]) -> dict[int, float]:
    """Counts keyed ``"qpd obs"`` as the ``{outcome integer: probability}`` reconstruction expects."""
    total = sum(counts.values())
    return {int(key.replace(" ", ""), 2): n / total for key, n in counts.items()}


def _pauli_values(
    counts: Mapping[Hashable, Sequence[Mapping[str, int]]],
    coefficients: Sequence[tuple[float, Any]],
    subobservables: Mapping[Hashable, Any],
) -> np.ndarray:
    from qiskit.primitives import SamplerResult
    from qiskit_addon_cutting import reconstruct_expectation_values

    results = {
        label: SamplerResult(quasi_dists=[quasi_distribution(c) for c in runs], metadata=[{} for _ in runs])
        for label, runs in counts.items()
    }
    return np.asarray(
        reconstruct_expectation_values(results, coefficients, dict(subobservables)), dtype=float
    )


def synthetic_counts(
    problem: Any, keys_per_circuit: int, rng: np.random.Generator, shots_per_circuit: int | None = None
) -> tuple[dict, int]:
    """Random counts with up to ``keys_per_circuit`` distinct outcomes for every subexperiment of
    ``problem`` (for timing reconstruction), and the number of outcomes made. Each subexperiment's
    ``shots_per_circuit`` shots (default five per outcome) are spread evenly over its outcomes."""
    counts, outcomes = {}, 0
    for label, circuits in problem.subexperiments.items():
        runs = []
        for qc in circuits:
            widths = [creg.size for creg in reversed(qc.cregs) if creg.size]
            keys = sorted(
                {
                    " ".join("".join(rng.choice(["0", "1"], size=w)) for w in widths)
                    for _ in range(keys_per_circuit)
                }
            )
            shots = shots_per_circuit or 5 * len(keys)
            keys = keys[:shots]
            share, extra = divmod(shots, len(keys))
            runs.append({k: share + (i < extra) for i, k in enumerate(keys)})
            outcomes += len(keys)
        counts[label] = runs
    return counts, outcomes


def pass_cost(problem: Any, seed: int = 0) -> tuple[float, float]:
    """Measured seconds of one reconstruction pass over ``problem``'s subexperiments: its fixed part and
    its part per distinct outcome, ``(a, b)`` with a pass over ``o`` outcomes taking ``a + b * o``.

    Both depend on the problem (its subexperiments, coefficients and Pauli terms), so they are timed on it
    with synthetic counts: one outcome per subexperiment, and a few thousand outcomes in all.
    """
    n = max(problem.num_subexperiments, 1)
    points = []
    for keys in (1, max(4, min(200, -(-4000 // n)))):
        counts, outcomes = synthetic_counts(problem, keys, np.random.default_rng(seed))
        start = time.perf_counter()
        _pauli_values(counts, problem.coefficients, problem.subobservables)
        points.append((outcomes, time.perf_counter() - start))
    (o1, t1), (o2, t2) = points
    per_outcome = max(t2 - t1, 0.0) / max(o2 - o1, 1)
    return max(t1 - per_outcome * o1, 0.0), per_outcome


def split_counts(counts: Mapping[str, int], parts: int, rng: np.random.Generator) -> list[dict[str, int]]:
    """Split the shots behind ``counts`` at random into ``parts`` equal parts."""
    keys = list(counts)
    outcomes = np.repeat(np.arange(len(keys)), [counts[k] for k in keys])
    rng.shuffle(outcomes)
    out = []
    for chunk in np.array_split(outcomes, parts):
        tally = np.bincount(chunk, minlength=len(keys))
        out.append({keys[i]: int(n) for i, n in enumerate(tally) if n})
    return out


def reconstruct(
    counts: Mapping[Hashable, Sequence[Mapping[str, int]]],
    coefficients: Sequence[tuple[float, Any]],
    subobservables: Mapping[Hashable, Any],
    paulis: Any,
    observables: Sequence[Any],
    batches: int = 8,
    seed: int | None = None,
) -> Reconstruction:
    """Expectation values of ``observables`` from the counts of every subexperiment.

    Parameters
    ----------
    counts
        Per subsystem label, the counts of its subexperiments in generation order.
    coefficients, subobservables
        From the cutting decomposition.
    paulis
        The ``PauliList`` of distinct terms the subobservables were built from.
    observables
        The observables (``SparsePauliOp``) to assemble from the Pauli terms' values.
    batches
        Parts for the standard error (the smallest subexperiment must have at least that many shots).
    seed
        Seed of the random split.
    """
    labels = paulis.to_labels()
    full = _pauli_values(counts, coefficients, subobservables)
    rng = np.random.default_rng(seed)
    split = {label: [split_counts(c, batches, rng) for c in runs] for label, runs in counts.items()}
    parts = np.array(
        [
            _pauli_values(
                {label: [c[b] for c in runs] for label, runs in split.items()}, coefficients, subobservables
            )
            for b in range(batches)
        ]
    )

    def assemble(pauli: np.ndarray) -> np.ndarray:
        index = dict(zip(labels, pauli, strict=True))
        out = []
        for op in observables:
            value = 0.0
            for label, coeff in zip(op.paulis.to_labels(), op.coeffs, strict=True):
                value += float(np.real(coeff)) * (1.0 if set(label) == {"I"} else index[label])
            out.append(value)
        return np.array(out)

    values = assemble(full)
    spread = np.array([assemble(p) for p in parts])
    stderr = spread.std(axis=0, ddof=1) / np.sqrt(batches)
    shots = sum(sum(c.values()) for runs in counts.values() for c in runs)
    return Reconstruction(values, stderr, dict(zip(labels, full.tolist(), strict=True)), shots, batches)
