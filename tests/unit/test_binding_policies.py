"""Late binding and the placement policies as pure functions: pilots are plain values, tasks are the
executor's own :class:`QuantumTask`, and nothing runs."""

from __future__ import annotations

import pytest

from parsl_quantum.executors.binding import choose_bindings, pilot_loads
from parsl_quantum.executors.durations import RuntimeEstimator, signature_of
from parsl_quantum.executors.policies import (
    BestFidelity,
    EarliestFinish,
    LeastLoaded,
    PilotLoad,
    PlacementPolicy,
    RoundRobin,
    make_policy,
)
from tests.unit.helpers import PilotView, make_task, queue_of

INFO = signature_of("f", 0, None)


class Recording(PlacementPolicy):
    """A policy that asks ``inner`` (or binds nothing) and records what it was offered."""

    name = "recording"

    def __init__(self, inner: PlacementPolicy | None = None) -> None:
        self.inner = inner
        self.offered: list[list[str]] = []

    def choose(self, info, loads):
        self.offered.append(sorted(load.name for load in loads))
        return self.inner.choose(info, loads) if self.inner else None


def bound(bindings) -> list[tuple[int, str]]:
    return [(task.task_id, name) for task, name in bindings]


def load(name: str, held: int = 0, *, capacity: int = 1, limit: int = 2, fidelity: float = 1.0) -> PilotLoad:
    return PilotLoad(name, capacity, limit, held, fidelity)


# -- pilot loads -------------------------------------------------------------------------------------


def test_loads_of_pilots_that_accept_work_only():
    pilots = [
        PilotView.holding("a", 1, capacity=2, limit=3, fidelity=0.97),
        PilotView.holding("b", 1, capacity=2, limit=3, wants_work=False),
        PilotView("down", capacity=4, limit=5, accepting=False),
    ]
    loads = pilot_loads(pilots)
    assert loads == {
        "a": PilotLoad("a", 2, 3, 1, 0.97),
        # waiting for a batch: its limit is what it holds, so it counts as full
        "b": PilotLoad("b", 2, 1, 1, 1.0),
    }
    assert (loads["a"].free, loads["b"].free) == (2, 0)
    assert loads["a"].utilisation == 0.5


def test_utilisation_counts_reservations_and_never_divides_by_zero():
    assert PilotLoad("a", 2, 4, 1, 1.0, reserved=2).utilisation == 1.5
    assert PilotLoad("a", 0, 0, 3, 1.0).utilisation == 3.0


# -- one dispatch pass -------------------------------------------------------------------------------


def test_a_pass_binds_in_priority_order_while_slots_are_free_and_leaves_the_queue_alone():
    queue = queue_of(*(make_task(i, priority=i, eligible="ab") for i in range(5)))
    pilots = [PilotView.holding("a", 1), PilotView("b")]  # a: one slot free, b: two
    bindings = choose_bindings(queue, pilots, LeastLoaded())
    # 4 to b (idle); 3 to a (a and b both at one task per worker: by name); 2 to b; then all full
    assert bound(bindings) == [(4, "b"), (3, "a"), (2, "b")]
    assert len(queue) == 5


def test_nothing_is_bound_without_a_free_slot():
    queue = queue_of(make_task(0, eligible="ab"))
    pilots = [PilotView.holding("a", 2), PilotView("b", wants_work=False), PilotView("c", accepting=False)]
    policy = Recording(LeastLoaded())
    assert choose_bindings(queue, pilots, policy) == []
    assert policy.offered == []


def test_tasks_only_a_full_pilot_can_serve_are_skipped_at_no_cost():
    queue = queue_of(
        *(make_task(i, priority=9, eligible="a") for i in range(50)), make_task(50, eligible="b")
    )
    policy = Recording(LeastLoaded())
    assert bound(choose_bindings(queue, [PilotView.holding("a", 2), PilotView("b")], policy)) == [(50, "b")]
    assert policy.offered == [["b"]]


def test_the_policy_sees_only_eligible_pilots_that_are_up():
    queue = queue_of(make_task(0, eligible="abc"))
    policy = Recording()
    choose_bindings(queue, [PilotView("a"), PilotView("b", accepting=False), PilotView("d")], policy)
    assert policy.offered == [["a"]]


def test_pilots_a_task_should_avoid_are_offered_only_when_no_other_is_up():
    queue = queue_of(make_task(0, eligible="ab", avoid="a"), make_task(1, eligible="ac", avoid="a"))
    policy = Recording(LeastLoaded())
    bindings = choose_bindings(queue, [PilotView("a"), PilotView.holding("b", 1)], policy)
    # task 0 goes to b although a is less loaded; task 1's other pilot c is not up: a it is
    assert bound(bindings) == [(0, "b"), (1, "a")]
    assert policy.offered == [["b"], ["a"]]
    # a task that avoids every pilot still gets one
    queue = queue_of(make_task(2, eligible="ab", avoid="ab"))
    assert bound(choose_bindings(queue, [PilotView("a"), PilotView("b")], LeastLoaded())) == [(2, "a")]


def test_lookahead_is_bounded_by_twice_the_slots_of_pilots_that_are_up_plus_eight():
    queue = queue_of(*(make_task(i, eligible="abc") for i in range(100)))
    policy = Recording()  # leaves every task waiting
    pilots = [PilotView("a", limit=2), PilotView("b", limit=3), PilotView("c", limit=50, accepting=False)]
    assert choose_bindings(queue, pilots, policy) == []
    assert len(policy.offered) == 2 * (2 + 3) + 8


