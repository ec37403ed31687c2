"""``qml_training``: data-parallel training of a PennyLane model (a variational quantum classifier, say).

Coupling: tight. Every optimisation step splits its minibatch into shards; each shard is one quantum task
that runs on a pilot's PennyLane device and returns the summed loss and the summed gradient of its
samples. The submitting host averages them, weighted by shard sizes (which gives exactly the gradient of
the whole minibatch), and applies the optimiser's update (a PennyLane optimiser) before the next step can
start. Quantum work (the circuits and their gradients) runs on the pilots; classical work (batching,
averaging, the update, the accuracy figures) runs on the submitting host, in short steps started by the
tasks' futures, holding no thread while it waits (see :mod:`~parsl_quantum.motifs.qml.loop`).
``app.fit(params0, x, y)`` returns an ``AppFuture`` of a :class:`TrainingResult`; ``app.predict(params,
x)`` an ``AppFuture`` of the model's outputs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np
from parsl import python_app
from parsl.dataflow.futures import AppFuture

from parsl_quantum.executors.dfk_executors import worker_slots
from parsl_quantum.motifs.qml.averaging import collect, joined_outputs, mean_loss_and_gradient
from parsl_quantum.motifs.qml.errors import QMLTrainingError, QMLTrainingInputError
from parsl_quantum.motifs.qml.inputs import as_inputs, as_labels, as_params, check_circuit, positive_int
from parsl_quantum.motifs.qml.loop import Settings, TrainingRun
from parsl_quantum.motifs.qml.losses import decide, resolve_loss
from parsl_quantum.motifs.qml.model import ModelSpec, shard_loss_and_gradient, shard_outputs
from parsl_quantum.motifs.qml.optimizers import make_optimizer
from parsl_quantum.motifs.qml.result import TrainingResult
from parsl_quantum.motifs.quantum_app import has_futures
from parsl_quantum.motifs.task_requirements import Requirement, TaskRequirements
from parsl_quantum.motifs.waiting import background_app, when_done

__all__ = [
    "QMLTrainingApp",
    "QMLTrainingError",
    "QMLTrainingInputError",
    "TrainingResult",
    "qml_training",
]


class QMLTrainingApp:
    """A PennyLane model trained data-parallel on quantum pilots (see :func:`qml_training`).

    Parameters
    ----------
    func
        The quantum function ``func(params, x)``: applies gates and returns a measurement (of a QNode,
        its quantum function is used).
    executors
        Labels of the quantum executors the shard tasks may run on.
    wires
        Wires of the PennyLane device each task builds (a count or a sequence of labels).
    shots
        Shots per circuit; ``None`` for exact expectation values (where the backend allows).
    diff_method
        PennyLane differentiation method of the QNodes.
    loss
        ``"mse"``, ``"cross_entropy"`` or ``loss(output, target)`` written with autograd-compatible
        operations (``pennylane.numpy``); it must work elementwise on arrays when ``broadcast``.
    broadcast
        The circuit takes a batch of inputs ``x`` (shape ``(m, ...)``) at once and broadcasts over it
        (``qml.AngleEmbedding``, gates on ``x[..., i]``); one QNode call per shard instead of one per sample.
    requirements
        Task requirements (``kinds``, ``pilot``, ``priority``, ``min_fidelity``, ``walltime``): a
        :class:`TaskRequirements` or a mapping; ``qubits`` and ``shots`` come from ``wires`` and ``shots``.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        executors: Sequence[str],
        wires: int | Sequence[Any],
        shots: int | None = None,
        diff_method: str = "best",
        loss: str | Callable[[Any, Any], Any] = "mse",
        broadcast: bool = False,
        requirements: TaskRequirements | dict[str, Requirement] | None = None,
    ) -> None:
        import pennylane as qml

        if isinstance(func, qml.QNode):  # a QNode's device is not the pilot's: keep its quantum function
            func = func.func
        name = getattr(func, "__name__", "circuit")
        where = f"qml_training '{name}'"
        if not executors or isinstance(executors, str):
            raise TypeError(
                f"{where} must name its executors as a list, e.g. executors=['quantum']: Parsl sends apps "
                "without executors to a random executor"
            )
        if isinstance(wires, (int, np.integer)) and not isinstance(wires, bool):
            wires = positive_int("wires", wires, where)
            width = wires
        elif isinstance(wires, Sequence) and not isinstance(wires, str) and len(wires) > 0:
            wires = tuple(wires)
            width = len(wires)
        else:
            raise QMLTrainingInputError(
                f"{where}: wires must be a positive count or a sequence of labels, got {wires!r}"
            )
        if shots is not None:
            shots = positive_int("shots", shots, where)
        if not isinstance(diff_method, str):
            raise QMLTrainingInputError(
                f"{where}: diff_method must be a PennyLane method name, got {diff_method!r}"
            )
        resolve_loss(loss)
        if not isinstance(requirements, TaskRequirements):
            requirements = TaskRequirements.from_mapping(dict(requirements or {}), where)
        for key in ("qubits", "shots"):
            if getattr(requirements, key) is not None:
                raise TypeError(f"{where}: '{key}' comes from wires= and shots=, not a requirement")
        functools.update_wrapper(self, func)
        self.func = func
        self.name = name
        self.executors = list(executors)
        self.wires = wires
        self.shots = shots
        self.diff_method = diff_method
        self.loss = loss
        self.broadcast = bool(broadcast)
        self.requirements = requirements.replace(qubits=width, shots=shots)

        def gradient(payload: bytes, params: np.ndarray, x: np.ndarray, y: np.ndarray, *, device: Any) -> Any:
            return shard_loss_and_gradient(payload, params, x, y, device=device)

        def outputs(payload: bytes, params: np.ndarray, x: np.ndarray, *, device: Any) -> Any:
            return shard_outputs(payload, params, x, device=device)

        gradient.__name__ = gradient.__qualname__ = f"{name}_gradient"
        outputs.__name__ = outputs.__qualname__ = f"{name}_outputs"
        self._gradient_app = python_app(gradient, executors=self.executors)
        self._outputs_app = python_app(outputs, executors=self.executors)

    @property
    def where(self) -> str:
        """How messages name this app."""
        return f"qml_training '{self.name}'"

    def spec(self) -> ModelSpec:
        """The model as the workers see it."""
        return ModelSpec(self.func, self.wires, self.shots, self.diff_method, self.loss, self.broadcast)

    # -- checks on the submitting host ----------------------------------------------------------------------
    def check_circuit(self, params: np.ndarray, x: np.ndarray) -> None:
        """Build the circuit's tape for the first input(s) and check it against the settings (see
        :func:`~parsl_quantum.motifs.qml.inputs.check_circuit`)."""
        check_circuit(self.func, self.wires, self.loss, self.broadcast, params, x, self.where)

    def check_data(self, params: Any, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Parameters, inputs and labels as arrays, checked against each other and the circuit."""
        params = as_params(params, self.where)
        x = as_inputs(x, self.where)
        labels = as_labels(x, y, self.where, self.loss)
        self.check_circuit(params, x)
        return params, x, labels

    # -- shard tasks ----------------------------------------------------------------------------------------
    def _parts(self, samples: int, shards: int | None) -> list[np.ndarray]:
        count = max(1, min(samples, shards if shards is not None else worker_slots(self.executors)))
        return np.array_split(np.arange(samples), count)

    def submit_gradients(
        self, payload: bytes, params: np.ndarray, x: np.ndarray, y: np.ndarray, shards: int | None
    ) -> list[AppFuture]:
        """One task per shard of ``(x, y)``, each of ``(loss sum, gradient sum, samples, seconds)``."""
        spec = self.requirements.specification()
        return [
            self._gradient_app(payload, params, x[i], y[i], parsl_resource_specification=dict(spec))
            for i in self._parts(len(x), shards)
        ]

    def submit_outputs(
        self, payload: bytes, params: np.ndarray, x: np.ndarray, shards: int | None
    ) -> list[AppFuture]:
        """One task per contiguous shard of ``x``, each of ``(outputs, seconds)``."""
        spec = self.requirements.specification()
        return [
            self._outputs_app(payload, params, x[i], parsl_resource_specification=dict(spec))
            for i in self._parts(len(x), shards)
        ]

    # -- public operations --------------------------------------------------------------------------------
    def loss_and_gradient(self, params: Any, x: Any, y: Any, *, shards: int | None = None) -> AppFuture:
        """Mean loss and gradient over ``(x, y)``, computed as ``shards`` parallel tasks and averaged.

        Parameters
        ----------
        params, x, y
            Parameters, inputs (one per row) and labels (values or futures).
        shards
            Tasks to split the samples into (default: the connected workers of the executors).

        Returns
        -------
        AppFuture
            Of ``(loss, gradient)``; the gradient has the shape of ``params``.
        """
        if shards is not None:
            positive_int("shards", shards, self.where)
        if not has_futures((params, x, y), {}):
            self.check_data(params, x, y)

        def start(params: Any, x: Any, y: Any) -> Future:
            params, x, y = self.check_data(params, x, y)
            futures = self.submit_gradients(self.spec().pack(), params, x, y, shards)
            return when_done(
                futures,
                lambda done: mean_loss_and_gradient(collect(done, self.where, "gradient", None)),
                f"{self.name}_mean_gradient",
            )

        return background_app(start, f"{self.name}_loss_and_gradient")(params, x, y)

    def predict(
        self, params: Any, x: Any, *, classes: Sequence[float] | None = None, shards: int | None = None
    ) -> AppFuture:
        """The model's outputs on ``x`` (an ensemble of shard tasks), or class labels.

        Parameters
        ----------
        params, x
            Parameters and inputs (values or futures).
        classes
            The two label values (e.g. ``TrainingResult.classes``): return labels instead of outputs (see
            :func:`decide`).
        shards
            Tasks to split the inputs into (default: the connected workers of the executors).

        Returns
        -------
        AppFuture
            Of a numpy array with one output (or label) per input.
        """
        if shards is not None:
            positive_int("shards", shards, self.where)
        if classes is not None and len(set(classes)) != 2:
            raise QMLTrainingInputError(
                f"{self.where}: classes must be two distinct label values, got {classes!r}"
            )
        if not has_futures((params, x), {}):
            self.check_circuit(as_params(params, self.where), as_inputs(x, self.where))

        def start(params: Any, x: Any) -> Future:
            params, x = as_params(params, self.where), as_inputs(x, self.where)
            self.check_circuit(params, x)
            futures = self.submit_outputs(self.spec().pack(), params, x, shards)

            def finish(done: list[Future]) -> np.ndarray:
                outputs = joined_outputs(collect(done, self.where, "outputs", None))
                return outputs if classes is None else decide(outputs, classes, self.loss)

            return when_done(futures, finish, f"{self.name}_join_outputs")

        return background_app(start, f"{self.name}_predict")(params, x)

    def fit(
        self,
        params0: Any,
        x: Any,
        y: Any,
        *,
        epochs: int = 10,
        batch_size: int | None = 32,
        shards: int | None = None,
        optimizer: str | Any = "adam",
        learning_rate: float = 0.05,
        seed: int | None = None,
        validation: tuple[Any, Any] | None = None,
    ) -> AppFuture:
        """Train the parameters by minibatch gradient descent, each minibatch's gradient data-parallel.

        Each epoch shuffles the training set (with ``seed``) and walks it in minibatches of ``batch_size``
        (the last one may be smaller). Each step splits its minibatch into ``shards`` quantum tasks, waits
        for them, averages their gradients weighted by shard size (exactly the minibatch gradient) and
        updates the parameters. At the end the loss and accuracy on the training (and validation) set are
        computed with the trained parameters.

        The loop runs on the submitting host as a chain of short steps, each started when its shards are
        done (:class:`~parsl_quantum.motifs.qml.loop.TrainingRun`): the call returns at once, and no
        thread is held while the loop waits, so many fits may run at once.

        Parameters
        ----------
        params0
            Initial parameters (an array of any shape the circuit takes; value or future).
        x, y
            Training inputs (one per row) and labels (``{-1, +1}`` for ``mse`` classification, ``{0, 1}``
            for ``cross_entropy``, any numbers for regression with ``mse``); values or futures.
        epochs
            Passes over the training set.
        batch_size
            Samples per step; ``None`` for the whole training set (full-batch gradient descent).
        shards
            Quantum tasks per step; ``None`` uses the connected workers of the executors, re-read every
            step (so workers that join later are used). Never more than the samples of the minibatch.
        optimizer
            A name (``"adam"``, ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``:
            PennyLane's optimiser of that kind), or a PennyLane gradient-descent optimiser instance
            (``qml.AdamOptimizer(0.05)``...), whose state is kept from one fit to the next.
        learning_rate
            Step size (``stepsize``) of a named optimizer.
        seed
            Seed of the shuffling; with exact expectation values (no shots) training is then deterministic.
        validation
            ``(x_val, y_val)`` to score after training.

        Returns
        -------
        AppFuture
            Of a :class:`TrainingResult`.

        Raises
        ------
        QMLTrainingInputError
            For bad settings or data (x and y of different lengths, a circuit on more wires than
            ``wires``...): at once for values, through the future when they are futures.
        QMLTrainingError
            Through the future, when a shard task fails (naming the step and shard) or the loss is not finite.
        """
        epochs = positive_int("epochs", epochs, self.where)
        if batch_size is not None:
            batch_size = positive_int("batch_size", batch_size, self.where)
        if shards is not None:
            shards = positive_int("shards", shards, self.where)
        if not (
            isinstance(learning_rate, (int, float)) and learning_rate > 0 and math.isfinite(learning_rate)
        ):
            raise QMLTrainingInputError(
                f"{self.where}: learning_rate must be a positive number, got {learning_rate!r}"
            )
        make_optimizer(optimizer, learning_rate)  # check the name now
        if validation is not None and (not isinstance(validation, (tuple, list)) or len(validation) != 2):
            raise QMLTrainingInputError(f"{self.where}: validation must be a pair (x_val, y_val)")
        x_val, y_val = validation if validation is not None else (None, None)
        if not has_futures((params0, x, y, x_val, y_val), {}):
            self.check_data(params0, x, y)
            if validation is not None:
                as_labels(
                    as_inputs(x_val, self.where, "x_val"), y_val, self.where, self.loss, ("x_val", "y_val")
                )

        settings = Settings(epochs, batch_size, shards, optimizer, learning_rate, seed)

        def start(params0: Any, x: Any, y: Any, x_val: Any, y_val: Any) -> Future:
            params, x, y = self.check_data(params0, x, y)
            if x_val is not None:
                x_val = as_inputs(x_val, self.where, "x_val")
                y_val = as_labels(x_val, y_val, self.where, self.loss, ("x_val", "y_val"))
            return TrainingRun(self, params, x, y, x_val, y_val, settings).start()

        return background_app(start, f"{self.name}_fit")(params0, x, y, x_val, y_val)


def qml_training(
    function: Callable[..., Any] | None = None,
    *,
    executors: Sequence[str],
    wires: int | Sequence[Any],
    shots: int | None = None,
    diff_method: str = "best",
    loss: str | Callable[[Any, Any], Any] = "mse",
    broadcast: bool = False,
    **requirements: Requirement,
) -> Any:
    """Make a PennyLane quantum function a model trained data-parallel on quantum pilots.

    Coupling: tight. Each step's minibatch is split into shards; each shard's summed loss and gradient is
    one quantum task on a pilot's PennyLane device (``device.pennylane(wires, shots=shots)``); the submitting
    host averages them (weighted by shard size: exactly the minibatch gradient) and applies the optimiser
    update before the next step. ``app.fit(params0, x, y)`` returns an ``AppFuture`` of a
    :class:`TrainingResult`; ``app.predict(params, x)`` an ``AppFuture`` of the outputs;
    ``app.loss_and_gradient(params, x, y)`` one data-parallel gradient.

    Parameters
    ----------
    function
        ``function(params, x)``: applies gates for parameters ``params`` and one input ``x`` (a batch of
        inputs when ``broadcast``) and returns a measurement, e.g. ``qml.expval(qml.PauliZ(0))``.
    executors
        Labels of the quantum executors.
    wires
        Wires of the PennyLane device (a count or labels); also the tasks' ``qubits`` requirement.
    shots
        Shots per circuit; ``None`` for exact expectation values.
    diff_method
        PennyLane differentiation method: ``"best"`` lets PennyLane choose (``adjoint`` on Lightning
        without shots, parameter-shift otherwise), or name one (``"adjoint"``, ``"parameter-shift"``...).
    loss
        ``"mse"`` (labels ``{-1, +1}``, or regression targets), ``"cross_entropy"`` (labels ``{0, 1}``,
        ``P(1) = (1 + f) / 2`` of the circuit's value ``f``) or a function ``loss(output, target)``
        written with ``pennylane.numpy``.
    broadcast
        The circuit broadcasts over a batch of inputs (one QNode call per shard; faster on Lightning).
    **requirements
        Requirements of the shard tasks (``kinds``, ``pilot``, ``priority``, ``min_fidelity``,
        ``walltime``; see :class:`~parsl_quantum.motifs.task_requirements.TaskRequirements`).

    Examples
    --------
    >>> @qml_training(executors=["quantum"], wires=2)
    ... def classifier(params, x):
    ...     qml.AngleEmbedding(x, wires=[0, 1], rotation="Y")
    ...     qml.StronglyEntanglingLayers(params, wires=[0, 1])
    ...     return qml.expval(qml.PauliZ(0))
    >>> result = classifier.fit(params0, x, y, epochs=10, batch_size=16).result()  # doctest: +SKIP
    """

    def decorate(func: Callable[..., Any]) -> QMLTrainingApp:
        return QMLTrainingApp(func, executors, wires, shots, diff_method, loss, broadcast, requirements)

    return decorate(function) if function is not None else decorate
