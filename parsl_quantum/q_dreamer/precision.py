r"""Precision: the standard error a run must reach, and the shots that reach it, whole or cut.

Both roads that run a circuit, the ``circuit_cutting`` motif and Q-Dreamer's planner, size their shots
here, so ``precision=`` and ``shots=`` mean the same on each.

**The target.** ``precision`` is the standard error :math:`\epsilon` every expectation value must reach.
``shots`` is another way of saying :math:`\epsilon`: the standard error that running the circuit whole,
uncut, with ``shots`` shots per measurement basis would have (:func:`target_of`). A cut run spends as
many shots as it needs to reach that same :math:`\epsilon`; it reports them in its own ``shots``.

**Running whole.** An observable :math:`O = \sum_j a_j P_j` (Pauli terms :math:`P_j`, identity aside) is
measured in a few bases, each holding qubit-wise commuting terms. A basis :math:`b` sampled :math:`s` times
estimates its part :math:`O_b = \sum_{j \in b} a_j P_j` with variance at most
:math:`(\sum_{j \in b} |a_j|)^2 / s` (a sum of :math:`\pm 1` outcomes, each weighted by :math:`|a_j|`);
the bases are independent, so the standard error is at most
:math:`\sqrt{\sum_b (\sum_{j \in b} |a_j|)^2 / s}` (:func:`whole_stderr`).

**Cut.** A reconstructed Pauli term is :math:`\hat v = \sum_i c_i \hat e_i`, each :math:`\hat e_i` a
product of means of :math:`\pm 1` outcomes of subexperiment :math:`i` (variance at most :math:`1/n_i` with
:math:`n_i` shots). Its variance is at most :math:`\sum_i c_i^2 / n_i`; under :math:`\sum_i n_i = N` this
is smallest for :math:`n_i = N |c_i| / \kappa` with :math:`\kappa = \sum_i |c_i|` (:func:`allocate_shots`),
where it equals :math:`\kappa^2 / N`. Uniform shares :math:`n_i = N / M` give :math:`M \sum_i c_i^2 / N`,
never less (Cauchy-Schwarz), and more when the magnitudes differ. An observable weights its terms by
:math:`a_j`, whose errors may add up in the worst case: its standard error is at most
:math:`\kappa \|O\|_1 / \sqrt{N}` with :math:`\|O\|_1 = \sum_j |a_j|` (:func:`l1_norm`,
:func:`cut_stderr`), and :math:`N = \lceil (\kappa \|O\|_1 / \epsilon)^2 \rceil` shots per subsystem
reach :math:`\epsilon` (:func:`cut_shots`).

Both bounds take every term's outcomes at their worst (expectation 0, errors adding up): a measured
standard error is at most the target, and often below it.

**Distributions.** For ``output="distribution"`` the target is the largest standard error over the bit
strings: every bit string counts, seen or not, since where the largest error falls is not known before
the run. Running whole, :math:`\hat p(x)` is a mean of 0/1 outcomes, of variance
:math:`p(x)(1 - p(x))/s \le 1/(4s)`: the standard error is at most :math:`1/(2\sqrt{s})`
(:func:`whole_stderr`). Cut, the circuit is cut with one observable :math:`Z_q` per measured qubit
(:math:`\|O\|_1 = 1`), and each reconstructed :math:`\hat p(x)` has variance at most
:math:`\sum_i c_i^2 / n_i` (:mod:`~parsl_quantum.q_dreamer.planning.reconstruct_distribution`), the bound
of one Pauli term: :func:`cut_stderr` and :func:`cut_shots` hold as they are, :math:`\kappa / \sqrt{N}`
and :math:`N = \lceil (\kappa / \epsilon)^2 \rceil`. A cut thus needs :math:`4 \kappa^2` times the
shots of a whole run for the same largest error.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from parsl_quantum.circuits.estimation import group_paulis

OUTPUTS = ("values", "distribution")
"""What a run gives: expectation values of observables, or the distribution of the measured bits."""

DEFAULT_SHOTS = 4096
"""Shots per measurement basis running whole whose standard error is the target when neither
``precision`` nor ``shots`` is given (the planner's default)."""


@dataclass(frozen=True)
class Target:
    """What every way of running a circuit must reach.

    Attributes
    ----------
    stderr
        The standard error every value must reach.
    whole_shots
        Shots per measurement basis that reach ``stderr`` running whole (or the ``shots`` asked for).
    output
        What the run gives (one of :data:`OUTPUTS`): for ``"distribution"``, ``stderr`` bounds every bit
        string's quasi-probability.
    """

    stderr: float
    whole_shots: int
    output: str = "values"


def check_target(precision: Any, shots: Any) -> None:
    """Raise ``ValueError`` unless the target is well formed.

    At most one of ``precision`` and ``shots`` may be given; ``precision`` must be a finite number above
    zero and ``shots`` a positive integer.
    """
    if precision is not None and shots is not None:
        raise ValueError(
            f"give shots or precision, not both (got shots={shots!r}, precision={precision!r}): "
            "every candidate is sized to one target standard error"
        )
    if precision is not None:
        if isinstance(precision, bool) or not isinstance(precision, numbers.Real):
            raise ValueError(f"precision must be a number, got {precision!r}")
        if not math.isfinite(precision) or precision <= 0:
            raise ValueError(f"precision must be finite and above 0, got {precision!r}")
    if shots is not None and (
        isinstance(shots, bool) or not isinstance(shots, numbers.Integral) or shots <= 0
    ):
        raise ValueError(f"shots must be a positive integer, got {shots!r}")


def check_output(output: Any) -> str:
    """``output`` if it is one of :data:`OUTPUTS`; else ``ValueError``."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    return output


def target_of(
    observables: Sequence[Any], precision: float | None, shots: int | None, output: str = "values"
) -> Target:
    r"""The target standard error of a run.

    Parameters
    ----------
    observables
        ``SparsePauliOp`` observables (for a distribution, one :math:`Z_q` per measured qubit).
    precision
        The standard error asked for; it is the target.
    shots
        Instead: shots per measurement basis running whole; the target is the standard error that
        reaches (:func:`whole_stderr`). Neither given: :data:`DEFAULT_SHOTS`.
    output
        ``"values"``, or ``"distribution"``: the target is then the largest standard error of a bit
        string's quasi-probability (:math:`1/(2\sqrt{shots})` for ``shots``).

    Returns
    -------
    Target
        The standard error, and the shots per basis that reach it whole. Observables of identities
        alone (no error) get :math:`1/\sqrt{shots}`.
    """
    check_output(output)
    if precision is not None:
        return Target(float(precision), whole_shots(observables, precision, output), output)
    shots = shots or DEFAULT_SHOTS
    stderr = whole_stderr(observables, shots, output)
    return Target(stderr if stderr > 0 else 1.0 / math.sqrt(shots), shots, output)


def pauli_magnitudes(observable: Any) -> list[tuple[str, float]]:
    """The non-identity Pauli terms of a ``SparsePauliOp`` as ``(label, |coefficient|)`` pairs."""
    pairs = zip(observable.paulis.to_labels(), observable.coeffs, strict=True)
    return [(label, float(abs(c))) for label, c in pairs if set(label) != {"I"}]


def l1_norm(observables: Sequence[Any]) -> float:
    r"""The largest :math:`\|O\|_1 = \sum_j |a_j|` over ``observables``, identity terms left out.

    Terms' errors add up at worst in proportion to their weights, so a cut estimate's standard error
    grows with it. Observables of identities alone give 1 (a value with no error needs no shots, but a
    run still takes some).
    """
    return max(sum(c for _, c in pauli_magnitudes(op)) for op in observables) or 1.0


def whole_stderr(observables: Sequence[Any], shots: int, output: str = "values") -> float:
    r"""Bound on the standard error of running whole with ``shots`` shots per measurement basis.

    The largest over ``observables`` of :math:`\sqrt{\sum_b (\sum_{j \in b} |a_j|)^2 / s}`, with :math:`b`
    the qubit-wise commuting groups (bases) of the observable's terms; for ``output="distribution"``,
    :math:`1/(2\sqrt{s})`, the largest standard error of a frequency.
    """
    if output == "distribution":
        return 0.5 / math.sqrt(shots)
    worst = 0.0
    for op in observables:
        terms = pauli_magnitudes(op)
        total = 0.0
        for group in group_paulis([op]):
            members = set(group.paulis)
            total += sum(c for label, c in terms if label in members) ** 2
        worst = max(worst, math.sqrt(total / shots))
    return worst


def whole_shots(observables: Sequence[Any], precision: float, output: str = "values") -> int:
    """Shots per measurement basis for a standard error of at most ``precision`` running whole."""
    return _shots_above((whole_stderr(observables, 1, output) / precision) ** 2)


def cut_stderr(kappa: float, observables: Sequence[Any], shots: int) -> float:
    r"""Bound on the standard error of a cut estimate: :math:`\kappa \|O\|_1 / \sqrt{N}`.

    Parameters
    ----------
    kappa
        The cut's sampling overhead root :math:`\kappa = \sum_i |c_i|` over its QPD coefficients.
    observables
        ``SparsePauliOp`` observables (the largest :func:`l1_norm` counts).
    shots
        :math:`N`, shots per subsystem, spread by :func:`allocate_shots`.
    """
    return kappa * l1_norm(observables) / math.sqrt(shots)


def cut_shots(kappa: float, observables: Sequence[Any], precision: float) -> int:
    r"""Shots per subsystem for a cut estimate's standard error of at most ``precision``:
    :math:`\lceil (\kappa \|O\|_1 / \epsilon)^2 \rceil` (the inverse of :func:`cut_stderr`)."""
    if not math.isfinite(precision) or precision <= 0:
        raise ValueError(f"precision must be finite and above 0, got {precision}")
    return _shots_above((kappa * l1_norm(observables) / precision) ** 2)


def _shots_above(shots: float) -> int:
    """The fewest whole shots, at least 1, not below ``shots``; within a part in 10^12 of an integer,
    that integer (``(3 / (1 / sqrt(1000)))**2`` is 9000.000000000002: round-off, not a shot more)."""
    nearest = round(shots)
    return max(1, nearest if math.isclose(shots, nearest, rel_tol=1e-12) else math.ceil(shots))


def allocate_shots(coefficients: Sequence[tuple[float, object]], total: int, minimum: int = 16) -> list[int]:
    r"""Shots for each subexperiment index: :math:`n_i = N |c_i| / \kappa`, at least ``minimum``.

    This share minimises the variance :math:`\sum_i c_i^2 / n_i` of a reconstructed term for
    :math:`N` shots, to :math:`\kappa^2 / N`.

    Parameters
    ----------
    coefficients
        ``(coefficient, weight type)`` pairs, one per subexperiment index.
    total
        :math:`N`, shots per subsystem (:func:`cut_shots`).
    minimum
        Fewest shots any subexperiment gets (a share of 0 would leave its term unestimated).
    """
    magnitudes = [abs(float(c)) for c, _ in coefficients]
    kappa = sum(magnitudes) or 1.0
    return [max(minimum, round(total * m / kappa)) for m in magnitudes]
