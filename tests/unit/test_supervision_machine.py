"""Random sequences of events against the pilot state machine, scheduling and supervision (hypothesis).

The executor's scheduling and supervision run for real on their shared state; only the pilots' HTEX side
(blocks, worker pools, task futures) is simulated, by :class:`SimPilot`, so thousands of event sequences
run in seconds. Checked after every event: no illegal transition, no task lost or left pending, and no
failed or stopped pilot ever holds or receives work.
"""

from __future__ import annotations

import time
from concurrent.futures import Future
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from parsl.executors.high_throughput.errors import ManagerLost, WorkerLost
from parsl.jobs.states import JobState, JobStatus

from parsl_quantum.errors import BackendError
from parsl_quantum.executors.durations import RuntimeEstimator, signature_of
from parsl_quantum.executors.faults import DeviceBuildError, DeviceConfigError
from parsl_quantum.executors.metrics import TaskRecord
from parsl_quantum.executors.pilot_states import LEGAL_TRANSITIONS, TERMINAL_STATES, PilotState
from parsl_quantum.executors.policies import make_policy
from parsl_quantum.executors.requirements import Requirements
from parsl_quantum.executors.running_pilot import Pilot
from parsl_quantum.executors.scheduling import Scheduler
from parsl_quantum.executors.state import ExecutorState
from parsl_quantum.executors.supervision import Supervisor
from parsl_quantum.executors.task import QuantumTask
from parsl_quantum.executors.worker import ship
from parsl_quantum.providers.pilot_description import PilotDescription

NAMES = ("p0", "p1", "p2")
RARE = st.integers(0, 3).map(lambda n: n == 0)
"""Events that take a pilot down are drawn one time in four, so that work also gets done."""


class SimPilot(Pilot):
    """A pilot whose blocks, worker pools and task futures are simulated; everything else is the real
    :class:`Pilot` (state, capacity, slots, prefetch, breaker, restart budget)."""

    def __init__(self, name: str, workers: int) -> None:
        description = PilotDescription(name=name, kind="cpu", backend="aer", workers=workers, prefetch=1)
        super().__init__(description, "sim", 1, lambda: 0, max_restarts=2)
        self.workers_per_block = workers
        self.statuses: dict[str, JobStatus] = {}
        self.cancelled: set[str] = set()
        self.pools: list[str] = []  # manager ids, oldest first
        self.held: set[str] = set()
        self.futures: dict[tuple[int, int], Future] = {}
        self.pending_probe: Any = None
        self.moves: list[tuple[PilotState, PilotState]] = []
        self._new_block()

    def move_to(self, state: PilotState, reason: str | None = None) -> None:
        self.moves.append((self.state, state))
        super().move_to(state, reason)

    def _new_block(self) -> None:
        block = str(len(self.statuses))
        self.statuses[block] = JobStatus(JobState.RUNNING)
        self.pools.append(f"pq{block}0.0")

    # -- the HTEX side ---------------------------------------------------------------------------
    def managers(self) -> list[dict[str, Any]]:
        running = {b for b, s in self.statuses.items() if s.state is JobState.RUNNING}
        return [
            {
                "manager": m,
                "block_id": m[2:-3],
                "worker_count": self.workers_per_block,
                "active": m not in self.held,
                "draining": False,
            }
            for m in self.pools
            if m[2:-3] in running
        ]

    def hold_managers(self, managers: set[str]) -> None:
        self.held |= managers

    def poll_blocks(self) -> dict[str, JobStatus]:
        return dict(self.statuses)

    @property
    def cancelled_blocks(self) -> set[str]:
        return self.cancelled

    def abandon_blocks(self, blocks: list[str]) -> None:
        pass

    def release_blocks(self) -> None:
        for block, status in self.statuses.items():
            if not status.terminal:
                self.statuses[block] = JobStatus(JobState.CANCELLED)
                self.cancelled.add(block)
        self.capacity = 0
        self.info = {}

    def acquire_blocks(self) -> None:
        self._new_block()

    def probe(self, on_fault: Any) -> None:
        self.info = {}
        self.pending_probe = on_fault

    def submit(self, task: QuantumTask) -> Future:
        assert self.state is PilotState.ACTIVE and self.capacity > 0, (
            f"{self.name} got work while {self.state}"
        )
        future: Future = Future()
        self.futures[(task.task_id, task.generation)] = future
        return future

    def stop(self) -> None:
        self.release_blocks()

    # -- events ------------------------------------------------------------------------------------
    def replace_pool(self) -> None:
        live = [m for m in self.pools if m not in self.held]
        if live:
            guard, generation = live[-1].rsplit(".", 1)
            self.pools.append(f"{guard}.{int(generation) + 1}")


