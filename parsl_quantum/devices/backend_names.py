"""Backend names and their kinds: a leaf module that every device adapter may import.

It imports nothing of the package but its errors, so the registry (which builds devices) and the
adapters (which need the names) do not import each other.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType

from parsl_quantum.errors import UnknownBackendError

#: Simulator backend name -> kind (read-only).
SIMULATOR_KINDS: Mapping[str, str] = MappingProxyType(
    {
        "aer": "cpu",
        "aer_gpu": "gpu",
        "lightning.qubit": "cpu",
        "lightning.kokkos": "cpu",
        "lightning.gpu": "gpu",
    }
)


@functools.cache  # an immutable table computed once; a race only computes it twice
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
