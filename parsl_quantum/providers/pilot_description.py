"""Pilot descriptions: what resource to acquire, how many workers, through which Parsl provider."""

from __future__ import annotations

import re
from typing import Any

import typeguard
from parsl.providers.base import ExecutionProvider
from parsl.utils import RepresentationMixin

from parsl_quantum.devices.device import KINDS
from parsl_quantum.devices.registry import backend_kind

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class PilotDescription(RepresentationMixin):
    """A request for a quantum resource that tasks late-bind to.

    A pilot is an allocation of CPU simulator workers, GPU simulator workers or a QPU access session.
    Its workers each build the pilot's device once and pass it to every task they run.

    Parameters
    ----------
    name
        Unique name of the pilot within its executor (letters, digits, ``_ . -``).
    kind
        ``"cpu"``, ``"gpu"`` or ``"qpu"``.
    backend
        The backend the workers build: ``"aer"``, ``"aer_gpu"``, ``"lightning.qubit"``,
        ``"lightning.gpu"``, ``"lightning.kokkos"``, ``"fake_<device>"`` or ``"ibm_<device>"``.
    workers
        Workers per block: parallel simulator processes for CPU pilots, one GPU each for GPU pilots,
        jobs in flight for a QPU session.
    provider
        The Parsl ``ExecutionProvider`` that acquires blocks (``SlurmProvider``, ``PBSProProvider``,
        ``KubernetesProvider``...). Default: ``LocalProvider()`` for simulators and
        :class:`~parsl_quantum.providers.qpu_session.QPUSessionProvider` for QPUs. Its
        ``init_blocks``/``min_blocks``/``max_blocks`` bound the pilot's elastic scaling.
    options
        Backend options given to :func:`~parsl_quantum.devices.get_device` on the workers
        (e.g. ``{"method": "matrix_product_state"}`` or ``{"seed_simulator": 7}``). Never put
        credentials here: IBM accounts come from the environment or a saved account.
    prefetch
        Tasks handed to each worker beyond the one it runs, so that it never idles while work waits;
        ``None`` uses the executor's setting (adaptive by default).
    qubits
        The widest circuit the pilot takes, when it should be less than (or cannot be known before its
        workers start, e.g. a GPU on a remote node) what the device reports.
    executor_options
        Extra keyword arguments for the pilot's ``HighThroughputExecutor`` (``address``,
        ``worker_init``-style settings, ``heartbeat_period``, ``launch_cmd``...).
    """

    @typeguard.typechecked
    def __init__(
        self,
        name: str,
        kind: str,
        backend: str,
        workers: int = 1,
        provider: ExecutionProvider | None = None,
        options: dict[str, Any] | None = None,
        prefetch: int | None = None,
        qubits: int | None = None,
        executor_options: dict[str, Any] | None = None,
    ) -> None:
        if not _NAME.match(name):
            raise ValueError(f"pilot name {name!r} must be letters, digits, '_', '.' or '-'")
        if kind not in KINDS:
            raise ValueError(f"pilot '{name}': kind must be one of {KINDS}, got {kind!r}")
        native = backend_kind(backend)
        if native != kind and not (backend == "lightning.kokkos" and kind == "gpu"):
            raise ValueError(
                f"pilot '{name}': backend '{backend}' is a {native} backend, not {kind}; "
                f"use kind={native!r} or a {kind} backend"
            )
        if workers < 1:
            raise ValueError(f"pilot '{name}': workers must be at least 1, got {workers}")
        if prefetch is not None and prefetch < 0:
            raise ValueError(f"pilot '{name}': prefetch must be >= 0, got {prefetch}")
        if qubits is not None and qubits < 1:
            raise ValueError(f"pilot '{name}': qubits must be >= 1, got {qubits}")
        self.name = name
        self.kind = kind
        self.backend = backend
        self.workers = workers
        self.provider = provider
        self.options = dict(options or {})
        self.prefetch = prefetch
        self.qubits = qubits
        self.executor_options = dict(executor_options or {})

    def resolved_provider(self) -> ExecutionProvider:
        """The provider to use: the one given, or the default for this pilot's kind."""
        if self.provider is not None:
            return self.provider
        if self.kind == "qpu":
            from parsl_quantum.providers.qpu_session import QPUSessionProvider

            # A real device's block opens a runtime session that its workers attach to.
            return QPUSessionProvider(backend=self.backend if self.backend.startswith("ibm_") else None)
        from parsl.providers import LocalProvider

        return LocalProvider(init_blocks=1, min_blocks=0, max_blocks=1)
