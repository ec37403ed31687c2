r"""``Distribution``: the quasi-probability distribution of a cut circuit's measured bits.

Cutting a circuit trades it for subexperiments whose outcomes combine with signed weights, so the
reconstructed "probabilities" :math:`\hat p(x)` are *quasi*-probabilities: unbiased estimates of the
circuit's true :math:`p(x)`, summing to about 1, a few of them slightly negative where the true value is
small. A :class:`Distribution` holds them sparsely, over the bit strings seen, each with its standard
error (batch means, as for expectation values), and offers what sampling algorithms need from them: the
closest true probability distribution (:meth:`Distribution.nearest_probability`), the most likely bit
strings (:meth:`Distribution.most_likely`), marginals, and the expectation of diagonal observables with
their standard errors.

Bit strings are written as Qiskit writes counts: bit 0 rightmost. Bit ``k`` is the circuit's classical
bit ``k`` (qubit ``k`` when the circuit has no measurements and every qubit counts).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np


class Distribution(Mapping[str, float]):
    r"""Quasi-probabilities of bit strings, with standard errors (a read-only mapping bit string -> value).

    Parameters
    ----------
    num_bits
        Width of the bit strings.
    outcomes
        The bit strings seen, as integers (bit 0 the least significant).
    estimates
        Their quasi-probabilities, estimated from all shots.
    batch_estimates
        ``(B, len(outcomes))``: the same estimated from each of ``B`` random equal parts of every
        subexperiment's shots (their spread gives the standard errors); ``None`` or zero rows: exact, no
        standard errors (zeros).
    shots
        Shots spent, over all subexperiments.

    Attributes
    ----------
    num_bits, shots
        As given.
    outcomes, estimates, batch_estimates
        As given, as arrays (sorted by outcome).
    batches
        ``B``, the parts behind the standard errors.
    """

    def __init__(
        self,
        num_bits: int,
        outcomes: Sequence[int] | np.ndarray,
        estimates: Sequence[float] | np.ndarray,
        batch_estimates: np.ndarray | None = None,
        shots: int = 0,
    ) -> None:
        if not 0 <= num_bits <= 63:
            raise ValueError(f"a distribution of {num_bits} bits: between 0 and 63 bits are supported")
        outcomes = np.asarray(outcomes, dtype=np.uint64).reshape(-1)
        estimates = np.asarray(estimates, dtype=float).reshape(-1)
        if len(outcomes) != len(estimates):
            raise ValueError(f"{len(outcomes)} outcomes for {len(estimates)} estimates")
        if batch_estimates is None:
            batch_estimates = np.zeros((0, len(estimates)))
        batch_estimates = np.asarray(batch_estimates, dtype=float).reshape(-1, len(estimates))
        if len(outcomes) and int(outcomes.max()) >> num_bits:
            raise ValueError(f"an outcome wider than {num_bits} bits")
        order = np.argsort(outcomes, kind="stable")
        if len(np.unique(outcomes)) != len(outcomes):
            raise ValueError("outcomes must be distinct")
        self.num_bits = int(num_bits)
        self.outcomes = outcomes[order]
        self.estimates = estimates[order]
        self.batch_estimates = batch_estimates[:, order]
        self.shots = int(shots)
        self._index = {int(o): i for i, o in enumerate(self.outcomes)}

    # -- the mapping -------------------------------------------------------------------------------------

    def key(self, outcome: int) -> str:
        """The bit string of an outcome integer (bit 0 rightmost)."""
        return format(int(outcome), f"0{self.num_bits}b") if self.num_bits else ""

    def _outcome(self, key: str | int) -> int:
        if isinstance(key, str):
            bits = key.replace(" ", "")
            if len(bits) != self.num_bits or set(bits) - {"0", "1"}:
                raise KeyError(key)
            return int(bits, 2) if bits else 0
        return int(key)

    def __getitem__(self, key: str | int) -> float:
        """The quasi-probability of a bit string (or outcome integer); 0 for one never seen."""
        index = self._index.get(self._outcome(key))
        return 0.0 if index is None else float(self.estimates[index])

    def __contains__(self, key: object) -> bool:
        try:
            return self._outcome(key) in self._index  # type: ignore[arg-type]
        except (KeyError, ValueError, TypeError):
            return False

    def __iter__(self) -> Iterator[str]:
        return (self.key(o) for o in self.outcomes)

    def __len__(self) -> int:
        return len(self.outcomes)

    # -- what was estimated ------------------------------------------------------------------------------

    @property
    def batches(self) -> int:
        """Parts of the shots behind the standard errors (0: exact)."""
        return int(self.batch_estimates.shape[0])

    @property
    def quasi_probabilities(self) -> dict[str, float]:
        """``{bit string: quasi-probability}`` over the bit strings seen."""
        return {self.key(o): float(v) for o, v in zip(self.outcomes, self.estimates, strict=True)}

    @property
    def stderr(self) -> dict[str, float]:
        """``{bit string: standard error}`` of each quasi-probability (batch means)."""
        return {self.key(o): float(s) for o, s in zip(self.outcomes, self.stderrs, strict=True)}

    @cached_property
    def stderrs(self) -> np.ndarray:
        r"""The standard errors as an array, aligned with :attr:`outcomes`: the spread of the ``B``
        parts' estimates over :math:`\sqrt{B}` (zeros when exact)."""
        return _batch_stderr(self.batch_estimates)

    @property
    def max_stderr(self) -> float:
        """The largest standard error over the bit strings seen: what a ``precision`` target bounds."""
        errors = self.stderrs
        return float(errors.max()) if len(errors) else 0.0

    @property
    def total(self) -> float:
        """The sum of the quasi-probabilities (1 up to statistical error)."""
        return float(self.estimates.sum())

    @property
    def negativity(self) -> float:
        """The total negative quasi-probability (0 for a true probability distribution)."""
        return float(-self.estimates[self.estimates < 0].sum())

    # -- what users ask of it ----------------------------------------------------------------------------

    def nearest_probability(self) -> dict[str, float]:
        r"""The closest true probability distribution to these quasi-probabilities, in the 2-norm.

        The Euclidean projection onto the probability simplex over the bit strings seen: every value
        shifted by one constant :math:`\theta` and clipped at zero, with :math:`\theta` chosen so that
        the result sums to 1 (Smolin, Gambetta and Smith, PRL 108, 070502 (2012), whose algorithm is this
        one when the quasi-probabilities already sum to 1). Bit strings that end at zero are left out.

        Returns
        -------
        dict
            ``{bit string: probability}``, probabilities summing to 1.
        """
        if not len(self.estimates):
            return {}
        probabilities = simplex_projection(self.estimates)
        return {self.key(o): float(p) for o, p in zip(self.outcomes, probabilities, strict=True) if p > 0}

    def most_likely(self, k: int = 1) -> list[tuple[str, float]]:
        """The ``k`` bit strings of largest quasi-probability, most likely first.

        Parameters
        ----------
        k
            How many (fewer when fewer were seen).

        Returns
        -------
        list of (str, float)
            ``(bit string, quasi-probability)`` pairs. The order is that of :meth:`nearest_probability`
            too (a shift and a clip keep it).
        """
        if k < 0:
            raise ValueError(f"k must be at least 0, got {k}")
        order = np.lexsort((self.outcomes, -self.estimates))[:k]
        return [(self.key(self.outcomes[i]), float(self.estimates[i])) for i in order]

    def marginal(self, bits: Sequence[int]) -> Distribution:
        """The distribution of some of the bits, the others summed over.

        Parameters
        ----------
        bits
            Positions of the bits kept (bit 0 the rightmost); bit ``j`` of the marginal is ``bits[j]``.

        Returns
        -------
        Distribution
            Over ``len(bits)`` bits, with standard errors from the same batches.
        """
        bits = [int(b) for b in bits]
        if len(set(bits)) != len(bits) or any(not 0 <= b < self.num_bits for b in bits):
            raise ValueError(f"bits must be distinct positions below {self.num_bits}, got {bits}")
        reduced = np.zeros(len(self.outcomes), dtype=np.uint64)
        for j, b in enumerate(bits):
            reduced |= ((self.outcomes >> np.uint64(b)) & np.uint64(1)) << np.uint64(j)
        kept, inverse = np.unique(reduced, return_inverse=True)
        values = np.bincount(inverse, weights=self.estimates, minlength=len(kept))
        batch_estimates = np.array(
            [np.bincount(inverse, weights=row, minlength=len(kept)) for row in self.batch_estimates]
        ).reshape(self.batches, len(kept))
        return Distribution(len(bits), kept, values, batch_estimates, self.shots)

    def expectation(self, observable: Any) -> float:
        """The expectation value of a diagonal observable: a Pauli string of ``I`` and ``Z``, or a
        ``SparsePauliOp`` of such terms, over the :attr:`num_bits` bits (qubit ``k`` of the observable
        is bit ``k``)."""
        return float(self._expectations(observable)[0])

    def expectation_stderr(self, observable: Any) -> float:
        """The standard error of :meth:`expectation` (batch means over the same parts)."""
        values = self._expectations(observable)[1:]
        return float(_batch_stderr(values[:, None])[0]) if len(values) > 1 else 0.0

    def _expectations(self, observable: Any) -> np.ndarray:
        """The observable's value from all shots, then from each batch."""
        signs = np.zeros(len(self.outcomes))
        for mask, coefficient in diagonal_terms(observable, self.num_bits):
            parity = np.bitwise_count(self.outcomes & np.uint64(mask)).astype(np.int64) & 1
            signs += coefficient * (1 - 2 * parity)
        return np.concatenate([[self.estimates @ signs], self.batch_estimates @ signs])

    def total_variation_distance(self, other: Mapping[str, float]) -> float:
        """Half the 1-norm of the difference with another distribution (keys as bit strings), the
        quasi-probabilities as they are (negative ones included)."""
        mine = self.quasi_probabilities
        keys = set(mine) | {k.replace(" ", "") for k in other}
        theirs = {k.replace(" ", ""): float(v) for k, v in other.items()}
        return 0.5 * sum(abs(mine.get(k, 0.0) - theirs.get(k, 0.0)) for k in keys)

    def __repr__(self) -> str:
        top = self.most_likely(1)
        best = ""
        if top:
            key, value = top[0]
            error = float(self.stderrs[self._index[self._outcome(key)]])
            best = f", most likely {key!r}: {value:.4g}" + (f" +- {error:.2g}" if self.batches else "")
        return (
            f"Distribution({self.num_bits} bits, {len(self)} bit strings seen, shots={self.shots}, "
            f"max stderr {self.max_stderr:.3g}{best})"
        )


