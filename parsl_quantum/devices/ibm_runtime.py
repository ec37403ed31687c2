"""IBM Quantum devices through qiskit-ibm-runtime: the account, the session, the sampler, the QPU's clock.

The account comes from the environment (``QISKIT_IBM_TOKEN``, ``QISKIT_IBM_INSTANCE``,
``QISKIT_IBM_CHANNEL``) or from the account saved with ``QiskitRuntimeService.save_account``; the token
is never an option of a pilot, so it is never printed with a configuration or written to a log.

A QPU pilot's session has two ends:

- the submit side opens it (:func:`~parsl_quantum.providers.ibm_sessions.open_session`, called by
  :class:`~parsl_quantum.providers.qpu_session.QPUSessionProvider` when it acquires a block) and closes it;
- the block's workers attach to it: the provider exports ``<mode>:<session id>`` as
  :data:`SESSION_ENV` into the block's environment, and :class:`RuntimeSamplerRunner` runs its jobs in that
  session instead of opening one of its own. Each job's timestamps (created, running, finished, from
  ``job.metrics()``) go as a line of JSON to the file named by :data:`JOB_LOG_ENV`, from which the provider
  learns the queue wait the QPU's jobs observed.

With a fake backend the runtime runs in its local testing mode (``QiskitRuntimeLocalService``), which is
how the tests exercise this code path offline: sessions and batches are accepted but have no id on a
server, so ``open_session`` names them ``local-<uuid>``, and a local job's timestamps are all taken when
it is made (no queue).

:func:`predict_qpu_time_s` tells how long circuits would hold the QPU from the backend's ``Target``
durations alone, without running anything: calibration of a real device spends no QPU jobs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from parsl_quantum.errors import BackendError

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.providers import BackendV2

logger = logging.getLogger(__name__)

_ENV = {"token": "QISKIT_IBM_TOKEN", "instance": "QISKIT_IBM_INSTANCE", "channel": "QISKIT_IBM_CHANNEL"}

SESSION_ENV = "PARSL_QUANTUM_QPU_SESSION"
"""Environment variable of a QPU block's workers: ``<mode>:<session id>`` of the session they run in."""
JOB_LOG_ENV = "PARSL_QUANTUM_QPU_JOB_LOG"
"""Environment variable of a QPU block's workers: the file where they record each job's timestamps."""
MODES = ("session", "batch")
"""Execution modes a QPU block may hold: a dedicated ``Session`` or a ``Batch``."""


def ibm_backend(name: str) -> BackendV2:
    """The real IBM device ``name`` (e.g. ``"ibm_torino"``) from the saved or environment account.

    Raises
    ------
    BackendError
        If no account is configured, or the service cannot be reached or does not offer ``name``.
    """
    try:
        from qiskit_ibm_runtime import QiskitRuntimeService

        kwargs = {key: os.environ[var] for key, var in _ENV.items() if os.environ.get(var)}
        service = QiskitRuntimeService(**kwargs)
        return service.backend(name)
    except Exception as exc:
        # The token may appear in some exception texts; report only the type and a safe hint.
        raise BackendError(
            f"cannot reach IBM Quantum device '{name}' ({type(exc).__name__}); configure an account with "
            "QiskitRuntimeService.save_account(...) or the QISKIT_IBM_TOKEN / QISKIT_IBM_INSTANCE "
            "environment variables, and check that the device is offered to it"
        ) from None


def qpu_backend(name: str) -> BackendV2:
    """The Qiskit backend of a QPU backend name: a real device for ``ibm_*``, a fake one for ``fake_*``.

    Building it submits no job (a real device's backend holds its ``Target`` from the service).

    Raises
    ------
    BackendError
        For an ``ibm_*`` device that cannot be reached (see :func:`ibm_backend`).
    ValueError
        For a name that is not a QPU backend.
    """
    if name.startswith("fake_"):
        from parsl_quantum.devices.qpu import fake_backend

        return fake_backend(name)
    if name.startswith("ibm_"):
        return ibm_backend(name)
    raise ValueError(f"'{name}' is not a QPU backend (ibm_<device> or fake_<device>)")


def is_local(backend: BackendV2) -> bool:
    """Whether ``backend`` is an offline fake backend (the runtime then runs in local testing mode)."""
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    return isinstance(backend, FakeBackendV2)


def mode_class(mode: str) -> type:
    """The runtime's class for an execution mode: ``Session`` or ``Batch``."""
    if mode not in MODES:
        raise ValueError(f"QPU session mode must be one of {MODES}, got {mode!r}")
    from qiskit_ibm_runtime import Batch, Session

    return Session if mode == "session" else Batch


