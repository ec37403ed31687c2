"""Providers, in Parsl's sense: what acquires resources. Pilot descriptions, the QPU session provider and
the IBM runtime sessions it opens.

Devices moved to :mod:`parsl_quantum.devices` and circuits to :mod:`parsl_quantum.circuits`; their old
names here still work, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from parsl_quantum.providers.pilot_description import PilotDescription
from parsl_quantum.providers.qpu_session import QPUSessionProvider

__all__ = ["PilotDescription", "QPUSessionProvider"]

_MOVED = {"PackedCircuits": "parsl_quantum.circuits"}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        devices = importlib.import_module("parsl_quantum.devices")
        if name not in devices.__all__:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        module = "parsl_quantum.devices"
    warnings.warn(
        f"parsl_quantum.providers.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2
    )
    if name == "PackedCircuits":
        name = "QpyCircuits"
    return getattr(importlib.import_module(module), name)
