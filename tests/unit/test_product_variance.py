"""The variance of a cut reconstruction from the counts: unbiased, checked by exact enumeration."""

from __future__ import annotations

import itertools

import numpy as np
from scipy.stats import binom

from parsl_quantum.q_dreamer.planning.reconstruct import product_variance


def test_the_estimate_is_unbiased_for_products_of_independent_means():
    """Two QPD coefficients, each the product of two subsystems' means of N = 5 shots of +-1: averaged over
    every outcome of the 20 shots, weighted by its probability, the estimate is the exact variance."""
    shots, weights = 5, np.array([0.75, -1.25])
    plus = {("a", 0): 0.8, ("b", 0): 0.35, ("a", 1): 0.6, ("b", 1): 0.1}  # P(+1) per subsystem, coefficient
    mean = {key: 2 * p - 1 for key, p in plus.items()}
    second = {key: m**2 + (1 - m**2) / shots for key, m in mean.items()}  # E[X^2] of one mean
    exact = sum(
        w**2 * (second[("a", i)] * second[("b", i)] - (mean[("a", i)] * mean[("b", i)]) ** 2)
        for i, w in enumerate(weights)
    )
    keys = list(plus)
    expected = 0.0
    for ks in itertools.product(range(shots + 1), repeat=len(keys)):
        probability = np.prod([binom.pmf(k, shots, plus[key]) for k, key in zip(ks, keys, strict=True)])
        m = {key: (2 * k - shots) / shots for k, key in zip(ks, keys, strict=True)}
        means = {label: np.array([[m[(label, 0)]], [m[(label, 1)]]]) for label in "ab"}
        covariances = {
            label: np.array([[[(1 - m[(label, i)] ** 2) / (shots - 1)]] for i in range(2)]) for label in "ab"
        }
        expected += probability * product_variance(means, covariances, weights)[0, 0]
    assert abs(expected - exact) < 1e-12, (expected, exact)


def test_terms_covary_through_shared_subsystems():
    """Two terms whose factors in one subsystem are the same estimate: their covariance is that factor's
    variance times the other factors' means; a zero weight adds nothing."""
    means = {"a": np.array([[0.5, 0.5]]), "b": np.array([[0.4, -0.2]])}
    covariances = {"a": np.array([[[0.01, 0.01], [0.01, 0.01]]]), "b": np.zeros((1, 2, 2))}
    covariance = product_variance(means, covariances, np.array([2.0]))
    assert np.allclose(covariance, 4 * 0.01 * np.outer([0.4, -0.2], [0.4, -0.2]))
    assert np.all(product_variance(means, covariances, np.array([0.0])) == 0.0)
