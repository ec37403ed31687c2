"""The fault model's pure parts: which class of fault an attempt's end is, and the two counters that
decide when a pilot is degraded (:class:`CircuitBreaker`) and when it gives up (:class:`RestartBudget`)."""

from __future__ import annotations

import itertools
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parsl.app.errors import RemoteExceptionWrapper
from parsl.executors.errors import BadStateException
from parsl.executors.high_throughput.errors import ManagerLost, WorkerLost

from parsl_quantum.errors import BackendError, TooManyQubitsError
from parsl_quantum.executors.faults import (
    CircuitBreaker,
    DeviceBuildError,
    DeviceConfigError,
    Fault,
    RestartBudget,
    classify_error_type,
    classify_exception,
    classify_outcome,
)


class JobFailed(BackendError):
    """A backend's own error, as a device adapter would raise it."""


# -- classification ------------------------------------------------------------------------------------

BY_TYPE = [
    (DeviceBuildError, Fault.PILOT),
    (DeviceConfigError, Fault.PILOT),  # a BackendError, but the pilot's: checked first
    (BackendError, Fault.BACKEND),
    (JobFailed, Fault.BACKEND),
    (ConnectionError, Fault.BACKEND),
    (ConnectionResetError, Fault.BACKEND),
    (TimeoutError, Fault.BACKEND),
    (socket.timeout, Fault.BACKEND),
    (TooManyQubitsError, Fault.USER),  # the circuit is the caller's
    (ValueError, Fault.USER),
    (ZeroDivisionError, Fault.USER),
]


@pytest.mark.parametrize(("error_type", "fault"), BY_TYPE)
def test_the_type_of_what_the_function_raised_decides_its_class(error_type, fault):
    assert classify_error_type(error_type) is fault
    assert classify_outcome(RemoteExceptionWrapper(error_type, error_type("x"), None)) is fault


@pytest.mark.parametrize(
    ("exc", "fault"),
    [
        (WorkerLost(3, "node1"), Fault.TASK),
        (ManagerLost(b"abc", "node1"), Fault.PILOT),
        (BadStateException(None, RuntimeError("interchange gone")), Fault.PILOT),
        *((error_type("x"), fault) for error_type, fault in BY_TYPE),
    ],
)
def test_what_the_pilots_executor_raised_is_classified_by_what_died(exc, fault):
    assert classify_exception(exc) is fault


@pytest.mark.parametrize("value", [{"00": 10}, 0.5, None, ValueError("returned, not raised")])
def test_a_value_the_worker_sent_that_is_not_a_wrapped_exception_is_a_result(value):
    assert classify_outcome(value) is None


def test_faults_read_as_the_design_names_them():
    assert [str(f) for f in Fault] == ["user error", "task fault", "backend error", "pilot fault"]


# -- circuit breaker ---------------------------------------------------------------------------------


def test_the_breaker_opens_on_every_threshold_th_consecutive_error_with_doubling_backoff():
    breaker = CircuitBreaker(threshold=2, base_s=5.0, max_s=12.0)
    opened = [breaker.record_error(float(t)) for t in range(8)]
    assert opened == [False, True] * 4
    # openings at t = 1, 3, 5, 7, for 5, 10, then 12 (the cap) seconds
    assert breaker.openings == 4 and breaker.open_until == 7.0 + 12.0
    assert breaker.is_open(18.999) and not breaker.is_open(19.0)


def test_a_success_closes_the_count_and_the_backoff():
    breaker = CircuitBreaker(threshold=2, base_s=5.0, max_s=100.0)
    for t in range(4):
        breaker.record_error(float(t))
    assert breaker.open_until == 3.0 + 10.0
    breaker.record_error(20.0)
    breaker.record_success()
    assert (breaker.consecutive, breaker.openings) == (0, 0)
    assert not breaker.record_error(21.0)  # the error before the success no longer counts
    assert breaker.record_error(22.0) and breaker.open_until == 22.0 + 5.0


def test_a_threshold_of_one_opens_on_every_error():
    breaker = CircuitBreaker(threshold=1, base_s=1.0, max_s=3.0)
    assert [breaker.record_error(0.0) for _ in range(3)] == [True, True, True]
    assert breaker.open_until == 3.0


@settings(max_examples=100, deadline=None)
@given(threshold=st.integers(1, 4), events=st.lists(st.booleans(), max_size=40))
def test_openings_are_the_runs_of_errors_between_successes_divided_by_the_threshold(threshold, events):
    breaker = CircuitBreaker(threshold=threshold, base_s=1.0, max_s=8.0)
    opened = 0
    for t, error in enumerate(events):
        if error:
            opened += breaker.record_error(float(t))
        else:
            breaker.record_success()
    runs = [len(list(group)) for error, group in itertools.groupby(events) if error]
    assert opened == sum(run // threshold for run in runs)


# -- restart budget -------------------------------------------------------------------------------------


def test_the_wait_before_a_restart_doubles_with_each_restart_in_the_window_up_to_a_cap():
    budget = RestartBudget(max_restarts=10, window_s=100.0, base_s=1.0, max_s=5.0)
    delays = []
    for t in range(5):
        delays.append(budget.next_delay(float(t)))
        budget.spend(float(t))
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert budget.next_delay(103.5) == 2.0  # the restart at 4 s is the window's only one
    assert budget.next_delay(104.5) == 1.0


def test_a_restart_leaves_the_window_only_once_it_is_older_than_the_window():
    budget = RestartBudget(max_restarts=2, window_s=10.0)
    budget.spend(0.0)
    budget.spend(4.0)
    assert budget.exhausted(10.0)  # exactly the window's age: still counted
    assert not budget.exhausted(10.5)
    assert budget.exhausted(14.0) is False
    budget.spend(14.0)
    assert budget.exhausted(14.0)


@settings(max_examples=100, deadline=None)
@given(
    max_restarts=st.integers(1, 4),
    window_s=st.floats(1.0, 50.0),
    gaps=st.lists(st.floats(0.0, 20.0), max_size=40),
)
def test_a_budget_never_allows_more_than_max_restarts_within_any_window(max_restarts, window_s, gaps):
    budget = RestartBudget(max_restarts=max_restarts, window_s=window_s)
    now, spent, refused = 0.0, [], 0
    for gap in gaps:
        now += gap
        if budget.exhausted(now):
            refused += 1
        else:
            assert budget.next_delay(now) <= budget.max_s
            budget.spend(now)
            spent.append(now)
    for start in spent:
        # measured as the budget measures age (now - t), so that round-off cannot tell them apart
        assert sum(0.0 <= t - start <= window_s for t in spent) <= max_restarts
    # and it gives up only after a window of restarts
    assert refused == 0 or len(spent) >= max_restarts
