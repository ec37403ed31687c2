"""What a ``qml_training`` fit returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TrainingResult:
    """What :meth:`QMLTrainingApp.fit` returns.

    Attributes
    ----------
    params
        The trained parameters.
    loss_history
        Mean loss of each step's minibatch, at the parameters before that step's update.
    epoch_losses
        Mean loss of each epoch's samples (over the steps of the epoch, as the parameters moved).
    epochs, steps
        Epochs and optimisation steps run.
    shards
        Shards (quantum tasks) of each step.
    train_loss, train_accuracy
        Mean loss and accuracy on the whole training set with the trained parameters (accuracy ``None``
        unless the labels take exactly two values).
    val_loss, val_accuracy
        The same on the validation set, ``None`` without one.
    classes
        The two label values (sorted) for binary labels, else ``None``; pass to
        :meth:`QMLTrainingApp.predict` to get labels.
    quantum_s
        Task-seconds of the shard tasks on the workers (gradients and the final evaluation).
    classical_s
        Seconds of classical work on the submitting host (batching, averaging, updates, scoring).
    wall_s
        Seconds from the start of training to the result.
    """

    params: np.ndarray
    loss_history: list[float]
    epoch_losses: list[float]
    epochs: int
    steps: int
    shards: list[int]
    train_loss: float
    train_accuracy: float | None
    val_loss: float | None = None
    val_accuracy: float | None = None
    classes: tuple[float, float] | None = None
    quantum_s: float = 0.0
    classical_s: float = 0.0
    wall_s: float = 0.0

    def __str__(self) -> str:
        def pct(value: float | None) -> str:
            return "n/a" if value is None else f"{100 * value:.1f}%"

        lines = [
            f"trained {self.epochs} epochs, {self.steps} steps ({sum(self.shards)} shard tasks)",
            f"  minibatch loss       {self.loss_history[0]:.4f} -> {self.loss_history[-1]:.4f}",
            f"  training set         loss {self.train_loss:.4f}, accuracy {pct(self.train_accuracy)}",
        ]
        if self.val_loss is not None:
            lines.append(
                f"  validation set       loss {self.val_loss:.4f}, accuracy {pct(self.val_accuracy)}"
            )
        lines.append(
            f"  time                 quantum {self.quantum_s:.2f} task-s, classical {self.classical_s:.2f} s,"
            f" wall {self.wall_s:.2f} s"
        )
        return "\n".join(lines)
