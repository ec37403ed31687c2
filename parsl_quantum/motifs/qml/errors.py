"""The errors a ``qml_training`` app raises: bad input (before any task), or a failure while training."""

from __future__ import annotations


class QMLTrainingInputError(ValueError):
    """The data, parameters or settings given to a ``qml_training`` app cannot be used (the message says
    which and why)."""


class QMLTrainingError(RuntimeError):
    """Training or prediction failed on a worker, or diverged; the message names the step and shard.

    Attributes
    ----------
    step
        The optimisation step (0-based) that failed, or ``None`` outside training.
    """

    def __init__(self, message: str, step: int | None = None) -> None:
        super().__init__(message)
        self.step = step