def _batch_stderr(batch_estimates: np.ndarray) -> np.ndarray:
    """Batch means: the spread of the ``B`` rows over ``sqrt(B)`` (zeros for fewer than two rows)."""
    batches = batch_estimates.shape[0]
    if batches < 2:
        return np.zeros(batch_estimates.shape[1:])
    return batch_estimates.std(axis=0, ddof=1) / np.sqrt(batches)


def simplex_projection(values: np.ndarray) -> np.ndarray:
    r"""The Euclidean projection of a real vector onto the probability simplex.

    :math:`\max(v_i - \theta, 0)` with the one :math:`\theta` that makes the entries sum to 1: sorted
    descending, :math:`\theta` is :math:`(\sum_{i \le \rho} v_i - 1) / \rho` for the largest :math:`\rho`
    whose entry stays positive. Applied to quasi-probabilities that sum to 1 it is Smolin, Gambetta and
    Smith's maximum-likelihood estimate: the negative mass is removed from the smallest entries upwards
    and what is left is spread evenly over the rest.
    """
    values = np.asarray(values, dtype=float)
    ordered = np.sort(values)[::-1]
    running = np.cumsum(ordered) - 1.0
    ranks = np.arange(1, len(values) + 1)
    rho = int(np.nonzero(ordered - running / ranks > 0)[0][-1]) + 1
    theta = running[rho - 1] / rho
    return np.maximum(values - theta, 0.0)


def diagonal_terms(observable: Any, num_bits: int) -> list[tuple[int, float]]:
    """A diagonal observable as ``(Z mask, real coefficient)`` pairs.

    Parameters
    ----------
    observable
        A Pauli string of ``I`` and ``Z`` (Qiskit order: qubit 0 rightmost) or a ``SparsePauliOp`` whose
        terms are such strings, on ``num_bits`` qubits.
    num_bits
        Width of the distribution's bit strings.

    Raises
    ------
    ValueError
        For a term with ``X`` or ``Y``, or the wrong width.
    """
    from qiskit.quantum_info import SparsePauliOp

    op = SparsePauliOp(observable) if isinstance(observable, str) else observable
    if op.num_qubits != num_bits:
        raise ValueError(f"an observable on {op.num_qubits} qubits for a distribution of {num_bits} bits")
    terms = []
    for label, coefficient in zip(op.paulis.to_labels(), op.coeffs, strict=True):
        if set(label) - {"I", "Z"}:
            raise ValueError(f"{label!r} is not diagonal: a distribution gives only I and Z terms")
        mask = int("".join("1" if c == "Z" else "0" for c in label), 2) if label else 0
        terms.append((mask, float(np.real(coefficient))))
    return terms