def attach_session(backend: BackendV2, spec: str) -> tuple[Any, str]:
    """The ``Session``/``Batch`` of ``spec`` (``<mode>:<session id>``) to run jobs of ``backend`` in.

    A real device's session is looked up on the service (``from_id``); in local testing mode, where
    sessions have no server-side existence, a local one of the same mode stands for it.

    Returns
    -------
    tuple
        The runtime's mode object and the session id.
    """
    mode, _, session_id = spec.partition(":")
    cls = mode_class(mode)
    if is_local(backend):
        return cls(backend=backend), session_id
    return cls.from_id(session_id, backend.service), session_id


def _timestamp(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def job_queue_wait_s(metrics: dict[str, Any]) -> float | None:
    """Seconds a job waited in the QPU's queue: its ``running`` minus its ``created`` timestamp.

    ``metrics`` is what ``RuntimeJobV2.metrics()`` returns (``{"timestamps": {"created": ISO 8601,
    "running": ..., "finished": ...}, ...}``). ``None`` when a timestamp is missing (the job never ran).
    """
    stamps = metrics.get("timestamps") or {}
    created, running = _timestamp(stamps.get("created")), _timestamp(stamps.get("running"))
    if created is None or running is None:
        return None
    return max(0.0, running - created)


def job_record(job: Any, session_id: str | None, backend_name: str) -> dict[str, Any]:
    """What a worker records of a finished job: ids, timestamps (epoch seconds) and its queue wait."""
    try:
        metrics = job.metrics()
    except Exception as exc:  # metrics are an extra call to the service; a job's result never hangs on it
        logger.info("no metrics for job on %s (%s)", backend_name, type(exc).__name__)
        metrics = {}
    stamps = metrics.get("timestamps") or {}
    return {
        "backend": backend_name,
        "session_id": session_id,
        "job_id": str(job.job_id()),
        **{name: _timestamp(stamps.get(name)) for name in ("created", "running", "finished")},
        "queue_wait_s": job_queue_wait_s(metrics),
    }


def append_record(path: str, record: dict[str, Any]) -> None:
    """Append ``record`` as one line of JSON to ``path`` (created private to the owner)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def read_records(path: str) -> list[dict[str, Any]]:
    """The records :func:`append_record` wrote to ``path`` (none if it does not exist)."""
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def counts_from_pub(pub_result: Any, circuit: QuantumCircuit) -> dict[str, int]:
    """Counts of a sampler pub result in Qiskit's ``get_counts`` format (registers space-separated,
    last register first)."""
    registers = [creg for creg in circuit.cregs if creg.size]
    if len(registers) == 1:
        return dict(getattr(pub_result.data, registers[0].name).get_counts())
    columns = [getattr(pub_result.data, creg.name).get_bitstrings() for creg in reversed(registers)]
    counts: dict[str, int] = {}
    for parts in zip(*columns, strict=True):
        key = " ".join(parts)
        counts[key] = counts.get(key, 0) + 1
    return counts


class RuntimeSamplerRunner:
    """Runs ISA circuits through qiskit-ibm-runtime's ``Sampler``.

    On a pilot's worker it runs in the session its block holds (:data:`SESSION_ENV`, opened by the
    provider); elsewhere (``get_device`` in a script) a real device opens a session of its own on first use,
    and a fake backend runs jobs in local testing mode. Each job's timestamps are recorded in
    :attr:`jobs`, and in the file :data:`JOB_LOG_ENV` names when it is set.

    Parameters
    ----------
    backend
        A real ``IBMBackend`` or a fake backend (local testing mode).
    session_max_time
        Seconds a session of its own may stay open (real devices; ``None`` for the service default).
    """

    runs_qpu_jobs = True
    """Its circuits run as runtime jobs, which cost QPU time (see :attr:`QPUDevice.runs_qpu_jobs`)."""

    def __init__(self, backend: BackendV2, session_max_time: int | None = None) -> None:
        self._backend = backend
        self._session_max_time = session_max_time
        self._session: Any = None
        self._owns_session = False
        self.session_id: str | None = None
        self.jobs: list[dict[str, Any]] = []

    @property
    def packing_pays(self) -> bool:
        """Whether packed circuits save time: on a real device, yes (shots are the cost); a fake
        backend's local testing mode simulates the whole packed state, exponentially slower."""
        return not is_local(self._backend)

    def _mode(self) -> Any:
        if self._session is not None:
            return self._session
        spec = os.environ.get(SESSION_ENV)
        if spec:
            self._session, self.session_id = attach_session(self._backend, spec)
            self._owns_session = False
            logger.info("attached to QPU session %s on %s", self.session_id, self._backend.name)
            return self._session
        if is_local(self._backend):
            return self._backend
        from qiskit_ibm_runtime import Session

        self._session = Session(backend=self._backend, max_time=self._session_max_time)
        self._owns_session = True
        self.session_id = self._session.session_id
        logger.info("opened IBM Quantum session %s on %s", self.session_id, self._backend.name)
        return self._session

    def _forget_session(self) -> None:
        """After a failure: a session of its own is not reused; the block's is attached to again."""
        self._session = None
        self._owns_session = False

    def run(self, circuits: list[QuantumCircuit], shots: int) -> list[dict[str, int]]:
        """Counts of ISA circuits; backend faults are raised as :class:`BackendError`."""
        from qiskit_ibm_runtime.exceptions import IBMError
        from qiskit_ibm_runtime.executor_sampler import Sampler

        try:
            job = Sampler(mode=self._mode()).run(circuits, shots=shots)
            result = job.result()
        except IBMError as exc:
            self._forget_session()
            raise BackendError(f"IBM Quantum job on '{self._backend.name}' failed: {exc}") from exc
        except (ConnectionError, TimeoutError) as exc:
            self._forget_session()
            raise BackendError(f"lost connection to '{self._backend.name}': {exc}") from exc
        self._record(job)
        return [counts_from_pub(r, qc) for r, qc in zip(result, circuits, strict=True)]

    def _record(self, job: Any) -> None:
        record = job_record(job, self.session_id, self._backend.name)
        self.jobs.append(record)
        path = os.environ.get(JOB_LOG_ENV)
        if path:
            try:
                append_record(path, record)
            except OSError as exc:
                logger.warning("cannot record QPU job in %s: %s", path, exc)

    def close(self) -> None:
        """Close the session, if this runner opened it (a block's session is its provider's to close)."""
        if self._session is not None and self._owns_session:
            self._session.close()
        self._forget_session()


