r"""Reconstruction of a cut circuit's distribution of measured bits, from the same subexperiments.

qiskit-addon-cutting reconstructs expectation values. For the distribution of the measured bits, cut the
circuit with one observable :math:`Z_q` per measured qubit :math:`q`: every one of those commutes with the
others, so each subsystem has one measurement group, and each of its subexperiments measures, in the
computational basis, every measured qubit it holds (its ``observable_measurements`` bits), besides its QPD
bits. A quasi-probability decomposition :math:`\mathcal{U} = \sum_i c_i \bigotimes_A \mathcal{F}_{i,A}`
of the cut gates and wires holds for the whole channel, so for the projector :math:`|x\rangle\langle x|`
onto a bit string, a product over the subsystems :math:`A` of projectors onto its bits :math:`x_A`,

.. math:: p(x) = \sum_i c_i \prod_A q_{i,A}(x_A), \qquad
          q_{i,A}(y) = \Pr_{i,A}[\text{bits} = y,\ \text{QPD parity even}]
                     - \Pr_{i,A}[\text{bits} = y,\ \text{QPD parity odd}],

exactly as the addon's expectation values are :math:`\sum_i c_i \prod_A \langle P_A \rangle_{i,A}`
with :math:`\pm 1` outcomes weighted by the QPD bits' parity. Each :math:`q_{i,A}` is estimated by signed
tallies of its subexperiment's shots (:func:`process_outcomes`, on the worker that sampled them); the
reconstruction task multiplies and sums them (:func:`combine_distribution`), over the bit strings whose
every part some term saw.

Standard errors come from batch means, as for values
(:func:`~parsl_quantum.q_dreamer.planning.reconstruct.split_counts`): each subexperiment's shots are split
at random into ``B`` equal parts, the distribution is reconstructed from each part, and the spread of the
``B`` estimates of each bit string over :math:`\sqrt{B}` is its standard error.

**Bound on the error.** Each subexperiment's signed tally :math:`\hat q_{i,A}(y)` is a mean of values in
:math:`\{-1, 0, 1\}` whose square has mean :math:`P_{i,A}(y) \le 1`; the subsystems are sampled
independently, so telescoping the product gives
:math:`\mathrm{Var}\,\prod_A \hat q_{i,A} \le (1 - \prod_A q_{i,A}^2) / n_i \le 1 / n_i` for :math:`n_i`
shots, and :math:`\mathrm{Var}\,\hat p(x) \le \sum_i c_i^2 / n_i`: at most :math:`\kappa^2 / N` for
:math:`N` shots per subsystem spread in proportion to :math:`|c_i|`, the bound a Pauli term has
(:func:`distribution_stderr`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from parsl_quantum.q_dreamer.distribution import Distribution
from parsl_quantum.q_dreamer.planning.reconstruct import BATCHES, split_counts

DENSE_LIMIT = 1 << 24
"""Most entries (bit strings times coefficients times batches) the dense combination may hold at once."""


@dataclass(frozen=True)
class MeasuredBits:
    """Which qubit each of a circuit's classical bits measures at the end.

    Attributes
    ----------
    num_bits
        Width of the bit strings (the circuit's classical bits; its qubits when it measures none).
    qubits
        ``{qubit: classical bit}`` for each measured qubit.
    """

    num_bits: int
    qubits: dict[int, int]

    def measure(self, circuit: Any) -> Any:
        """``circuit`` (without measurements) measuring each measured qubit into its bit at the end."""
        from qiskit import ClassicalRegister

        measured = circuit.copy()
        register = ClassicalRegister(self.num_bits, "meas")
        measured.add_register(register)
        for qubit, bit in self.qubits.items():
            measured.measure(qubit, register[bit])
        return measured

    def observables(self, num_qubits: int) -> list[str]:
        """One Pauli string :math:`Z_q` per measured qubit (Qiskit order, qubit 0 rightmost): cutting with
        them measures every measured qubit in every subexperiment that holds it."""
        return ["".join("Z" if i == q else "I" for i in reversed(range(num_qubits))) for q in self.qubits]


def measured_bits(circuit: Any) -> MeasuredBits:
    """The classical bits a circuit's final measurements write, and the qubit each measures.

    A circuit without measurements counts every qubit, bit ``k`` measuring qubit ``k``.

    Raises
    ------
    ValueError
        For a mid-circuit measurement (something acts on its qubit or reads its bit later), a qubit
        measured into two bits, or more than 63 bits.
    """
    from parsl_quantum.circuits.normalize import final_measurements, to_circuit

    qc = to_circuit(circuit)
    if max(qc.num_clbits, qc.num_qubits if not qc.num_clbits else 0) > 63:
        raise ValueError(f"circuit '{qc.name}': a distribution of more than 63 bits is not supported")
    final = final_measurements(qc)
    measures = [inst for inst in qc.data if inst.name == "measure"]
    if not measures:
        return MeasuredBits(qc.num_qubits, {q: q for q in range(qc.num_qubits)})
    if len(measures) != sum(final):
        raise ValueError(
            f"circuit '{qc.name}' measures in mid-circuit: a distribution of a cut circuit needs its "
            "measurements at the end"
        )
    qubits: dict[int, int] = {}
    writers: dict[int, int] = {}
    for inst in measures:
        q, c = qc.find_bit(inst.qubits[0]).index, qc.find_bit(inst.clbits[0]).index
        if q in qubits and qubits[q] != c:
            raise ValueError(f"circuit '{qc.name}' measures qubit {q} into two bits")
        if c in writers and writers[c] != q:
            del qubits[writers[c]]  # the later measurement into the bit is the one that counts
        qubits[q], writers[c] = c, q
    return MeasuredBits(qc.num_clbits, dict(sorted(qubits.items())))


@dataclass(frozen=True)
class BitLayout:
    """Where each subsystem's measured bits land in the circuit's bit strings.

    Attributes
    ----------
    num_bits
        Width of the circuit's bit strings.
    positions
        Per subsystem label, for each of its ``observable_measurements`` bits (bit 0 first), the circuit
        bit it measures, or ``-1`` for a bit measured only because the addon measures at least one.
    """

    num_bits: int
    positions: dict[Hashable, tuple[int, ...]]


def bit_layout(problem: Any, measured: MeasuredBits) -> BitLayout:
    """The :class:`BitLayout` of a cut problem made with :meth:`MeasuredBits.observables`.

    Parameters
    ----------
    problem
        A :class:`~parsl_quantum.q_dreamer.planning.decompose.CutProblem` whose Pauli terms are one
        :math:`Z_q` per measured qubit (wire cuts included: the addon's expansion moves each term to the
        qubit that holds its wire at the end).
    measured
        The circuit's measured bits.

    Raises
    ------
    ValueError
        If a subsystem's sub-observables fall in more than one measurement group (a term not of the
        :math:`Z_q` form).
    """
    from qiskit_addon_cutting.cutting_experiments import _get_pauli_indices
    from qiskit_addon_cutting.utils.observable_grouping import ObservableCollection

    labels = problem.paulis.to_labels()
    term_qubits = []
    for label in labels:
        support = [len(label) - 1 - i for i, c in enumerate(label) if c != "I"]
        if len(support) != 1 or label[len(label) - 1 - support[0]] != "Z":
            raise ValueError(f"term {label!r} is not a single Z: not a distribution's cut problem")
        term_qubits.append(support[0])
    positions = {}
    for name, subobservables in problem.subobservables.items():
        groups = ObservableCollection(subobservables).groups
        if len(groups) != 1:
            raise ValueError(f"subsystem {name!r} has {len(groups)} measurement groups, not 1")
        indices = list(_get_pauli_indices(groups[0]))
        where = [-1] * len(indices)
        for term, qubit in enumerate(term_qubits):
            sub = subobservables[term]
            support = [i for i in range(sub.num_qubits) if sub.z[i] or sub.x[i]]
            if support:
                where[indices.index(support[0])] = measured.qubits[qubit]
        positions[name] = tuple(where)
    return BitLayout(measured.num_bits, positions)


@dataclass(frozen=True)
class SignedTallies:
    r"""One subexperiment's outcomes as signed tallies of the circuit bits it measures.

    A shot whose QPD bits have even parity adds 1 to its bits' tally, odd parity subtracts 1; a tally
    over the shots is :math:`\hat q_{i,A}`. Keys are the shot's bits already placed at their positions in
    the circuit's bit strings (other positions 0).

    Attributes
    ----------
    full
        ``{placed bits: signed tally}`` over all shots (a key for every bits seen, even where the signs
        cancel).
    shots
        Shots behind ``full`` (or total probability, for exact tallies).
    batches, batch_shots
        The same for each random equal part of the shots.
    """

    full: dict[int, float]
    shots: float
    batches: tuple[dict[int, float], ...] = ()
    batch_shots: tuple[float, ...] = ()


def place_bits(outcomes: np.ndarray, positions: Sequence[int]) -> np.ndarray:
    """Move bit ``k`` of each outcome to ``positions[k]`` (dropping those at ``-1``)."""
    placed = np.zeros(len(outcomes), dtype=np.uint64)
    for k, position in enumerate(positions):
        if position >= 0:
            placed |= ((outcomes >> np.uint64(k)) & np.uint64(1)) << np.uint64(position)
    return placed


def process_outcomes(
    counts: Mapping[str, float],
    positions: Sequence[int],
    batches: int = 0,
    rng: np.random.Generator | None = None,
) -> SignedTallies:
    """A subexperiment's counts (keyed as Qiskit writes them, ``"qpd observable"``) as
    :class:`SignedTallies`.

    Parameters
    ----------
    counts
        Shots per outcome; or exact probabilities, with ``batches=0``.
    positions
        The circuit bit of each observable bit (:attr:`BitLayout.positions`).
    batches
        Random equal parts of the shots for the standard error (0: none).
    rng
        Generator of the split.
    """
    keys = list(counts)
    outcomes = np.array([int(k.replace(" ", ""), 2) for k in keys], dtype=np.uint64)
    weights = np.array([counts[k] for k in keys], dtype=float)
    width = np.uint64(len(positions))
    parity = np.bitwise_count(outcomes >> width).astype(np.int64) & 1
    placed = place_bits(outcomes & np.uint64((1 << len(positions)) - 1), positions)
    # classes of equal contribution: the placed bits and the QPD parity
    present, inverse = np.unique(placed * np.uint64(2) + parity.astype(np.uint64), return_inverse=True)
    per_class = np.bincount(inverse, weights=weights, minlength=len(present))

    def signed(tally: Mapping[int, float]) -> dict[int, float]:
        out: dict[int, float] = {}
        for c, n in tally.items():
            bits, sign = int(present[c]) >> 1, 1 - 2 * (int(present[c]) & 1)
            out[bits] = out.get(bits, 0.0) + sign * n
        return out

    classes = dict(enumerate(per_class.tolist()))
    full = signed(classes)
    if not batches:
        return SignedTallies(full, float(weights.sum()))
    parts = split_counts(
        {c: int(round(n)) for c, n in classes.items()}, batches, rng or np.random.default_rng()
    )
    return SignedTallies(
        full,
        float(weights.sum()),
        tuple(signed(p) for p in parts),
        tuple(float(sum(p.values())) for p in parts),
    )


def process_fragment_outcomes(
    counts: Sequence[Mapping[str, int]],
    positions: Sequence[Sequence[int]],
    batches: int,
    seed: int | None,
) -> list[SignedTallies]:
    """:func:`process_outcomes` for each subexperiment of a fragment (on the worker that sampled them)."""
    rng = np.random.default_rng(seed)
    return [process_outcomes(c, p, batches, rng) for c, p in zip(counts, positions, strict=True)]


def _estimates(tallies: Sequence[SignedTallies], batches: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One subsystem's keys ``(K,)``, its :math:`\\hat q` ``(1 + B, M, K)`` over its ``M``
    subexperiments (all shots, then each batch) and where each key was seen ``(M, K)``."""
    keys = np.array(sorted({k for t in tallies for k in t.full}), dtype=np.uint64)
    column = {int(k): j for j, k in enumerate(keys)}
    q = np.zeros((1 + batches, len(tallies), len(keys)))
    seen = np.zeros((len(tallies), len(keys)), dtype=bool)
    for m, t in enumerate(tallies):
        for key, n in t.full.items():
            q[0, m, column[key]] = n / t.shots if t.shots else 0.0
            seen[m, column[key]] = True
        for b in range(batches):
            shots = t.batch_shots[b]
            for key, n in t.batches[b].items():
                q[1 + b, m, column[key]] = n / shots if shots else 0.0
    return keys, q, seen


