"""Named errors of the resource layer.

Each error's message names the problem: the circuit, the device, the limit and the value that broke it.
Errors that are the caller's fault derive from :class:`DeviceInputError` (a ``ValueError``); faults of a
backend that are not the task's fault derive from :class:`BackendError`, which the executor answers by
failing the pilot over instead of failing the task.
"""

from __future__ import annotations


class DeviceInputError(ValueError):
    """A circuit, observable or argument that a device cannot accept."""


class UnknownBackendError(DeviceInputError):
    """A backend name that is not one of the known backends."""


class TooManyQubitsError(DeviceInputError):
    """A circuit wider than the device."""


class CircuitParseError(DeviceInputError):
    """An OpenQASM string that does not parse, or an object that is not a circuit."""


class NoMeasurementsError(DeviceInputError):
    """``sample`` of a circuit that measures nothing."""


class ObservableError(DeviceInputError):
    """An observable that is malformed or does not match its circuit's width."""


class ShotsRequiredError(DeviceInputError):
    """An estimate on a device that cannot give exact values, asked without shots."""


class UnboundParametersError(DeviceInputError):
    """A circuit with free parameters given to a device to run."""


class UnsupportedOperationError(DeviceInputError):
    """A circuit operation that a device cannot run (after decomposition)."""


class GPUUnavailableError(RuntimeError):
    """A GPU backend asked for on a machine with no usable GPU."""


class BackendError(RuntimeError):
    """A backend failure that is not the task's fault (a QPU job error, a lost session).

    The executor marks the pilot that raised it as failed and runs the task elsewhere.
    """


class BackendNotInstalledError(RuntimeError):
    """A backend whose Python package is not installed (the message names the package to install)."""
