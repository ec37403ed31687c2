"""Devices: one adapter per backend (Aer, Lightning, IBM QPUs and their fake emulators), the registry that
builds them (:func:`get_device`), backend names, hardware detection and the device errors."""

from parsl_quantum.devices.device import Device, DeviceCapabilities
from parsl_quantum.devices.registry import backend_kind, get_device, known_backends
from parsl_quantum.errors import (
    BackendError,
    CircuitParseError,
    DeviceInputError,
    GPUUnavailableError,
    NoMeasurementsError,
    ObservableError,
    ShotsRequiredError,
    TooManyQubitsError,
    UnboundParametersError,
    UnknownBackendError,
    UnsupportedOperationError,
)

__all__ = [
    "BackendError",
    "CircuitParseError",
    "Device",
    "DeviceCapabilities",
    "DeviceInputError",
    "GPUUnavailableError",
    "NoMeasurementsError",
    "ObservableError",
    "ShotsRequiredError",
    "TooManyQubitsError",
    "UnboundParametersError",
    "UnknownBackendError",
    "UnsupportedOperationError",
    "backend_kind",
    "get_device",
    "known_backends",
]
