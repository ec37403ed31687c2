"""Expected task runtimes per pilot, learned online and seeded by performance models.

A task's *signature* groups tasks expected to take the same time (function, qubits, shots). The
estimator keeps an exponentially weighted mean of observed runtimes per signature and pilot, and per
pilot over all signatures. Where it has seen nothing, it asks a *prior*: a function of
``(signature_info, pilot_name)`` such as Q-Dreamer's calibrated models.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

Prior = Callable[["SignatureInfo", str], float | None]


@dataclass(frozen=True)
class SignatureInfo:
    """What a prior may use to predict a runtime.

    Attributes
    ----------
    signature
        The grouping key (``name/qubits/shots``).
    name
        The task function's name.
    qubits, shots
        The task's requirements.
    """

    signature: str
    name: str
    qubits: int
    shots: int | None


def signature_of(name: str, qubits: int, shots: int | None) -> SignatureInfo:
    """The signature of a task from its function name and requirements."""
    return SignatureInfo(f"{name}/{qubits}/{shots}", name, qubits, shots)


class RuntimeEstimator:
    """Exponentially weighted runtime means per (signature, pilot) and per pilot.

    Parameters
    ----------
    alpha
        Weight of a new observation (0 < alpha <= 1).
    prior
        Prediction used where nothing was observed yet; ``None`` for no prior.
    """

    def __init__(self, alpha: float = 0.3, prior: Prior | None = None) -> None:
        self.alpha = alpha
        self.prior = prior
        self._by_signature: dict[tuple[str, str], float] = {}
        self._by_pilot: dict[str, float] = {}
        self._lock = threading.Lock()

    def _blend(self, table: dict, key: object, seconds: float) -> None:
        old = table.get(key)
        table[key] = seconds if old is None else (1 - self.alpha) * old + self.alpha * seconds

    def observe(self, info: SignatureInfo, pilot: str, seconds: float) -> None:
        """Record that a task of signature ``info`` ran ``seconds`` on ``pilot``."""
        with self._lock:
            self._blend(self._by_signature, (info.signature, pilot), seconds)
            self._blend(self._by_pilot, pilot, seconds)

    def predict(self, info: SignatureInfo, pilot: str) -> float | None:
        """Expected runtime of a task of signature ``info`` on ``pilot`` (``None`` if unknown)."""
        with self._lock:
            seen = self._by_signature.get((info.signature, pilot))
        if seen is not None:
            return seen
        if self.prior is not None:
            guess = self.prior(info, pilot)
            if guess is not None:
                return guess
        with self._lock:
            return self._by_pilot.get(pilot)

    def pilot_mean(self, pilot: str) -> float | None:
        """Mean runtime of any task observed on ``pilot``."""
        with self._lock:
            return self._by_pilot.get(pilot)
