"""Backend names, and building (once per process) the device for a name.

Known backends:

==================  ======  ==========================================================
name                kind    what runs the circuits
==================  ======  ==========================================================
``aer``             cpu     qiskit-aer on the CPU
``aer_gpu``         gpu     qiskit-aer on an NVIDIA GPU (extra ``gpu``)
``lightning.qubit`` cpu     PennyLane Lightning, C++ statevector
``lightning.kokkos`` cpu    PennyLane Lightning Kokkos (OpenMP build; GPU builds exist)
``lightning.gpu``   gpu     PennyLane Lightning GPU (cuStateVec; extra ``gpu``)
``fake_<device>``   qpu     noisy emulator of an IBM device, e.g. ``fake_torino``
``ibm_<device>``    qpu     a real IBM Quantum device, e.g. ``ibm_torino``
==================  ======  ==========================================================
"""

from __future__ import annotations

import functools
import json
import threading
from typing import Any

from parsl_quantum.providers.device import Device
from parsl_quantum.providers.errors import UnknownBackendError

SIMULATOR_KINDS = {
    "aer": "cpu",
    "aer_gpu": "gpu",
    "lightning.qubit": "cpu",
    "lightning.kokkos": "cpu",
    "lightning.gpu": "gpu",
}


@functools.cache
def fake_backend_classes() -> dict[str, type]:
    """``{"fake_torino": FakeTorino, ...}`` for every fake backend of qiskit-ibm-runtime."""
    import qiskit_ibm_runtime.fake_provider as fake_provider
    from qiskit_ibm_runtime.fake_provider.fake_backend import FakeBackendV2

    classes = {}
    for value in vars(fake_provider).values():
        if isinstance(value, type) and issubclass(value, FakeBackendV2) and value is not FakeBackendV2:
            name = getattr(value, "backend_name", None)
            if name:
                classes[name] = value
    return classes


def known_backends() -> str:
    """A one-line description of the accepted backend names, for error messages."""
    fakes = sorted(fake_backend_classes())
    shown = ", ".join(fakes[:6])
    return (
        f"{', '.join(SIMULATOR_KINDS)}, fake_<device> ({len(fakes)} devices: {shown}, ...), "
        "ibm_<device> (a real IBM Quantum device)"
    )


def backend_kind(backend: str) -> str:
    """The kind (``"cpu"``, ``"gpu"``, ``"qpu"``) of a backend name.

    Raises
    ------
    UnknownBackendError
        If ``backend`` is not a known name; the message lists the known ones.
    """
    if backend in SIMULATOR_KINDS:
        return SIMULATOR_KINDS[backend]
    if backend.startswith("ibm_") and len(backend) > 4:
        return "qpu"
    if backend.startswith("fake_"):
        if backend in fake_backend_classes():
            return "qpu"
        raise UnknownBackendError(
            f"unknown fake device '{backend}'; qiskit-ibm-runtime offers: "
            + ", ".join(sorted(fake_backend_classes()))
        )
    raise UnknownBackendError(f"unknown backend '{backend}'; known backends: {known_backends()}")


def build_device(backend: str, **options: Any) -> Device:
    """Build a new device for ``backend`` (no caching: see :func:`get_device`)."""
    backend_kind(backend)
    if backend in ("aer", "aer_gpu"):
        from parsl_quantum.providers.aer import AerDevice

        return AerDevice(backend, **options)
    if backend.startswith("lightning."):
        from parsl_quantum.providers.lightning import LightningDevice

        return LightningDevice(backend, **options)
    from parsl_quantum.providers.qpu import build_qpu

    return build_qpu(backend, **options)


class DeviceCache:
    """Devices built in this process, keyed by backend and options.

    Building a device can take seconds (a noise model, a QPU session), so a worker builds each device
    once and every later task reuses it. Concurrent callers of the same key wait for one build.
    """

    def __init__(self) -> None:
        self._devices: dict[str, Device] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    @staticmethod
    def key(backend: str, options: dict[str, Any]) -> str:
        """A stable key for a backend and its options."""
        return backend + json.dumps(options, sort_keys=True, default=repr)

    def get(self, backend: str, options: dict[str, Any]) -> Device:
        """The cached device for ``backend`` and ``options``, building it on first use."""
        key = self.key(backend, options)
        with self._lock:
            device = self._devices.get(key)
            if device is not None:
                return device
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                device = self._devices.get(key)
            if device is None:
                device = build_device(backend, **options)
                with self._lock:
                    self._devices[key] = device
        return device

    def clear(self) -> None:
        """Forget every cached device."""
        with self._lock:
            self._devices.clear()


_CACHE = DeviceCache()  # the one process-wide cache: devices are expensive and tasks reuse them


def get_device(backend: str, **options: Any) -> Device:
    """The device for ``backend``, built once per process and options, then reused.

    This is the same device a pilot's worker builds, for use outside a pilot.

    Parameters
    ----------
    backend
        A backend name (see the module documentation): ``"aer"``, ``"lightning.qubit"``,
        ``"fake_torino"``, ...
    **options
        Backend options: for ``aer`` those of ``AerSimulator`` (``method``, ``precision``,
        ``seed_simulator``...); for Lightning ``seed`` and ``mcm_method``; for QPUs
        ``optimization_level``, ``seed_transpiler``, ``seed_simulator``, ``emulation``,
        ``session_max_time``.

    Raises
    ------
    UnknownBackendError
        If the backend name is unknown (the message lists the known ones).
    GPUUnavailableError
        For a GPU backend on a machine with no usable GPU.
    """
    return _CACHE.get(backend, options)
