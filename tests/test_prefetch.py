"""Adaptive prefetch: enough queued work per worker to hide the round trip, and no more."""

from __future__ import annotations

import pytest

from parsl_quantum.executors.running_pilot import MAX_PREFETCH, PREFETCH_HORIZON_S, Pilot
from parsl_quantum.providers import PilotDescription


def pilot(prefetch=None, mean=None, fixed=None):
    desc = PilotDescription(name="p", kind="cpu", backend="aer", workers=2, prefetch=fixed)
    p = Pilot(desc, "q", prefetch, lambda: 0, lambda: mean)
    p.capacity = 2
    return p


@pytest.mark.parametrize(
    ("mean", "expected"),
    [
        (None, 1),  # nothing observed yet: one task ahead
        (5.0, 1),  # long tasks: late binding keeps the rest free for any pilot
        (PREFETCH_HORIZON_S, 1),
        (PREFETCH_HORIZON_S / 3, 3),
        (1e-5, MAX_PREFETCH),  # no-op tasks: the most a worker pool is given
    ],
)
def test_adaptive_prefetch_follows_runtime(mean, expected):
    p = pilot(mean=mean)
    assert p.prefetch_now() == expected
    assert p.limit == 2 * (1 + expected)


def test_fixed_prefetch_wins_over_adaptation():
    assert pilot(prefetch=3, mean=1e-5).prefetch_now() == 3
    assert pilot(prefetch=3, mean=1e-5, fixed=0).prefetch_now() == 0  # the description's own setting


def test_worker_pool_can_hold_what_adaptation_hands_it():
    assert pilot().htex.prefetch_capacity == MAX_PREFETCH * 2
    assert pilot(prefetch=1).htex.prefetch_capacity == 2


def test_pilot_takes_work_in_batches_but_never_lets_a_worker_idle():
    p = pilot(prefetch=4)
    p.state = p.state.ACTIVE
    p.info = {"qubits": 30}  # what its workers reported
    p.in_flight = {i: None for i in range(10)}  # limit 10: full
    assert not p.wants_work
    p.in_flight = {i: None for i in range(7)}  # 3 free, fewer than half of the 8 prefetch slots
    assert not p.wants_work
    p.in_flight = {i: None for i in range(6)}  # 4 free: a batch
    assert p.wants_work
    p.in_flight = {0: None}  # a worker would idle
    assert p.wants_work
