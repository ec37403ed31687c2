"""The runtime estimator: exponentially weighted means per signature and pilot, and where priors fit in."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsl_quantum.executors.durations import RuntimeEstimator, SignatureInfo, signature_of

SAMPLE = signature_of("sample", 5, 1000)
OTHER = signature_of("estimate", 5, None)


def test_a_signature_groups_function_qubits_and_shots():
    assert SAMPLE == SignatureInfo("sample/5/1000", "sample", 5, 1000)
    assert OTHER.signature == "estimate/5/None"


def test_nothing_is_known_before_anything_is_observed():
    estimator = RuntimeEstimator()
    assert estimator.predict(SAMPLE, "cpu") is None
    assert estimator.pilot_mean("cpu") is None


def test_the_first_observation_is_the_mean_and_later_ones_are_blended_by_alpha():
    estimator = RuntimeEstimator(alpha=0.5)
    estimator.observe(SAMPLE, "cpu", 2.0)
    assert estimator.predict(SAMPLE, "cpu") == 2.0
    estimator.observe(SAMPLE, "cpu", 4.0)
    assert estimator.predict(SAMPLE, "cpu") == 3.0
    estimator.observe(SAMPLE, "cpu", 7.0)
    assert estimator.predict(SAMPLE, "cpu") == 5.0
    last = RuntimeEstimator(alpha=1.0)
    for seconds in (9.0, 1.0, 4.0):
        last.observe(SAMPLE, "cpu", seconds)
    assert last.predict(SAMPLE, "cpu") == 4.0


def test_means_are_kept_per_signature_and_pilot_and_per_pilot_over_signatures():
    estimator = RuntimeEstimator(alpha=0.25)
    estimator.observe(SAMPLE, "cpu", 4.0)
    estimator.observe(OTHER, "cpu", 8.0)
    estimator.observe(SAMPLE, "gpu", 1.0)
    assert estimator.predict(SAMPLE, "cpu") == 4.0
    assert estimator.predict(OTHER, "cpu") == 8.0
    assert estimator.predict(SAMPLE, "gpu") == 1.0
    assert estimator.pilot_mean("cpu") == 0.75 * 4.0 + 0.25 * 8.0
    assert estimator.pilot_mean("gpu") == 1.0
    # a signature never seen on a pilot: that pilot's mean over everything it ran
    assert estimator.predict(OTHER, "gpu") == 1.0
    assert estimator.predict(OTHER, "qpu") is None


def test_observations_come_first_then_the_prior_then_the_pilots_mean():
    asked = []

    def prior(info, pilot):
        asked.append((info.signature, pilot))
        return 0.5 if pilot == "cpu" else None

    estimator = RuntimeEstimator(prior=prior)
    assert estimator.predict(SAMPLE, "cpu") == 0.5
    estimator.observe(OTHER, "cpu", 9.0)
    estimator.observe(OTHER, "gpu", 3.0)
    assert estimator.predict(SAMPLE, "cpu") == 0.5  # the prior, not the mean of other signatures
    assert estimator.predict(SAMPLE, "gpu") == 3.0  # no prior for gpu: its mean
    estimator.observe(SAMPLE, "cpu", 2.0)
    assert estimator.predict(SAMPLE, "cpu") == 2.0  # observed: the prior is no longer asked
    assert asked == [("sample/5/1000", "cpu"), ("sample/5/1000", "cpu"), ("sample/5/1000", "gpu")]


@settings(max_examples=80, deadline=None)
@given(
    alpha=st.floats(0.01, 1.0),
    seconds=st.lists(st.floats(0.0, 1e4, allow_nan=False), min_size=1, max_size=20),
)
def test_a_mean_stays_within_what_was_observed(alpha, seconds):
    estimator = RuntimeEstimator(alpha=alpha)
    for s in seconds:
        estimator.observe(SAMPLE, "cpu", s)
    predicted = estimator.predict(SAMPLE, "cpu")
    assert min(seconds) - 1e-9 <= predicted <= max(seconds) + 1e-9
    assert estimator.pilot_mean("cpu") == pytest.approx(predicted)
