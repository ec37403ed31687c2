r"""Shots for a cut circuit: how many in total for a precision, and how to spread them.

A reconstructed value is :math:`\hat v = \sum_i c_i \hat e_i`, each :math:`\hat e_i` a product of means of
:math:`\pm 1` outcomes of subexperiment :math:`i` (variance at most :math:`1/n_i` with :math:`n_i` shots).
Its variance is at most :math:`\sum_i c_i^2 / n_i`; under :math:`\sum_i n_i = N` this is smallest for
:math:`n_i = N |c_i| / \kappa` with :math:`\kappa = \sum_i |c_i|`, where it equals :math:`\kappa^2 / N`.
Uniform shares :math:`n_i = N / M` give :math:`M \sum_i c_i^2 / N`, never less (Cauchy-Schwarz), and
more when the magnitudes differ. Hence :math:`N = \lceil \kappa^2 / \epsilon^2 \rceil` shots per
subsystem reach a standard error :math:`\epsilon`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any


def shots_for_precision(kappa: float, precision: float) -> int:
    """Total shots per subsystem for a standard error of at most ``precision``."""
    if not math.isfinite(precision) or precision <= 0:
        raise ValueError(f"precision must be finite and above 0, got {precision}")
    return max(1, math.ceil((kappa / precision) ** 2))


def allocate_shots(coefficients: Sequence[tuple[float, object]], total: int, minimum: int = 16) -> list[int]:
    """Shots for each subexperiment index, proportional to ``|coefficient|``, at least ``minimum``.

    Parameters
    ----------
    coefficients
        ``(coefficient, weight type)`` pairs, one per subexperiment index.
    total
        Shots to spread (per subsystem).
    minimum
        Fewest shots any subexperiment gets (a share of 0 would leave its term unestimated).
    """
    magnitudes = [abs(float(c)) for c, _ in coefficients]
    kappa = sum(magnitudes) or 1.0
    return [max(minimum, round(total * m / kappa)) for m in magnitudes]


def check_target(precision: Any, shots: Any) -> None:
    """Raise ``ValueError`` unless at most one of ``precision`` and ``shots`` is given, ``precision`` is a
    finite number above zero and ``shots`` a positive integer."""
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