def combine_distribution(
    tallies: Mapping[Hashable, Sequence[SignedTallies]],
    coefficients: Sequence[tuple[float, Any]],
    num_bits: int,
) -> Distribution:
    r"""The reconstruction task: :math:`\hat p(x) = \sum_i c_i \prod_A \hat q_{i,A}(x_A)` over the bit
    strings seen, from every subexperiment's tallies, with batch-means standard errors.

    Parameters
    ----------
    tallies
        Per subsystem label, each subexperiment's :class:`SignedTallies` in generation order (one per
        coefficient).
    coefficients
        The QPD coefficients ``(value, weight type)``.
    num_bits
        Width of the circuit's bit strings.

    Returns
    -------
    Distribution
        Over the bit strings whose every part was seen by a common term.
    """
    weights = np.array([float(c) for c, _ in coefficients])
    for label, runs in tallies.items():
        if len(runs) != len(weights):
            raise ValueError(
                f"subsystem {label!r}: {len(runs)} subexperiments for {len(weights)} coefficients"
            )
    batches = min((len(t.batches) for runs in tallies.values() for t in runs), default=0)
    parts = [_estimates(runs, batches) for runs in tallies.values()]
    shots = int(round(sum(t.shots for runs in tallies.values() for t in runs)))
    if not parts:
        return Distribution(num_bits, [0], [float(weights.sum())], np.full((batches, 1), weights.sum()), 0)
    widths = [len(keys) for keys, _, _ in parts]
    dense = (1 + batches) * len(weights) * math.prod(widths)
    sparse = (1 + batches) * sum(math.prod(int(s[m].sum()) for _, _, s in parts) for m in range(len(weights)))
    if dense <= max(sparse, 1) * 4 and dense <= DENSE_LIMIT:
        outcomes, estimates = _combine_dense(parts, weights)
    else:
        outcomes, estimates = _combine_sparse(parts, weights, batches)
    return Distribution(num_bits, outcomes, estimates[0], estimates[1:], shots)


