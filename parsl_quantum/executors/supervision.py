"""Supervision: where a pilot is judged alive or dead, what a fault costs, and how a pilot recovers.

Liveness is judged by evidence, never by the clock:

- a worker or its pool died: the block's guard (:mod:`~parsl_quantum.executors.pool_guard`) replaces the
  pool in place; the new pool's manager id names the one it replaces, and the old pool's tasks are
  requeued free of charge (the dead worker's own task was reported by Parsl as ``WorkerLost``: a task
  fault, one attempt);
- a block ended without being asked to, or the guard gave up on it: a pilot fault;
- a pool's heartbeats stopped (Parsl's interchange reports ``ManagerLost``): a pilot fault;
- tasks in flight and no live worker for :data:`~parsl_quantum.executors.running_pilot.HEARTBEAT_THRESHOLD_S`:
  a pilot fault.

A task whose worker is alive and running it is never killed for being slow: only its own ``walltime``
ends it. Durations feed predictions, never restarts. A FAILED pilot is never waited for.
"""

from __future__ import annotations

import logging
import threading
import time

from parsl.jobs.strategy import Strategy

from parsl_quantum.executors.errors import (
    ExecutorShutdownError,
    PilotError,
    TaskFailoverExhaustedError,
    UnschedulableTaskError,
)
from parsl_quantum.executors.faults import DeviceConfigError, Fault
from parsl_quantum.executors.health import describe_block_end, expired_sessions, has_live_block, lost_blocks
from parsl_quantum.executors.health import stalled as no_live_worker
from parsl_quantum.executors.pilot_states import TERMINAL_STATES, PilotState
from parsl_quantum.executors.running_pilot import HEARTBEAT_THRESHOLD_S, Pilot
from parsl_quantum.executors.scheduling import Scheduler, Stranded
from parsl_quantum.executors.state import ExecutorState
from parsl_quantum.executors.task import QuantumTask

logger = logging.getLogger(__name__)

POLL_S = 0.2