def test_a_pass_stops_once_every_slot_is_taken():
    queue = queue_of(*(make_task(i, eligible="ab") for i in range(100)))
    policy = Recording(RoundRobin())
    bindings = choose_bindings(queue, [PilotView("a", limit=2), PilotView.holding("b", 1, limit=3)], policy)
    assert bound(bindings) == [(0, "a"), (1, "b"), (2, "a"), (3, "b")]
    assert len(policy.offered) == 4


# -- policies ------------------------------------------------------------------------------------------


def test_round_robin_takes_the_next_free_pilot_by_name_and_wraps():
    policy = RoundRobin()
    loads = [load("c"), load("a"), load("b", held=2)]  # b is full
    assert [policy.choose(INFO, loads).name for _ in range(4)] == ["a", "c", "a", "c"]
    # the last pilot used is gone: the next name after it, else the first
    assert policy.choose(INFO, [load("b"), load("d")]).name == "d"
    assert policy.choose(INFO, [load("b")]).name == "b"
    assert policy.choose(INFO, [load("a", held=2)]) is None


def test_least_loaded_takes_the_fewest_tasks_per_worker_then_the_first_name():
    policy = LeastLoaded()
    loads = [
        load("a", held=2, capacity=4, limit=5),
        load("b", held=1, capacity=1),
        load("c", held=1, capacity=2),
    ]
    assert policy.choose(INFO, loads).name == "a"  # 0.5 per worker, c's 0.5 loses on name
    loads[0].reserved = 1  # 0.75
    assert policy.choose(INFO, loads).name == "c"
    assert policy.choose(INFO, [load("a", held=2)]) is None
    assert policy.choose(INFO, []) is None


def test_best_fidelity_takes_the_best_free_device_and_breaks_ties_by_load():
    policy = BestFidelity()
    loads = [
        load("qpu", held=2, fidelity=0.999),  # full
        load("x", held=1, fidelity=0.99),
        load("y", held=0, fidelity=0.99),
        load("z", held=0, fidelity=0.95),
    ]
    assert policy.choose(INFO, loads).name == "y"
    loads[1].held, loads[2].held = 0, 1
    assert policy.choose(INFO, loads).name == "x"
    assert policy.choose(INFO, loads[:1]) is None


def test_earliest_finish_times_are_the_queue_ahead_plus_the_runtime():
    estimator = RuntimeEstimator()
    estimator.observe(INFO, "a", 2.0)
    estimator.observe(signature_of("g", 3, 100), "a", 6.0)  # pilot mean: 0.7 * 2 + 0.3 * 6 = 3.2
    policy = EarliestFinish(estimator)
    assert policy.finish_time(INFO, load("a", held=1, capacity=2)) == 2.0  # a worker is free
    assert policy.finish_time(INFO, load("a", held=2, capacity=2)) == pytest.approx(1 * 3.2 / 2 + 2.0)
    busy = PilotLoad("a", 2, 4, 3, 1.0, reserved=1)
    assert policy.finish_time(INFO, busy) == pytest.approx(3 * 3.2 / 2 + 2.0)
    assert policy.finish_time(INFO, load("unknown", held=5)) == 0.0


def test_earliest_finish_waits_for_a_busy_fast_pilot_until_a_slow_free_one_finishes_first():
    estimator = RuntimeEstimator()
    estimator.observe(INFO, "fast", 1.0)
    estimator.observe(INFO, "slow", 4.0)
    policy = EarliestFinish(estimator)
    fast, slow = load("fast", held=1, limit=1), load("slow", limit=1)
    # fast finishes after r + 2 s with r tasks already waiting for it; slow after 4 s
    assert policy.choose(INFO, [fast, slow]) is None and fast.reserved == 1
    assert policy.choose(INFO, [fast, slow]) is None and fast.reserved == 2
    assert policy.choose(INFO, [fast, slow]) is slow  # a tie at 4 s: the pilot with a free slot
    assert policy.choose(INFO, []) is None


@pytest.mark.parametrize(("slow_s", "expected"), [(12.0, [(10, "slow")]), (100.0, [])])
def test_tasks_waiting_for_a_busy_pilot_count_against_the_lookahead(slow_s, expected):
    estimator = RuntimeEstimator()
    estimator.observe(INFO, "fast", 1.0)
    estimator.observe(INFO, "slow", slow_s)
    queue = queue_of(*(make_task(i, eligible=["fast", "slow"]) for i in range(50)))
    pilots = [PilotView.holding("fast", 1, limit=1), PilotView("slow", limit=1)]
    # task i would finish on fast after i + 2 s: the 11th ties with a 12 s slow pilot and takes it; a
    # 100 s one would win only at the 99th, beyond the 2 * (1 + 1) + 8 = 12 tasks a pass looks at
    assert bound(choose_bindings(queue, pilots, EarliestFinish(estimator))) == expected


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("round_robin", RoundRobin),
        ("least_loaded", LeastLoaded),
        ("best_fidelity", BestFidelity),
        ("earliest_finish", EarliestFinish),
    ],
)
def test_make_policy_by_name(name, cls):
    policy = make_policy(name, RuntimeEstimator())
    assert type(policy) is cls and policy.name == name


def test_an_unknown_policy_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown policy 'fastest'; choose one of round_robin, least_loaded"):
        make_policy("fastest", RuntimeEstimator())
