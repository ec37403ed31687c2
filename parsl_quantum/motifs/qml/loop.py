"""The training loop of a ``qml_training`` app: a chain of steps, each started by its shards' futures.

A step of minibatch gradient descent needs the gradients of its shards before it can update the
parameters. Instead of a thread that waits for them, :class:`TrainingRun` is a small state machine: it
submits a step's shard tasks and, with :func:`~parsl_quantum.motifs.waiting.when_done`, the step that
follows them, which runs on the DataFlowKernel's internal executor once every shard is done (for the
milliseconds that averaging and the optimiser's update take), submits the next step's shards, and so on.
After the last step the outputs on the training (and validation) set are computed the same way, and the
run's plain future gets the :class:`~parsl_quantum.motifs.qml.result.TrainingResult`. While a run waits
for its tasks it holds no thread at all, so any number of fits may run at once.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from parsl_quantum.motifs.qml.averaging import collect, joined_outputs, mean_loss_and_gradient
from parsl_quantum.motifs.qml.errors import QMLTrainingError
from parsl_quantum.motifs.qml.losses import binary_classes, score
from parsl_quantum.motifs.qml.optimizers import apply_gradient, make_optimizer
from parsl_quantum.motifs.qml.result import TrainingResult
from parsl_quantum.motifs.waiting import when_done

if TYPE_CHECKING:
    from parsl_quantum.motifs.qml.training import QMLTrainingApp


@dataclass(frozen=True)
class Settings:
    """How a fit trains (see :meth:`~parsl_quantum.motifs.qml.training.QMLTrainingApp.fit`)."""

    epochs: int
    batch_size: int | None
    shards: int | None
    optimizer: Any
    learning_rate: float
    seed: int | None


@dataclass
class Tally:
    """Task-seconds of the shard tasks, and the shards of each step."""

    quantum_s: float = 0.0
    shards: list[int] = field(default_factory=list)


class TrainingRun:
    """One fit, driven by its tasks' futures (see the module documentation).

    Parameters
    ----------
    app
        The app whose shard tasks compute the gradients and outputs.
    params, x, y
        Checked initial parameters, inputs and labels.
    x_val, y_val
        Checked validation set, or ``None``.
    settings
        How to train.
    """

    def __init__(
        self,
        app: QMLTrainingApp,
        params: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray | None,
        y_val: np.ndarray | None,
        settings: Settings,
    ) -> None:
        self.app = app
        self.params = params
        self.x, self.y, self.x_val, self.y_val = x, y, x_val, y_val
        self.settings = settings
        self.payload = app.spec().pack()
        self.optimizer = make_optimizer(settings.optimizer, settings.learning_rate)
        self.rng = np.random.default_rng(settings.seed)
        self.batch = settings.batch_size or len(x)
        self.tally = Tally()
        self.history: list[float] = []
        self.epoch_losses: list[float] = []
        self.epoch = 0
        self.order = np.arange(len(x))
        self.position = 0
        self.weighted = 0.0
        self.classical_s = 0.0
        self.begin = 0.0
        self.done: Future = Future()

    def start(self) -> Future:
        """Submit the first step; a plain future of the :class:`TrainingResult`."""
        self.begin = time.perf_counter()
        self._guarded(lambda _: self._first_step())([])
        return self.done

    def _guarded(self, step: Callable[[list[Future]], None]) -> Callable[[list[Future]], None]:
        """``step`` timed as classical work, its exception failing the run."""

        def run(futures: list[Future]) -> None:
            begin = time.perf_counter()
            try:
                step(futures)
            except BaseException as exc:  # noqa: BLE001 - every failure reaches the caller's future
                if not self.done.done():
                    self.done.set_exception(exc)
            finally:
                self.classical_s += time.perf_counter() - begin

        return run

    def _first_step(self) -> None:
        self.order = self.rng.permutation(len(self.x))
        self._submit_step()

    def _submit_step(self) -> None:
        index = self.order[self.position : self.position + self.batch]
        self.position += len(index)
        futures = self.app.submit_gradients(
            self.payload, self.params, self.x[index], self.y[index], self.settings.shards
        )
        after = functools.partial(self._after_step, samples=len(index))
        when_done(futures, self._guarded(after), f"{self.app.name}_step")

    def _after_step(self, futures: list[Future], samples: int) -> None:
        step = len(self.history)
        results = collect(futures, self.app.where, "gradient", step)
        self.tally.shards.append(len(futures))
        self.tally.quantum_s += sum(r[3] for r in results)
        loss, grad = mean_loss_and_gradient(results)
        if not (math.isfinite(loss) and np.isfinite(grad).all()):
            raise QMLTrainingError(
                f"{self.app.where}: step {step}: the loss or its gradient is not finite (loss {loss}); "
                "lower the learning rate or check the loss function",
                step,
            )
        self.history.append(loss)
        self.weighted += loss * samples
        self.params = apply_gradient(self.optimizer, self.params, grad)
        if self.position >= len(self.x):  # the epoch is over
            self.epoch_losses.append(self.weighted / len(self.x))
            self.epoch += 1
            self.weighted = 0.0
            if self.epoch == self.settings.epochs:
                self._submit_evaluation()
                return
            self.order = self.rng.permutation(len(self.x))
            self.position = 0
        self._submit_step()

    def _submit_evaluation(self) -> None:
        shards = self.settings.shards
        train = self.app.submit_outputs(self.payload, self.params, self.x, shards)
        val = (
            self.app.submit_outputs(self.payload, self.params, self.x_val, shards)
            if self.x_val is not None
            else []
        )
        after = functools.partial(self._after_evaluation, train_shards=len(train))
        when_done(train + val, self._guarded(after), f"{self.app.name}_evaluate")

    def _after_evaluation(self, futures: list[Future], train_shards: int) -> None:
        train = collect(futures[:train_shards], self.app.where, "outputs", None)
        val = collect(futures[train_shards:], self.app.where, "outputs", None)
        self.tally.quantum_s += sum(r[1] for r in train + val)
        classes = binary_classes(self.y, self.app.loss)
        train_loss, train_accuracy = score(joined_outputs(train), self.y, classes, self.app.loss)
        val_loss, val_accuracy = (None, None)
        if val:
            val_loss, val_accuracy = score(joined_outputs(val), self.y_val, classes, self.app.loss)
        self.done.set_result(
            TrainingResult(
                params=self.params,
                loss_history=self.history,
                epoch_losses=self.epoch_losses,
                epochs=self.settings.epochs,
                steps=len(self.history),
                shards=self.tally.shards,
                train_loss=train_loss,
                train_accuracy=train_accuracy,
                val_loss=val_loss,
                val_accuracy=val_accuracy,
                classes=classes,
                quantum_s=self.tally.quantum_s,
                classical_s=self.classical_s,
                wall_s=time.perf_counter() - self.begin,
            )
        )
