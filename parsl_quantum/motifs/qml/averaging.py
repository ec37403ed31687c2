"""How a QML step's shard results become one: each shard task returns the sums of its samples' losses and
gradients, and the step's mean is their total over the sample count (exactly the minibatch's mean, whatever
the shard sizes); outputs are joined in input order."""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from parsl_quantum.motifs.qml.errors import QMLTrainingError


def collect(futures: Sequence[Future], where: str, what: str, step: int | None) -> list[Any]:
    """The results of done shard futures, in order.

    Raises
    ------
    QMLTrainingError
        For the first shard that failed, naming the step and the shard.
    """
    for index, future in enumerate(futures):
        exc = future.exception()
        if exc is not None:
            at = f"step {step}, " if step is not None else ""
            raise QMLTrainingError(
                f"{where}: {at}{what} shard {index + 1} of {len(futures)} failed: "
                f"{type(exc).__name__}: {exc}",
                step,
            ) from exc
    return [future.result() for future in futures]


def mean_loss_and_gradient(
    results: Sequence[tuple[float, np.ndarray, int, float]],
) -> tuple[float, np.ndarray]:
    """Mean loss and gradient of the samples of all shards: the shards' sums over the sample count."""
    count = sum(r[2] for r in results)
    loss = math.fsum(r[0] for r in results)
    grad = np.sum([r[1] for r in results], axis=0)
    return loss / count, grad / count


def joined_outputs(results: Sequence[tuple[np.ndarray, float]]) -> np.ndarray:
    """The shards' outputs, one after the other (the shards are contiguous slices of the inputs)."""
    return np.concatenate([np.asarray(r[0], dtype=float) for r in results], axis=0)
