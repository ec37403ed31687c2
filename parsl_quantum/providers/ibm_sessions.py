"""IBM runtime sessions, opened and closed on the submit side for a QPU pilot's blocks.

:class:`~parsl_quantum.providers.qpu_session.QPUSessionProvider` opens one per block with
:func:`open_session`; the block's workers attach to it through
:func:`~parsl_quantum.devices.ibm_runtime.attach_session`.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from parsl_quantum.devices.ibm_runtime import is_local, mode_class, qpu_backend
from parsl_quantum.errors import BackendError

logger = logging.getLogger(__name__)


class RuntimeSession:
    """A qiskit-ibm-runtime ``Session`` or ``Batch`` opened by the submit side for one QPU block.

    Attributes
    ----------
    mode
        ``"session"`` or ``"batch"``.
    backend_name
        The device it runs on.
    session_id
        The service's id of the session, or ``local-<uuid>`` in local testing mode (which has none).
    local
        Whether it is a local testing mode session (a fake backend).
    opened_at, closed_at
        Wall-clock times (``time.time()``); ``closed_at`` is ``None`` while it is open.
    """

    def __init__(self, mode: str, backend_name: str, handle: Any, local: bool) -> None:
        self.mode = mode
        self.backend_name = backend_name
        self.local = local
        self._handle = handle
        self.session_id: str = handle.session_id or f"local-{uuid.uuid4().hex}"
        self.opened_at = time.time()
        self.closed_at: float | None = None

    @property
    def spec(self) -> str:
        """``<mode>:<session id>``, what the block's workers receive in :data:`SESSION_ENV`."""
        return f"{self.mode}:{self.session_id}"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self.closed_at is not None

    def close(self) -> None:
        """Close the session on the service (no new jobs; those queued still run); idempotent."""
        if self.closed:
            return
        self.closed_at = time.time()
        try:
            self._handle.close()
        except Exception as exc:  # a lost connection must not keep the block from being released
            logger.warning("closing QPU %s %s failed (%s)", self.mode, self.session_id, type(exc).__name__)
        logger.info("closed QPU %s %s on %s", self.mode, self.session_id, self.backend_name)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<RuntimeSession {self.mode} {self.session_id} on {self.backend_name} {state}>"


def open_session(backend_name: str, mode: str = "session", max_time: int | None = None) -> RuntimeSession:
    """Open a ``Session`` or ``Batch`` on the QPU ``backend_name`` (local testing mode for ``fake_*``).

    Parameters
    ----------
    backend_name
        ``ibm_<device>`` or ``fake_<device>``.
    mode
        ``"session"`` (dedicated) or ``"batch"``.
    max_time
        Seconds the service keeps it open at most (``None``: the service's default).

    Raises
    ------
    BackendError
        If the device cannot be reached or the service refuses the session (the message names the
        exception's type only: a token must never reach a log).
    """
    cls = mode_class(mode)
    backend = qpu_backend(backend_name)
    try:
        handle = cls(backend=backend, max_time=max_time)
    except Exception as exc:
        raise BackendError(f"cannot open a QPU {mode} on '{backend_name}' ({type(exc).__name__})") from None
    session = RuntimeSession(mode, backend_name, handle, local=is_local(backend))
    logger.info("opened QPU %s %s on %s", mode, session.session_id, backend_name)
    return session
