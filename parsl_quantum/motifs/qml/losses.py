"""Losses of a ``qml_training`` model, and the class labels its outputs stand for."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from parsl_quantum.motifs.qml.errors import QMLTrainingInputError

LOSSES = ("mse", "cross_entropy")
CROSS_ENTROPY_EPS = 1e-12
"""Probabilities are clipped to ``[eps, 1 - eps]`` before the logarithm of the cross-entropy."""


def mse_loss(output: Any, target: Any) -> Any:
    """Squared error ``(output - target)**2``, elementwise (targets are usually labels in ``{-1, +1}``)."""
    return (output - target) ** 2


def cross_entropy_loss(output: Any, target: Any) -> Any:
    """Binary cross-entropy of labels in ``{0, 1}``, elementwise.

    The circuit's value ``f`` in ``[-1, 1]`` (an expectation value) gives ``P(label 1) = (1 + f) / 2``,
    clipped to ``[eps, 1 - eps]``.
    """
    from pennylane import numpy as pnp

    p = pnp.clip((1.0 + output) / 2.0, CROSS_ENTROPY_EPS, 1.0 - CROSS_ENTROPY_EPS)
    return -(target * pnp.log(p) + (1.0 - target) * pnp.log(1.0 - p))


def resolve_loss(loss: str | Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """The loss function for a loss name, or the callable itself."""
    if callable(loss):
        return loss
    if loss == "mse":
        return mse_loss
    if loss == "cross_entropy":
        return cross_entropy_loss
    raise QMLTrainingInputError(
        f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}, or pass a function"
    )


def decide(outputs: np.ndarray, classes: Sequence[float], loss: str | Callable[..., Any]) -> np.ndarray:
    """Class labels of model outputs.

    For ``cross_entropy`` the larger class is predicted where ``output >= 0`` (``P(label 1) >= 1/2``);
    otherwise the class nearest to the output (ties to the larger), i.e. a threshold halfway between
    the two labels: ``0`` for labels ``{-1, +1}``, ``0.5`` for ``{0, 1}``.
    """
    low, high = sorted(float(c) for c in classes)
    values = np.asarray(outputs, dtype=float)
    threshold = 0.0 if loss == "cross_entropy" else (low + high) / 2.0
    return np.where(values >= threshold, high, low)


def binary_classes(y: np.ndarray, loss: Any) -> tuple[float, float] | None:
    """The two label values of binary labels (always ``(0, 1)`` for cross-entropy), else ``None``."""
    if loss == "cross_entropy":
        return (0.0, 1.0)
    values = np.unique(y)
    return (float(values[0]), float(values[1])) if len(values) == 2 else None


def score(
    outputs: np.ndarray, y: np.ndarray, classes: tuple[float, float] | None, loss: str | Callable[..., Any]
) -> tuple[float, float | None]:
    """Mean loss and (for binary labels and one output per input) accuracy of outputs against labels."""
    loss_fn = resolve_loss(loss)
    mean_loss = float(np.mean([np.sum(loss_fn(o, t)) for o, t in zip(outputs, y, strict=True)]))
    if classes is None or outputs.ndim != 1:
        return mean_loss, None
    return mean_loss, float(np.mean(decide(outputs, classes, loss) == y))