class Supervisor:
    """Faults, recovery, liveness and scaling of the pilots in an :class:`ExecutorState`.

    Parameters
    ----------
    state
        The shared state.
    scheduler
        Requeues, re-places and completes tasks.
    scaling
        Parsl's scaling strategy for the pilots' blocks.
    strategy_period
        Seconds between scaling decisions and block status checks.
    """

    def __init__(
        self, state: ExecutorState, scheduler: Scheduler, scaling: Strategy, strategy_period: float
    ) -> None:
        self.state = state
        self.scheduler = scheduler
        self.scaling = scaling
        self.strategy_period = strategy_period
        self.threads: list[threading.Thread] = []

    # -- faults --------------------------------------------------------------------------------------
    def fault(
        self, pilot: Pilot, task: QuantumTask | None, generation: int, fault: Fault, cause: str
    ) -> None:
        """Handle a task fault, backend error or pilot fault seen on ``pilot`` (for ``task``'s attempt)."""
        state, scheduler = self.state, self.scheduler
        now = time.time()
        exhausted: list[QuantumTask] = []
        stranded: Stranded = []
        stop = False
        with state.lock:
            pilot.last_fault = f"{time.strftime('%H:%M:%S')} {fault.value}: {cause}"
            pilot.faults[fault.value] = pilot.faults.get(fault.value, 0) + 1
            current = task is not None and task.generation == generation and task.task_id in state.tasks
            if task is not None and not current and fault is Fault.TASK and task.task_id in state.tasks:
                # a worker the task killed, reported after its attempt was requeued: it still counts
                task.failures.append(f"attempt on pilot '{pilot.name}': {fault.value}: {cause}")
                task.counted += 1
                if task.counted >= state.max_attempts and task.pilot is None:
                    state.queue.remove(task)
                    state.tasks.pop(task.task_id, None)
                    exhausted.append(task)
            if current:
                pilot.in_flight.pop(task.task_id, None)
                task.failures.append(
                    f"attempt {task.attempt} on pilot '{pilot.name}': {fault.value}: {cause}"
                )
                if fault is Fault.PILOT:
                    scheduler.requeue_locked(task, now)
                else:
                    task.counted += 1
                    if fault is Fault.BACKEND:
                        task.avoid.add(pilot.name)
                    if task.counted >= state.max_attempts:
                        state.tasks.pop(task.task_id, None)
                        exhausted.append(task)
                    else:
                        scheduler.requeue_locked(task, now)
            if (
                fault is Fault.BACKEND
                and pilot.breaker.record_error(now)
                and pilot.state is PilotState.ACTIVE
            ):
                until = time.strftime("%H:%M:%S", time.localtime(pilot.breaker.open_until))
                pilot.move_to(
                    PilotState.DEGRADED,
                    f"{pilot.breaker.threshold} backend errors in a row; paused until {until}",
                )
                logger.warning("pilot %s degraded: %s", pilot.name, cause)
            if fault is Fault.PILOT:
                stop = self._recover_locked(pilot, cause, now)
                stranded = scheduler.reclassify_locked(now)
        for t in exhausted:
            scheduler.complete(
                t,
                exception=TaskFailoverExhaustedError(state.label, t.task_id, t.failures, t.record.name),
                outcome="failed",
            )
        scheduler.fail_unschedulable(stranded)
        if stop:
            self.stop_async(pilot)
        scheduler.dispatch()

    def _return_in_flight_locked(self, pilot: Pilot, why: str, now: float) -> None:
        """Requeue every task bound to ``pilot``, free of charge."""
        for task in list(pilot.in_flight.values()):
            task.failures.append(f"attempt {task.attempt} on pilot '{pilot.name}': {why}")
            self.scheduler.requeue_locked(task, now)
        pilot.in_flight.clear()

    def _recover_locked(self, pilot: Pilot, reason: str, now: float) -> bool:
        """A pilot fault: requeue the pilot's tasks free of charge and start its recovery, or fail it once
        its restarts are spent. Returns whether the pilot must be stopped."""
        self._return_in_flight_locked(pilot, f"{Fault.PILOT.value}: {reason}", now)
        if pilot.state in TERMINAL_STATES:
            return False
        if pilot.state is PilotState.DRAINING:
            pilot.move_to(PilotState.STOPPED, f"removed; its last fault: {reason}")
            return True
        if pilot.state is PilotState.RECOVERING and pilot.restart_at is not None:
            return False  # already waiting to restart: this fault is the same outage
        logger.warning("pilot %s: %s", pilot.name, reason)
        if pilot.budget.exhausted(now):
            first = pilot.outage_reason
            history = "" if first in (None, reason) else f"; the outage began with: {first}"
            pilot.move_to(
                PilotState.FAILED,
                f"{reason}{history} (gave up after {pilot.budget.max_restarts} restarts within "
                f"{pilot.budget.window_s:g} s)",
            )
            return True
        if pilot.state is not PilotState.RECOVERING:
            pilot.outage_reason = reason
        pilot.move_to(PilotState.RECOVERING, reason)
        pilot.restart_at = now + pilot.budget.next_delay(now)
        pilot.release_pending = True
        return False

    def fail_pilot(self, pilot: Pilot, reason: str) -> None:
        """Fail a pilot for good now (its device cannot be built, its supervision broke): its tasks go
        back to the queue free of charge, and tasks that only it could serve fail at once."""
        now = time.time()
        with self.state.lock:
            if pilot.state in TERMINAL_STATES:
                return
            self._return_in_flight_locked(pilot, f"{Fault.PILOT.value}: {reason}", now)
            pilot.faults[Fault.PILOT.value] = pilot.faults.get(Fault.PILOT.value, 0) + 1
            pilot.last_fault = f"{time.strftime('%H:%M:%S')} {Fault.PILOT.value}: {reason}"
            pilot.move_to(PilotState.FAILED, reason)
            stranded = self.scheduler.reclassify_locked(now)
        logger.error("pilot %s failed: %s", pilot.name, reason)
        self.scheduler.fail_unschedulable(stranded)
        self.stop_async(pilot)
        self.scheduler.dispatch()

    def probe_failed(self, pilot: Pilot, reason: str, exc: BaseException) -> None:
        """The pilot's workers could not describe their device: a configuration that cannot work fails the
        pilot at once; anything else is a pilot fault, recovered from."""
        if isinstance(exc, DeviceConfigError):
            self.fail_pilot(pilot, reason)
        else:
            self.fault(pilot, None, 0, Fault.PILOT, reason)

    def pools_replaced(self, pilot: Pilot, managers: set[str]) -> None:
        """Worker pools of ``pilot`` were replaced in their blocks (one of their processes died).

        The tasks they held are lost with them, and which ones they were only the interchange knows, so
        every task the pilot holds goes back to the queue free of charge (a pilot of one pool per block,
        the usual case, held nothing else). The pilot is not blamed and keeps its state.
        """
        now = time.time()
        with self.state.lock:
            pilot.pool_restarts += len(managers)
            pilot.last_fault = (
                f"{time.strftime('%H:%M:%S')} worker pool {', '.join(sorted(managers))} replaced in its "
                "block (one of its processes died)"
            )
            self._return_in_flight_locked(pilot, "its worker pool was replaced", now)
        logger.warning(
            "pilot %s: worker pool %s replaced in its block", pilot.name, ", ".join(sorted(managers))
        )
        self.scheduler.dispatch()

    # -- pilots joining and leaving ---------------------------------------------------------------------
    def adopt(self, pilot: Pilot) -> None:
        """Start watching a pilot that was just started; waiting tasks may go to it once it is up."""
        with self.state.lock:
            self.state.pilots[pilot.name] = pilot
            self.state.removed.clear()  # a pilot added after a removal: waiting tasks may go to it
            stranded = self.scheduler.reclassify_locked(time.time())
        self.scheduler.fail_unschedulable(stranded)

    def remove(self, name: str, drain: bool) -> None:
        """Remove a live pilot: it finishes what it holds (``drain``) or returns it to the queue, takes
        nothing new, and stops once idle. Tasks only it could serve wait for a pilot added in its place.

        Raises
        ------
        PilotError
            If there is no live pilot of that name.
        """
        now = time.time()
        state, scheduler = self.state, self.scheduler
        with state.lock:
            pilot = state.pilots.get(name)
            if pilot is None or pilot.state in TERMINAL_STATES or pilot.state is PilotState.DRAINING:
                raise PilotError(state.label, f"no live pilot named '{name}'")
            state.removed.add(name)
            pilot.move_to(PilotState.DRAINING, "removed")
            if not drain:
                for task in list(pilot.in_flight.values()):
                    scheduler.requeue_locked(task, now)
                pilot.in_flight.clear()
            idle = not pilot.in_flight
            if idle:
                pilot.move_to(PilotState.STOPPED, "removed")
            stranded = scheduler.reclassify_locked(now)
        scheduler.fail_unschedulable(stranded)
        if idle:
            self.stop_async(pilot)
        scheduler.dispatch()

    def shutdown(self) -> list[Pilot]:
        """Stop watching: fail every unfinished task with :class:`ExecutorShutdownError` and mark every
        pilot stopped; returns the pilots, for the caller to release."""
        state = self.state
        state.stop.set()
        for thread in list(self.threads):
            if thread is not threading.current_thread():
                thread.join(timeout=30)
        with state.lock:
            pilots = list(state.pilots.values())
            leftovers = list(state.tasks.values())
            state.tasks.clear()
            for task in leftovers:
                if task.pilot is None:
                    state.queue.remove(task)
            for pilot in pilots:
                pilot.in_flight.clear()
                if pilot.state not in TERMINAL_STATES:
                    pilot.move_to(PilotState.STOPPED, "executor shut down")
        for task in leftovers:
            self.scheduler.complete(
                task,
                exception=ExecutorShutdownError(
                    state.label, f"task {task.task_id} ({task.record.name}) was unfinished at shutdown"
                ),
                outcome="cancelled",
            )
        return pilots

    def stop_async(self, pilot: Pilot) -> None:
        """Stop a pilot on a thread of its own: stopping an HTEX joins its result thread, which may be the
        caller."""
        thread = threading.Thread(target=pilot.stop, name=f"stop-{pilot.name}", daemon=True)
        thread.start()
        self.threads.append(thread)

    # -- polling: capacity, block health, recovery, scaling, waiting tasks ----------------------------
    def start(self) -> None:
        """Start the poller thread."""
        thread = threading.Thread(target=self.poll_loop, name=f"{self.state.label}-poller", daemon=True)
        thread.start()
        self.threads.append(thread)

    def poll_loop(self) -> None:
        """Watch every pilot until the executor stops. An unexpected error while watching one pilot is
        logged once and fails that pilot with the error as its reason; the others are still watched."""
        last_strategy = 0.0
        while not self.state.stop.wait(POLL_S):
            now = time.time()
            strategize = now - last_strategy >= self.strategy_period
            for pilot in list(self.state.pilots.values()):
                if not self.watch(pilot, now, strategize):
                    return
            try:
                self.expire_waiting(now)
                if strategize:
                    last_strategy = now
                    self.state.metrics.flush()
            except Exception:
                logger.exception("poller")
            self.scheduler.dispatch()

    def watch(self, pilot: Pilot, now: float, strategize: bool) -> bool:
        """One look at one live pilot (:meth:`poll_pilot`). An unexpected error is logged once and fails
        the pilot with the error as its reason, so the others are still watched. Returns ``False`` once
        the executor is stopping."""
        if pilot.state in TERMINAL_STATES:
            return True
        try:
            self.poll_pilot(pilot, now, strategize)
        except Exception as exc:
            if self.state.stop.is_set():
                return False
            logger.exception("poller: pilot %s", pilot.name)
            self.fail_pilot(pilot, f"its supervisor met an unexpected error: {type(exc).__name__}: {exc}")
        return True

    def poll_pilot(self, pilot: Pilot, now: float, strategize: bool) -> None:
        """One look at one pilot: recovery, workers, blocks, scaling, state."""
        if pilot.state is PilotState.RECOVERING:
            self.advance_recovery(pilot, now)
        replaced = pilot.refresh_capacity(now)
        if replaced:
            self.pools_replaced(pilot, replaced)
        if strategize:
            self.check_blocks(pilot)
            if pilot.state in (PilotState.STARTING, PilotState.ACTIVE, PilotState.DEGRADED):
                self.scaling.strategize([pilot.htex])
        changed = False
        stranded: Stranded = []
        with self.state.lock:
            ready = pilot.capacity > 0 and pilot.described
            if (
                pilot.state in (PilotState.STARTING, PilotState.RECOVERING)
                and ready
                and pilot.restart_at is None
            ):
                pilot.move_to(PilotState.ACTIVE)
                changed = True
            elif pilot.state is PilotState.DEGRADED and not pilot.breaker.is_open(now):
                pilot.move_to(PilotState.ACTIVE)
            if pilot.described and pilot.info is not pilot.reclassified_for:
                pilot.reclassified_for = pilot.info
                changed = True
            if changed:
                stranded = self.scheduler.reclassify_locked(now)
            dead = no_live_worker(
                len(pilot.in_flight), pilot.capacity, pilot.no_worker_since, now, HEARTBEAT_THRESHOLD_S
            )
        self.scheduler.fail_unschedulable(stranded)
        if dead:
            self.fault(
                pilot,
                None,
                0,
                Fault.PILOT,
                f"no live worker for {HEARTBEAT_THRESHOLD_S} s with tasks in flight",
            )

    def advance_recovery(self, pilot: Pilot, now: float) -> None:
        """Release the failed blocks, then acquire new ones once the backoff has passed."""
        if pilot.release_pending:
            pilot.release_pending = False
            pilot.release_blocks()
        with self.state.lock:
            due = (
                pilot.restart_at is not None
                and now >= pilot.restart_at
                and pilot.state is PilotState.RECOVERING
            )
            if due:
                pilot.restart_at = None
                pilot.budget.spend(now)
                pilot.restarts += 1
        if due:
            logger.info("pilot %s: acquiring a new block (restart %d)", pilot.name, pilot.restarts)
            pilot.acquire_blocks()
            pilot.probe(self.probe_failed)

    def check_blocks(self, pilot: Pilot) -> None:
        """A block that ended without being asked to is a pilot fault; an expired QPU session returns its
        tasks to the queue (the scaling strategy acquires a new session while work waits)."""
        statuses = pilot.poll_blocks()
        lost = lost_blocks(statuses, pilot.cancelled_blocks, pilot.handled_blocks)
        if lost:
            pilot.handled_blocks.update(block for block, _ in lost)
            pilot.abandon_blocks([block for block, _ in lost])
            self.fault(pilot, None, 0, Fault.PILOT, describe_block_end(*lost[0]))
            return
        expired = expired_sessions(statuses, pilot.handled_blocks)
        if expired and not has_live_block(statuses):
            pilot.handled_blocks.update(expired)
            with self.state.lock:
                returned = len(pilot.in_flight)
                self._return_in_flight_locked(pilot, "QPU session expired", time.time())
                pilot.capacity = 0
            if returned:
                logger.info("pilot %s: session expired; %d tasks back in the queue", pilot.name, returned)

    def expire_waiting(self, now: float) -> None:
        """Fail tasks that waited ``pilot_wait_timeout`` for a pilot that could serve them."""
        state = self.state
        expired = []
        with state.lock:
            for task in state.queue.without_pilot():
                if task.waiting_since is not None and now - task.waiting_since > state.pilot_wait_timeout:
                    state.queue.remove(task)
                    state.tasks.pop(task.task_id, None)
                    expired.append(task)
            report = state.pilots_report() if expired else ""
        for task in expired:
            reason = f"no live pilot could serve it for {state.pilot_wait_timeout:g} s; pilots: {report}"
            self.scheduler.complete(
                task,
                exception=UnschedulableTaskError(state.label, task.task_id, reason),
                outcome="unschedulable",
            )