def _combine_dense(parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], weights: np.ndarray) -> tuple:
    """Over every combination of the subsystems' keys: a chain of products, the last one contracted over
    the coefficients (a matrix product per batch)."""
    keys, q, seen = parts[0]
    product = q * weights[None, :, None]
    found = seen & (weights != 0)[:, None]
    for next_keys, next_q, next_seen in parts[1:-1]:
        product = (product[..., None] * next_q[:, :, None, :]).reshape(q.shape[0], len(weights), -1)
        found = (found[..., None] & next_seen[:, None, :]).reshape(len(weights), -1)
        keys = (keys[:, None] + next_keys[None, :]).reshape(-1)
    if len(parts) > 1:
        last_keys, last_q, last_seen = parts[-1]
        estimates = np.einsum("bmk,bml->bkl", product, last_q).reshape(q.shape[0], -1)
        reached = (found.astype(float).T @ last_seen.astype(float)).reshape(-1) > 0
        keys = (keys[:, None] + last_keys[None, :]).reshape(-1)
    else:
        estimates = product.sum(axis=1)
        reached = found.any(axis=0)
    return keys[reached], estimates[:, reached]


def _combine_sparse(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], weights: np.ndarray, batches: int
) -> tuple:
    """Term by term, over the combinations of the keys each term saw, summed by bit string."""
    all_keys, all_values = [], []
    for m, weight in enumerate(weights):
        if weight == 0:
            continue
        keys = np.zeros(1, dtype=np.uint64)
        values = np.full((1 + batches, 1), weight)
        for part_keys, q, seen in parts:
            columns = np.nonzero(seen[m])[0]
            keys = (keys[:, None] + part_keys[columns][None, :]).reshape(-1)
            values = (values[:, :, None] * q[:, m, columns][:, None, :]).reshape(1 + batches, -1)
        all_keys.append(keys)
        all_values.append(values)
    if not all_keys:
        return np.zeros(0, dtype=np.uint64), np.zeros((1 + batches, 0))
    outcomes, inverse = np.unique(np.concatenate(all_keys), return_inverse=True)
    stacked = np.concatenate(all_values, axis=1)
    estimates = np.array([np.bincount(inverse, weights=row, minlength=len(outcomes)) for row in stacked])
    return outcomes, estimates


