"""IBM Quantum devices through qiskit-ibm-runtime: the account, the session, the sampler.

The account comes from the environment (``QISKIT_IBM_TOKEN``, ``QISKIT_IBM_INSTANCE``,
``QISKIT_IBM_CHANNEL``) or from the account saved with ``QiskitRuntimeService.save_account``; the token
is never an option of a pilot, so it is never printed with a configuration or written to a log.

:class:`RuntimeSamplerRunner` runs ISA circuits through the runtime's client-side ``Sampler``. With a real
backend it opens a session; with a fake backend the runtime runs in its local testing mode, which is how
the tests exercise this code path offline.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from parsl_quantum.providers.errors import BackendError

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.providers import BackendV2

logger = logging.getLogger(__name__)

_ENV = {"token": "QISKIT_IBM_TOKEN", "instance": "QISKIT_IBM_INSTANCE", "channel": "QISKIT_IBM_CHANNEL"}


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


def is_local(backend: BackendV2) -> bool:
    """Whether ``backend`` is an offline fake backend (the runtime then runs in local testing mode)."""
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    return isinstance(backend, FakeBackendV2)


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

    Parameters
    ----------
    backend
        A real ``IBMBackend`` or a fake backend (local testing mode).
    session_max_time
        Seconds a session may stay open (real devices; ``None`` for the service default).
    """

    def __init__(self, backend: BackendV2, session_max_time: int | None = None) -> None:
        self._backend = backend
        self._session_max_time = session_max_time
        self._session: Any = None

    def _mode(self) -> Any:
        if is_local(self._backend):
            return self._backend
        if self._session is None:
            from qiskit_ibm_runtime import Session

            self._session = Session(backend=self._backend, max_time=self._session_max_time)
            logger.info("opened IBM Quantum session %s on %s", self._session.session_id, self._backend.name)
        return self._session

    def run(self, circuits: list[QuantumCircuit], shots: int) -> list[dict[str, int]]:
        """Counts of ISA circuits; backend faults are raised as :class:`BackendError`."""
        from qiskit_ibm_runtime.exceptions import IBMError
        from qiskit_ibm_runtime.executor_sampler import Sampler

        try:
            result = Sampler(mode=self._mode()).run(circuits, shots=shots).result()
        except IBMError as exc:
            self._session = None  # a failed session is not reused
            raise BackendError(f"IBM Quantum job on '{self._backend.name}' failed: {exc}") from exc
        except (ConnectionError, TimeoutError) as exc:
            self._session = None
            raise BackendError(f"lost connection to '{self._backend.name}': {exc}") from exc
        return [counts_from_pub(r, qc) for r, qc in zip(result, circuits, strict=True)]

    def close(self) -> None:
        """Close the session, if one is open."""
        if self._session is not None:
            self._session.close()
            self._session = None
