"""The model of a ``qml_training`` app as it travels to the workers, and what the workers do with it.

:class:`ModelSpec` is what a shard task needs: the user's circuit and how to run and score it. It is
pickled with dill (``recurse``: only the globals the circuit uses), so a circuit defined in a script run
as ``__main__`` (a mini-app) works on workers that cannot import that script; circuits of importable
modules travel as references. :func:`shard_loss_and_gradient` and :func:`shard_outputs` run on a worker,
on the pilot's PennyLane device.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from parsl_quantum.motifs.qml.losses import resolve_loss


@dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to evaluate the model: the circuit and how to run and score it.

    Attributes
    ----------
    circuit
        The PennyLane quantum function ``circuit(params, x)``.
    wires
        Wires of the PennyLane device (a count or labels).
    shots
        Shots per circuit; ``None`` for exact values.
    diff_method
        PennyLane's differentiation method (``"best"``, ``"adjoint"``, ``"parameter-shift"``...).
    loss
        ``"mse"``, ``"cross_entropy"`` or a function ``loss(output, target)``.
    broadcast
        Whether the circuit takes a whole batch of inputs at once (PennyLane parameter broadcasting).
    """

    circuit: Callable[..., Any]
    wires: int | tuple[Any, ...]
    shots: int | None
    diff_method: str
    loss: str | Callable[[Any, Any], Any]
    broadcast: bool

    def qnode(self, device: Any) -> Any:
        """A QNode of the circuit on the pilot device's PennyLane device."""
        import pennylane as qml

        return qml.QNode(
            self.circuit, device.pennylane(self.wires, shots=self.shots), diff_method=self.diff_method
        )

    def pack(self) -> bytes:
        """Pickle with dill, by value where needed (see the module documentation)."""
        import dill

        return dill.dumps(self, recurse=True)

    @staticmethod
    def unpack(payload: bytes) -> ModelSpec:
        """The spec :meth:`pack` packed."""
        import dill

        return dill.loads(payload)


def _total_loss(spec: ModelSpec, qnode: Any, params: Any, x: np.ndarray, y: np.ndarray) -> Any:
    """Sum of the loss over the samples (differentiable in ``params``)."""
    from pennylane import numpy as pnp

    loss = resolve_loss(spec.loss)
    if spec.broadcast:
        return pnp.sum(loss(qnode(params, x), y))
    total = 0.0
    for sample, target in zip(x, y, strict=True):
        total = total + pnp.sum(loss(qnode(params, sample), target))
    return total


def shard_loss_and_gradient(
    payload: bytes, params: np.ndarray, x: np.ndarray, y: np.ndarray, *, device: Any
) -> tuple[float, np.ndarray, int, float]:
    """One shard's summed loss and summed gradient (runs on a worker).

    Returns
    -------
    tuple
        ``(loss_sum, grad_sum, samples, seconds)``: the gradient has the shape of ``params``; seconds is
        the time the shard took on the worker.
    """
    import pennylane as qml
    from pennylane import numpy as pnp

    start = time.perf_counter()
    spec = ModelSpec.unpack(payload)
    qnode = spec.qnode(device)
    grad_fn = qml.grad(functools.partial(_total_loss, spec, qnode, x=x, y=y))
    grad = grad_fn(pnp.array(params, requires_grad=True))
    value = float(np.asarray(grad_fn.forward))
    return value, np.asarray(grad, dtype=float), len(x), time.perf_counter() - start


def shard_outputs(
    payload: bytes, params: np.ndarray, x: np.ndarray, *, device: Any
) -> tuple[np.ndarray, float]:
    """The model's outputs on one shard of inputs (runs on a worker); ``(outputs, seconds)``."""
    start = time.perf_counter()
    spec = ModelSpec.unpack(payload)
    qnode = spec.qnode(device)
    params = np.asarray(params)
    if spec.broadcast:
        outputs = np.asarray(qnode(params, x), dtype=float)
    else:
        outputs = np.array([np.asarray(qnode(params, sample), dtype=float) for sample in x])
    return outputs, time.perf_counter() - start