def reconstruct_distribution(
    counts: Mapping[Hashable, Sequence[Mapping[str, float]]],
    coefficients: Sequence[tuple[float, Any]],
    layout: BitLayout,
    batches: int = BATCHES,
    seed: int | None = None,
) -> Distribution:
    """The distribution from the raw counts of every subexperiment, processed here (fragment tasks
    process their own on the workers instead).

    Parameters
    ----------
    counts
        Per subsystem label, the counts of its subexperiments in generation order; or their exact
        outcome probabilities, with ``batches=0``.
    coefficients
        The QPD coefficients.
    layout
        Where each subsystem's bits go (:func:`bit_layout`).
    batches
        Parts for the standard errors (0: none).
    seed
        Seed of the random split.
    """
    rng = np.random.default_rng(seed)
    tallies = {
        label: [process_outcomes(c, layout.positions[label], batches, rng) for c in runs]
        for label, runs in counts.items()
    }
    return combine_distribution(tallies, coefficients, layout.num_bits)


def sampled_distribution(
    counts: Mapping[str, int], num_bits: int, batches: int = BATCHES, seed: int | None = None
) -> Distribution:
    """The distribution of an uncut circuit's counts (frequencies), with the same batch-means standard
    errors as a cut one's."""
    tallies = process_outcomes(counts, tuple(range(num_bits)), batches, np.random.default_rng(seed))
    return combine_distribution({0: [tallies]}, [(1.0, None)], num_bits)


def distribution_stderr(coefficients: Sequence[tuple[float, Any]], shots: Sequence[int]) -> float:
    r"""Bound on the standard error of every reconstructed quasi-probability:
    :math:`\sqrt{\sum_i c_i^2 / n_i}` for :math:`n_i` shots of subexperiment index :math:`i` (see the
    module's docstring); :math:`\kappa / \sqrt{N}` under
    :func:`~parsl_quantum.q_dreamer.precision.allocate_shots`."""
    return math.sqrt(sum(float(c) ** 2 / n for (c, _), n in zip(coefficients, shots, strict=True)))
