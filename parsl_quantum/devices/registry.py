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

import copy
import threading
from collections.abc import Hashable
from typing import Any

from parsl_quantum.devices.backend_names import (
    SIMULATOR_KINDS,
    backend_kind,
    fake_backend_classes,
    known_backends,
)
from parsl_quantum.devices.device import Device
from parsl_quantum.errors import DeviceInputError

__all__ = [
    "SIMULATOR_KINDS",
    "DeviceCache",
    "backend_kind",
    "build_device",
    "build_qpu",
    "fake_backend_classes",
    "freeze_options",
    "get_device",
    "known_backends",
]


def build_device(backend: str, **options: Any) -> Device:
    """Build a new device for ``backend`` (no caching: see :func:`get_device`)."""
    backend_kind(backend)
    if backend in ("aer", "aer_gpu"):
        from parsl_quantum.devices.aer import AerDevice

        return AerDevice(backend, **options)
    if backend.startswith("lightning."):
        from parsl_quantum.devices.lightning import LightningDevice

        return LightningDevice(backend, **options)
    return build_qpu(backend, **options)


def load_backend_class(path: str) -> type:
    """The backend class named ``"package.module:ClassName"``.

    Raises
    ------
    DeviceInputError
        If the path is malformed, cannot be imported, or does not name a Qiskit ``BackendV2`` subclass.
    """
    import importlib

    from qiskit.providers import BackendV2

    module_name, _, class_name = str(path).partition(":")
    if not module_name or not class_name:
        raise DeviceInputError(f"backend_class must be 'module:ClassName', got {path!r}")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise DeviceInputError(f"cannot import backend_class {path!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, BackendV2)):
        raise DeviceInputError(f"backend_class {path!r} is not a Qiskit BackendV2 subclass")
    return cls


def build_qpu(backend_name: str, **options: Any) -> Device:
    """Build the device for ``fake_<device>`` or ``ibm_<device>``.

    Options: ``optimization_level`` and ``seed_transpiler`` (transpiler); ``seed_simulator`` and
    ``emulation`` (``"compact"``; ``"backend_run"``, the fake backend's own ``run``; or
    ``"runtime_local"``) for emulators; ``backend_class``
    (``"module:Class"``, a fake backend of the user's own, e.g. a ``FakeBackendV2`` subclass modelling
    another device) for emulators; ``session_max_time`` (seconds) for real devices; ``packing`` and
    ``packing_spacing`` (running narrow circuits side by side, see
    :class:`~parsl_quantum.devices.qpu.QPUDevice`) for both.
    """
    from parsl_quantum.devices.emulator import CompactNoiseEmulator, emulated_qubits
    from parsl_quantum.devices.ibm_runtime import RuntimeSamplerRunner, ibm_backend
    from parsl_quantum.devices.qpu import BackendRunner, QPUDevice, Runner, fake_backend

    device_opts = {
        k: options.pop(k)
        for k in ("optimization_level", "seed_transpiler", "packing", "packing_spacing")
        if k in options
    }
    max_qubits = None
    if backend_name.startswith("fake_"):
        backend_class = options.pop("backend_class", None)
        backend = load_backend_class(backend_class)() if backend_class else fake_backend(backend_name)
        emulation = options.pop("emulation", "compact")
        seed = options.pop("seed_simulator", None)
        if emulation == "compact":
            runner: Runner = CompactNoiseEmulator(backend, seed_simulator=seed)
        elif emulation == "backend_run":
            runner = BackendRunner(backend, seed_simulator=seed)
        elif emulation == "runtime_local":
            runner = RuntimeSamplerRunner(backend)
        else:
            raise DeviceInputError(
                f"emulation must be 'compact', 'backend_run' or 'runtime_local', got {emulation!r}"
            )
        max_qubits = emulated_qubits()
    else:
        backend = ibm_backend(backend_name)
        runner = RuntimeSamplerRunner(backend, session_max_time=options.pop("session_max_time", None))
    if options:
        raise DeviceInputError(f"unknown options for backend '{backend_name}': {sorted(options)}")
    return QPUDevice(backend_name, backend, runner, max_qubits=max_qubits, **device_opts)


class _ComparedByEquality:
    """A private copy of an unhashable option value (a Qiskit Aer ``NoiseModel``), hashed by its type and
    compared with its own ``==``: equal values share a cache entry, and later changes to the caller's
    object do not change the key."""

    def __init__(self, value: Any) -> None:
        self.value = copy.deepcopy(value)

    def __hash__(self) -> int:
        return hash(type(self.value).__qualname__)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _ComparedByEquality)
            and type(other.value) is type(self.value)
            and bool(other.value == self.value)
        )


def freeze_options(value: Any, name: str = "options") -> Hashable:
    """A hashable value equal for equal options and different for different ones.

    Dicts become sorted tuples of items, lists and tuples tuples, sets frozensets, numpy arrays their
    dtype, shape and bytes; each is tagged with its type so that ``[1]`` and ``(1,)`` stay apart. Other
    hashable values are kept as they are (compared by their own ``==``); an unhashable object that
    defines ``==`` (a Qiskit Aer ``NoiseModel``) is kept as a private copy compared with it.

    Parameters
    ----------
    value
        The options (or one option's value).
    name
        The option's name, for the error message.

    Raises
    ------
    DeviceInputError
        For a value that can be neither hashed nor compared with ``==`` (comparing it to a copy of itself
        raises or does not give ``True``): the device cache could not tell whether two such options are
        equal. Build the device uncached with :func:`build_device`.
    """
    import numpy as np

    if isinstance(value, dict):
        return (
            "dict",
            tuple(sorted((str(k), freeze_options(v, f"{name}[{k!r}]")) for k, v in value.items())),
        )
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(freeze_options(v, f"{name}[{i}]") for i, v in enumerate(value)))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(freeze_options(v, name) for v in value))
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    try:
        hash(value)
        return value
    except TypeError:
        pass
    try:
        frozen = _ComparedByEquality(value)
        comparable = frozen == _ComparedByEquality(value)
    except Exception:  # deepcopy or == failed: the value cannot be keyed
        comparable = False
    if comparable:
        return frozen
    raise DeviceInputError(
        f"device option {name}={type(value).__name__} cannot be compared for caching (it is not hashable "
        "and == does not tell copies of it equal); pass a hashable value, or build an uncached device "
        "with parsl_quantum.devices.registry.build_device(backend, **options)"
    )


class DeviceCache:
    """Devices built in this process, keyed by backend and options.

    Building a device can take seconds (a noise model, a QPU session), so a worker builds each device
    once and every later task reuses it. Two calls share a device exactly when their backends and
    options are equal (:func:`freeze_options`). Concurrent callers of the same key wait for one build;
    every access is under the cache's lock.
    """

    def __init__(self) -> None:
        self._devices: dict[Hashable, Device] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    @staticmethod
    def key(backend: str, options: dict[str, Any]) -> Hashable:
        """The cache key of a backend and its options: equal exactly when both are equal."""
        return (backend, freeze_options(options))

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
            self._key_locks.clear()


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
        ``session_max_time``, ``packing`` (``None``: where it pays; ``True``; ``False``) and
        ``packing_spacing``.

    Raises
    ------
    UnknownBackendError
        If the backend name is unknown (the message lists the known ones).
    GPUUnavailableError
        For a GPU backend on a machine with no usable GPU.
    """
    return _CACHE.get(backend, options)
