"""``pauli_expectations`` against Qiskit's ``sampled_expectation_value`` on random counts: registers of
up to 64 bits (read as unsigned 64-bit integers), wider ones (Python integers), and keys whose basis
register is followed by other registers."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.result import sampled_expectation_value

from parsl_quantum.circuits.estimation import pauli_expectations


def _counts(rng: np.random.Generator, bits: int, outcomes: int) -> dict[str, int]:
    keys = {"".join(rng.choice(["0", "1"], size=bits)) for _ in range(outcomes)}
    return {key: int(rng.integers(1, 20)) for key in keys}


def _labels(rng: np.random.Generator, bits: int) -> list[str]:
    return ["".join(rng.choice(list("IZ"), size=bits)) for _ in range(4)] + ["Z" * bits]


@pytest.mark.parametrize("bits", [1, 5, 16, 64, 70])
def test_means_and_errors_as_qiskit_and_the_binomial_give_them(bits):
    rng = np.random.default_rng(bits)
    counts = _counts(rng, bits, 300)
    shots = sum(counts.values())
    got = pauli_expectations(counts, _labels(rng, bits))
    for label, (mean, error) in got.items():
        assert mean == pytest.approx(sampled_expectation_value(counts, label), abs=1e-12)
        assert error == pytest.approx(np.sqrt((1 - mean**2) / shots), abs=1e-12)


def test_only_the_first_register_is_read():
    rng = np.random.default_rng(7)
    counts = _counts(rng, 12, 200)
    labels = _labels(rng, 12)
    with_more = {f"{key} {i % 4:02b}": n for i, (key, n) in enumerate(counts.items())}
    assert pauli_expectations(with_more, labels) == pauli_expectations(counts, labels)
