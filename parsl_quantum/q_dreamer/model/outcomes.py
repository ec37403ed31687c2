"""Distinct outcomes: how many different bit strings a number of samples shows, which sets what
processing and reconstruction cost."""

from __future__ import annotations

import math


def seen_outcomes(support: float, samples: float) -> float:
    """Expected distinct outcomes among ``samples`` draws from ``support`` equally likely outcomes."""
    return support * (1.0 - math.exp(-samples / support))


def batch_outcomes(outcomes: float, shots: int, batches: int) -> float:
    """Expected distinct outcomes in one of ``batches`` equal parts of ``shots`` samples that showed
    ``outcomes`` distinct outcomes (as if those were equally likely)."""
    if outcomes <= 0 or shots <= 0:
        return 0.0
    return seen_outcomes(outcomes, shots / batches)


def distinct_outcomes(bits: int, shots: int) -> float:
    """Expected number of distinct bit strings in ``shots`` samples of ``bits`` bits (uniform bound)."""
    space = 2.0**bits
    if space > 1e12:
        return float(shots)
    return space * (1 - (1 - 1 / space) ** shots)
