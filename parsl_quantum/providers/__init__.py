"""Resource layer: devices (one adapter per backend), pilot descriptions and QPU sessions."""

from parsl_quantum.providers.circuits import PackedCircuits
from parsl_quantum.providers.device import Device, DeviceCapabilities
from parsl_quantum.providers.errors import (
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
)
from parsl_quantum.providers.pilot import PilotDescription
from parsl_quantum.providers.qpu_session import QPUSessionProvider
from parsl_quantum.providers.registry import backend_kind, get_device, known_backends

__all__ = [
    "BackendError",
    "CircuitParseError",
    "Device",
    "DeviceCapabilities",
    "DeviceInputError",
    "GPUUnavailableError",
    "NoMeasurementsError",
    "ObservableError",
    "PackedCircuits",
    "PilotDescription",
    "QPUSessionProvider",
    "ShotsRequiredError",
    "TooManyQubitsError",
    "UnboundParametersError",
    "UnknownBackendError",
    "backend_kind",
    "get_device",
    "known_backends",
]