class NoScaling:
    """The executor's scaling strategy, here never scaling (blocks come from the events)."""

    def add_executors(self, executors: list) -> None:
        pass

    def strategize(self, executors: list) -> None:
        pass


@settings(
    max_examples=150,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
class SupervisionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        estimator = RuntimeEstimator()
        self.state = ExecutorState(
            label="sim",
            max_attempts=3,
            pilot_wait_timeout=60.0,
            estimator=estimator,
            policy=make_policy("least_loaded", estimator),
        )
        self.supervisor: Supervisor | None = None
        self.scheduler = Scheduler(
            self.state, lambda *a: self.supervisor.fault(*a), lambda p: self.supervisor.stop_async(p)
        )
        self.supervisor = Supervisor(self.state, self.scheduler, NoScaling(), strategy_period=1.0)
        self.clock = 0.0
        self.futures: list[Future] = []
        self.generation = 0
        for name in NAMES[:2]:
            self.start_pilot(SimPilot(name, workers=2))
            self.workers_describe_the_device(NAMES.index(name))

    def start_pilot(self, pilot: SimPilot) -> None:
        """As the executor starts a pilot: ask its workers to describe the device, then watch it."""
        pilot.probe(self.supervisor.probe_failed)
        self.supervisor.adopt(pilot)

    @property
    def sims(self) -> list[SimPilot]:
        return list(self.state.pilots.values())

    def now(self) -> float:
        return time.time() + self.clock

    def _pilot(self, index: int) -> SimPilot:
        return self.sims[index % len(self.sims)]

    # -- events ------------------------------------------------------------------------------------
    @rule(pin=st.sampled_from((None, None, None, *NAMES)), count=st.integers(1, 4))
    def submit(self, pin: str | None, count: int) -> None:
        for _ in range(count):
            self.state.next_id += 1
            task_id = self.state.next_id
            requirements = Requirements.from_spec({"pilot": pin} if pin else {})
            future: Future = Future()
            task = QuantumTask(
                task_id=task_id,
                seq=task_id,
                buffer=b"",
                requirements=requirements,
                info=signature_of("sim", 0, None),
                future=future,
                record=TaskRecord(task_id=task_id, name="sim", submit=time.time()),
            )
            self.futures.append(future)
            self.scheduler.enqueue(task)

    @rule(index=st.integers(0, 5))
    def workers_describe_the_device(self, index: int) -> None:
        pilot = self._pilot(index)
        if pilot.pending_probe is not None and pilot.managers():
            pilot.pending_probe = None
            pilot.info = {"qubits": 20, "fidelity": 1.0, "host": "sim"}
            self.supervisor.watch(pilot, self.now(), strategize=False)

    @rule(index=st.integers(0, 5), config=st.booleans())
    def device_cannot_be_built(self, index: int, config: bool) -> None:
        pilot = self._pilot(index)
        if pilot.pending_probe is not None:
            on_fault, pilot.pending_probe = pilot.pending_probe, None
            error = DeviceConfigError("bad option") if config else DeviceBuildError("backend down")
            on_fault(pilot, f"workers could not describe the device: {error}", error)

    @rule(
        outcomes=st.lists(
            st.tuples(
                st.integers(0, 50),
                st.sampled_from(("success", "success", "user", "worker_lost", "backend", "manager_lost")),
            ),
            min_size=1,
            max_size=6,
        )
    )
    def attempts_end(self, outcomes: list[tuple[int, str]]) -> None:
        """Some attempts on the pilots' workers end: a result, the task's own error, its worker lost,
        a backend error, or its pool's heartbeats lost. Old attempts of requeued tasks end too."""
        for pick, outcome in outcomes:
            open_ = [f for p in self.sims for f in p.futures.values() if not f.done()]
            if not open_:
                return
            future = open_[pick % len(open_)]
            if outcome == "success":
                future.set_result((ship(7), 0.0, 0.01, "sim:1"))
            elif outcome == "user":
                future.set_exception(ZeroDivisionError("the task's own error"))
            elif outcome == "worker_lost":
                future.set_exception(WorkerLost(1, "sim"))
            elif outcome == "backend":
                future.set_exception(BackendError("QPU job failed"))
            else:
                future.set_exception(ManagerLost(b"m", "sim"))

    @rule(index=st.integers(0, 5), rare=RARE)
    def block_lost(self, index: int, rare: bool) -> None:
        if not rare:
            return
        pilot = self._pilot(index)
        for block, status in pilot.statuses.items():
            if status.state is JobState.RUNNING:
                pilot.statuses[block] = JobStatus(JobState.FAILED, exit_code=137)
                break
        self.supervisor.watch(pilot, self.now(), strategize=True)

    @rule(index=st.integers(0, 5), rare=RARE)
    def session_expires(self, index: int, rare: bool) -> None:
        if not rare:
            return
        pilot = self._pilot(index)
        for block, status in pilot.statuses.items():
            if status.state is JobState.RUNNING:
                pilot.statuses[block] = JobStatus(JobState.TIMEOUT)
        self.supervisor.watch(pilot, self.now(), strategize=True)

    @rule(index=st.integers(0, 5), rare=RARE)
    def a_worker_dies_and_its_pool_is_replaced(self, index: int, rare: bool) -> None:
        if not rare:
            return
        pilot = self._pilot(index)
        pilot.replace_pool()
        self.supervisor.watch(pilot, self.now(), strategize=False)

    @rule(index=st.integers(0, 5), rare=RARE)
    def the_poller_meets_an_unexpected_error(self, index: int, rare: bool) -> None:
        if not rare:
            return
        pilot = self._pilot(index)

        def broken(_now: float) -> set[str]:
            raise RuntimeError("a bug in a poller")

        pilot.refresh_capacity = broken  # type: ignore[method-assign]
        self.supervisor.watch(pilot, self.now(), strategize=False)
        assert pilot.state in (PilotState.FAILED, PilotState.STOPPED) or pilot.state not in TERMINAL_STATES
        del pilot.refresh_capacity

    @rule(seconds=st.sampled_from((0.5, 5.0, 20.0, 70.0)))
    def time_passes(self, seconds: float) -> None:
        self.clock += seconds
        for pilot in self.sims:
            self.supervisor.watch(pilot, self.now(), strategize=True)
        self.supervisor.expire_waiting(self.now())
        self.scheduler.dispatch()

    @rule(index=st.integers(0, 5), drain=st.booleans(), rare=RARE)
    def remove(self, index: int, drain: bool, rare: bool) -> None:
        pilot = self._pilot(index)
        if not rare or pilot.state in TERMINAL_STATES or pilot.state is PilotState.DRAINING:
            return
        self.supervisor.remove(pilot.name, drain)

    @precondition(
        lambda self: (
            len(self.state.pilots) < len(NAMES)
            or any(p.state in TERMINAL_STATES for p in self.state.pilots.values())
        )
    )
    @rule(index=st.integers(0, 2))
    def add(self, index: int) -> None:
        name = NAMES[index]
        existing = self.state.pilots.get(name)
        if existing is None or existing.state in TERMINAL_STATES:
            self.start_pilot(SimPilot(name, workers=1 + index % 2))

    # -- what must always hold ---------------------------------------------------------------------
    @invariant()
    def no_task_is_lost_and_dead_pilots_hold_nothing(self) -> None:
        state = self.state
        queued = {t.task_id for t in state.queue}
        held = {}
        for pilot in state.pilots.values():
            if pilot.state in TERMINAL_STATES:
                assert not pilot.in_flight, f"{pilot.name} is {pilot.state} with tasks"
            for task_id in pilot.in_flight:
                assert task_id not in held, f"task {task_id} on two pilots"
                held[task_id] = pilot.name
        assert not queued & set(held), "a task both waits and runs"
        assert set(state.tasks) == queued | set(held), "unfinished tasks are neither waiting nor running"
        for task_id, task in state.tasks.items():
            assert not task.future.done()
            if task_id in held:
                assert task.pilot == held[task_id]
        unfinished = sum(not f.done() for f in self.futures)
        assert unfinished == len(state.tasks)

    @invariant()
    def every_move_was_legal(self) -> None:
        for pilot in self.state.pilots.values():
            for before, after in pilot.moves:
                assert after is before or after in LEGAL_TRANSITIONS[before]
            assert "IllegalTransition" not in (pilot.reason or "")

    def teardown(self) -> None:
        for pilot in self.state.pilots.values():
            event(f"a pilot ended {pilot.state.value}")
            if pilot.restarts:
                event("a pilot restarted")
        for future in self.futures:
            if future.done():
                error = future.exception()
                event(f"a task ended {type(error).__name__ if error else 'with a result'}")
        self.supervisor.shutdown()
        assert all(f.done() for f in self.futures), "a future left pending at shutdown"


TestSupervisionMachine = SupervisionMachine.TestCase
