"""The executor's queue of waiting tasks: priority order, eligibility classes and demand, without a
DataFlowKernel."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from parsl_quantum.executors.task_queue import TaskQueue
from tests.unit.helpers import make_task, queue_of

PILOTS = ("a", "b", "c")


def ids(tasks) -> list[int]:
    return [t.task_id for t in tasks]


def test_higher_priority_first_then_submission_order():
    queue = queue_of(
        make_task(0, priority=0, eligible="a"),
        make_task(1, priority=5, eligible="a"),
        make_task(2, priority=0, eligible="a"),
        make_task(3, priority=-1, eligible="a"),
        make_task(4, priority=5, eligible="a"),
    )
    assert ids(queue.waiting_for(["a"])) == [1, 4, 0, 2, 3]


def test_classes_are_merged_in_priority_order():
    queue = queue_of(
        make_task(0, priority=1, eligible="a"),
        make_task(1, priority=3, eligible="b"),
        make_task(2, priority=2, eligible="ab"),
        make_task(3, priority=3, eligible="a"),
    )
    assert ids(queue.waiting_for(["a", "b"])) == [1, 3, 2, 0]
    # only classes that include a pilot asked for: task 1 is b's alone
    assert ids(queue.waiting_for(["a"])) == [3, 2, 0]
    assert ids(queue.waiting_for(["b"])) == [1, 2]
    assert ids(queue.waiting_for([])) == []
    assert ids(queue.waiting_for(["z"])) == []


def test_push_says_whether_its_class_was_empty():
    queue = TaskQueue()
    assert queue.push(make_task(0, eligible="a"))
    assert not queue.push(make_task(1, eligible="a"))
    assert queue.push(make_task(2, eligible="ab"))  # another set of pilots: another class
    assert queue.push(make_task(3))  # no pilot at all is a class too


def test_remove_takes_one_task_and_drops_empty_classes():
    first, second, other = make_task(0, eligible="a"), make_task(1, eligible="a"), make_task(2, eligible="b")
    queue = queue_of(first, second, other)
    queue.remove(first)
    assert ids(queue.waiting_for(["a", "b"])) == [1, 2] and len(queue) == 2
    queue.remove(second)
    assert queue.demand("a") == 0
    # the class of "a" is gone: pushing to it again reports it empty
    assert queue.push(make_task(3, eligible="a"))


def test_tasks_no_pilot_can_serve_wait_apart():
    queue = queue_of(
        make_task(0, priority=1),
        make_task(1, eligible="a"),
        make_task(2, priority=4),
    )
    assert ids(queue.without_pilot()) == [2, 0]
    assert ids(queue.waiting_for(PILOTS)) == [1]  # never offered to a pilot
    assert TaskQueue().without_pilot() == []


def test_demand_counts_the_tasks_a_pilot_could_take():
    queue = queue_of(
        make_task(0, eligible="a"),
        make_task(1, eligible="ab"),
        make_task(2, eligible="b"),
        make_task(3, eligible="abc"),
        make_task(4),
    )
    assert [queue.demand(p) for p in PILOTS] == [3, 3, 1]
    assert queue.demand("z") == 0
    assert len(queue) == 5


def test_reclassify_moves_every_task_to_its_new_class():
    tasks = [make_task(i, priority=i % 2, eligible="a") for i in range(4)]
    queue = queue_of(*tasks)
    # pilot a failed: odd tasks may go to b, even ones to nobody
    queue.reclassify(lambda t: frozenset("b") if t.task_id % 2 else frozenset())
    assert queue.demand("a") == 0 and queue.demand("b") == 2
    assert ids(queue.waiting_for(["b"])) == [1, 3]
    assert ids(queue.without_pilot()) == [0, 2]
    assert [t.eligible for t in tasks] == [frozenset(), frozenset("b"), frozenset(), frozenset("b")]
    # a reclassified task is removed from the class it now holds
    queue.remove(tasks[1])
    assert ids(queue.waiting_for(["b"])) == [3]


eligibility = st.frozensets(st.sampled_from(PILOTS))
task_specs = st.lists(st.tuples(st.integers(-3, 3), eligibility), max_size=30)


@settings(max_examples=60, deadline=None)
@given(specs=task_specs, order=st.randoms(use_true_random=False), wanted=eligibility)
def test_waiting_for_is_priority_then_seq_order_for_any_insertion_order(specs, order, wanted):
    tasks = [make_task(i, priority=p, eligible=e) for i, (p, e) in enumerate(specs)]
    shuffled = list(tasks)
    order.shuffle(shuffled)
    queue = queue_of(*shuffled)
    expected = sorted(
        (t for t in tasks if t.eligible & wanted), key=lambda t: (-t.requirements.priority, t.seq)
    )
    assert ids(queue.waiting_for(wanted)) == ids(expected)
    assert len(queue) == len(tasks) == len(list(queue))
    for pilot in PILOTS:
        assert queue.demand(pilot) == sum(pilot in t.eligible for t in tasks)
    assert ids(queue.without_pilot()) == ids(
        sorted((t for t in tasks if not t.eligible), key=lambda t: t.sort_key)
    )


@settings(max_examples=60, deadline=None)
@given(specs=task_specs, removed=st.sets(st.integers(0, 29)), moved=eligibility)
def test_removal_and_reclassification_keep_the_order_of_what_remains(specs, removed, moved):
    tasks = [make_task(i, priority=p, eligible=e) for i, (p, e) in enumerate(specs)]
    queue = queue_of(*tasks)
    for task in tasks:
        if task.task_id in removed:
            queue.remove(task)
    kept = [t for t in tasks if t.task_id not in removed]
    queue.reclassify(lambda t: moved if t.task_id % 2 else t.eligible)
    expected = sorted((t for t in kept if t.eligible), key=lambda t: t.sort_key)
    assert ids(queue.waiting_for(PILOTS)) == ids(expected)
    assert len(queue) == len(kept)