def predict_qpu_time_s(
    circuits: QuantumCircuit | Sequence[QuantumCircuit],
    backend: BackendV2,
    shots: int,
    *,
    rep_delay_s: float | None = None,
    optimization_level: int = 2,
    seed_transpiler: int | None = None,
) -> float:
    """Seconds of QPU time ``circuits`` take at ``shots`` shots each, from the backend's ``Target`` alone.

    Nothing runs: each circuit is transpiled for ``backend`` (ISA circuits are taken as they are), and
    one shot of it lasts its critical path, every instruction at the duration the ``Target`` gives it on
    its qubits (``QuantumCircuit.estimate_duration``: gates, measurements, delays), plus the repetition
    delay between shots. So::

        T = sum over circuits of shots * (duration(circuit) + rep_delay)

    This is the time the device is busy with the circuits, not the service's queue wait (see
    :meth:`~parsl_quantum.providers.qpu_session.QPUSessionProvider.observed_queue_wait_s`) nor its
    per-job overhead.

    Parameters
    ----------
    circuits
        A circuit or a sequence of them.
    backend
        The device (``qpu_backend(name)``); a fake backend's ``Target`` holds its device's durations.
    shots
        Shots per circuit.
    rep_delay_s
        Delay between shots; default: the backend's ``default_rep_delay`` (250 us when it has none).
    optimization_level, seed_transpiler
        For transpiling circuits that are not yet ISA circuits of ``backend``.

    Raises
    ------
    ValueError
        For ``shots < 1``.
    """
    from parsl_quantum.devices.qpu import qpu_timing

    if shots < 1:
        raise ValueError(f"shots must be at least 1, got {shots}")
    durations = isa_durations_s(
        circuits, backend, optimization_level=optimization_level, seed_transpiler=seed_transpiler
    )
    rep_delay = qpu_timing(backend).repetition_delay if rep_delay_s is None else rep_delay_s
    return float(sum(shots * (duration + rep_delay) for duration in durations))


def isa_durations_s(
    circuits: QuantumCircuit | Sequence[QuantumCircuit],
    backend: BackendV2,
    *,
    optimization_level: int = 2,
    seed_transpiler: int | None = None,
) -> list[float]:
    """Seconds one shot of each circuit lasts on ``backend``: its critical path, every instruction at the
    duration the ``Target`` gives it on its qubits (``QuantumCircuit.estimate_duration``).

    Circuits that are not yet ISA circuits of ``backend`` are transpiled for it first (``optimization_level``,
    ``seed_transpiler``); ISA circuits are taken as they are.
    """
    from qiskit import QuantumCircuit
    from qiskit.transpiler import generate_preset_pass_manager

    batch = [circuits] if isinstance(circuits, QuantumCircuit) else list(circuits)
    target = backend.target
    native = set(target.operation_names) | {"barrier", "delay"}
    pending = [
        i
        for i, qc in enumerate(batch)
        if qc.layout is None or qc.num_qubits != backend.num_qubits or not set(qc.count_ops()) <= native
    ]
    if pending:
        pm = generate_preset_pass_manager(
            optimization_level=optimization_level, backend=backend, seed_transpiler=seed_transpiler
        )
        for i, isa in zip(pending, pm.run([batch[i] for i in pending]), strict=True):
            batch[i] = isa
    return [float(qc.estimate_duration(target, unit="s")) for qc in batch]
