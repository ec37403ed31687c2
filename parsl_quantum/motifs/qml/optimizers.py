"""The optimisers of a ``qml_training`` app: PennyLane's, applied to gradients computed on the pilots.

The gradient of a step comes from the shard tasks, so the optimiser does not evaluate anything itself: the
app calls its ``apply_grad`` (the update half of PennyLane's ``step``) with the averaged gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from parsl_quantum.motifs.qml.errors import QMLTrainingInputError

OPTIMIZERS = {
    "sgd": "GradientDescentOptimizer",
    "adam": "AdamOptimizer",
    "momentum": "MomentumOptimizer",
    "nesterov": "NesterovMomentumOptimizer",
    "adagrad": "AdagradOptimizer",
    "rmsprop": "RMSPropOptimizer",
}
"""Optimiser names and the PennyLane class each stands for (made with ``stepsize=learning_rate``)."""


def make_optimizer(optimizer: str | Any, learning_rate: float) -> Any:
    """A fresh PennyLane optimiser for a name in :data:`OPTIMIZERS`, or the PennyLane optimiser given.

    Parameters
    ----------
    optimizer
        A name, or an instance of a gradient-descent optimiser of PennyLane
        (``qml.GradientDescentOptimizer`` or a subclass such as ``qml.AdamOptimizer``); an instance keeps
        its state (e.g. Adam's moments) from one call to the next.
    learning_rate
        The ``stepsize`` of a named optimiser.

    Raises
    ------
    QMLTrainingInputError
        For an unknown name, or an optimiser that needs more than the gradient (the quantum natural
        gradient ones, which need the metric tensor).
    """
    import pennylane as qml

    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise QMLTrainingInputError(
                f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}, or pass a "
                "PennyLane gradient-descent optimizer such as qml.AdamOptimizer(0.05)"
            )
        return getattr(qml, OPTIMIZERS[optimizer])(stepsize=learning_rate)
    if isinstance(optimizer, qml.GradientDescentOptimizer) and not isinstance(optimizer, qml.QNGOptimizer):
        return optimizer
    raise QMLTrainingInputError(
        f"optimizer must be one of {', '.join(OPTIMIZERS)} or a PennyLane gradient-descent optimizer "
        f"(qml.GradientDescentOptimizer or a subclass, the quantum natural gradient ones excepted), "
        f"got {optimizer!r}"
    )


def apply_gradient(optimizer: Any, params: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """The parameters after one update of ``optimizer`` with the gradient ``grad`` (its state advances)."""
    from pennylane import numpy as pnp

    (updated,) = optimizer.apply_grad(
        (np.asarray(grad, dtype=float),), (pnp.array(params, requires_grad=True),)
    )
    return np.asarray(updated, dtype=float)
