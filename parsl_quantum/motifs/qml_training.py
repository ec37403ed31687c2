"""``qml_training``: data-parallel training of a PennyLane model (a variational quantum classifier, say).

Coupling: tight. Every optimisation step splits its minibatch into shards; each shard is one quantum task
that runs on a pilot's PennyLane device and returns the summed loss and the summed gradient of its
samples. The submitting host averages them, weighted by shard sizes (which gives exactly the gradient of
the whole minibatch), and applies the optimiser update before the next step can start. Quantum work (the
circuits and their gradients) runs on the pilots; classical work (batching, averaging, the update, the
accuracy figures) runs on the submitting host. ``app.fit(params0, x, y)`` returns an ``AppFuture`` of a
:class:`TrainingResult`; ``app.predict(params, x)`` an ``AppFuture`` of the model's outputs.

The user's circuit travels to the workers by value when it has to: it is pickled with dill (``recurse``:
only the globals it uses), so a circuit defined in a script run as ``__main__`` (a mini-app) works on
workers that cannot import that script; circuits of importable modules travel as references.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from parsl import join_app, python_app
from parsl.dataflow.futures import AppFuture

from parsl_quantum.executors.capacity import worker_slots
from parsl_quantum.motifs.quantum_app import check_requirements, has_futures

LOSSES = ("mse", "cross_entropy")
OPTIMIZERS = ("adam", "sgd")
CROSS_ENTROPY_EPS = 1e-12
"""Probabilities are clipped to ``[eps, 1 - eps]`` before the logarithm of the cross-entropy."""


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


# -- losses -----------------------------------------------------------------------------------------------
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


# -- the model as it travels to the workers ---------------------------------------------------------------
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


# -- optimisers -------------------------------------------------------------------------------------------
class Optimizer(Protocol):
    """What :meth:`QMLTrainingApp.fit` accepts besides a name: ``step(params, grad) -> new params``."""

    def step(self, params: np.ndarray, grad: np.ndarray) -> np.ndarray: ...


class SGD:
    """Plain gradient descent, ``params - learning_rate * grad``.

    Parameters
    ----------
    learning_rate
        Step size.
    """

    def __init__(self, learning_rate: float = 0.05) -> None:
        self.learning_rate = learning_rate

    def step(self, params: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """The updated parameters."""
        return params - self.learning_rate * grad


class Adam:
    """Adam (Kingma and Ba, 2015) with bias correction; its state lives in the instance.

    Parameters
    ----------
    learning_rate, beta1, beta2, eps
        The usual Adam settings.
    """

    def __init__(
        self, learning_rate: float = 0.05, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.t = 0
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None

    def step(self, params: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """The updated parameters (and the moment estimates advanced by one step)."""
        if self.m is None or self.v is None:
            self.m = np.zeros_like(grad)
            self.v = np.zeros_like(grad)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad**2
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        return params - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.eps)


def make_optimizer(optimizer: str | Optimizer, learning_rate: float) -> Optimizer:
    """A fresh optimiser for a name (``"adam"``, ``"sgd"``), or the object given."""
    if not isinstance(optimizer, str):
        if not callable(getattr(optimizer, "step", None)):
            raise QMLTrainingInputError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)} or have a method step(params, grad), "
                f"got {optimizer!r}"
            )
        return optimizer
    if optimizer == "adam":
        return Adam(learning_rate)
    if optimizer == "sgd":
        return SGD(learning_rate)
    raise QMLTrainingInputError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")


# -- results ----------------------------------------------------------------------------------------------
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


@dataclass
class _Tally:
    """Time spent by one fit or predict."""

    quantum_s: float = 0.0
    shards: list[int] = field(default_factory=list)


# -- input checks -----------------------------------------------------------------------------------------
def _positive_int(name: str, value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise QMLTrainingInputError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _as_inputs(x: Any, where: str, what: str = "x") -> np.ndarray:
    try:
        array = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise QMLTrainingInputError(f"{where}: {what} must be an array of numbers: {exc}") from exc
    if array.ndim == 0 or len(array) == 0:
        raise QMLTrainingInputError(f"{where}: {what} must hold at least one sample, got shape {array.shape}")
    return array


def _as_labels(
    x: np.ndarray, y: Any, where: str, loss: Any, what: tuple[str, str] = ("x", "y")
) -> np.ndarray:
    try:
        labels = np.asarray(y, dtype=float)
    except (TypeError, ValueError) as exc:
        raise QMLTrainingInputError(f"{where}: {what[1]} must be an array of numbers: {exc}") from exc
    if labels.ndim != 1:
        raise QMLTrainingInputError(
            f"{where}: {what[1]} must be one label per sample (1-D), got shape {labels.shape}"
        )
    if len(labels) != len(x):
        raise QMLTrainingInputError(
            f"{where}: {what[0]} and {what[1]} differ in length: {what[0]} has {len(x)} samples, "
            f"{what[1]} has {len(labels)} labels"
        )
    if loss == "cross_entropy" and not np.isin(labels, (0.0, 1.0)).all():
        bad = sorted(set(labels[~np.isin(labels, (0.0, 1.0))].tolist()))[:5]
        raise QMLTrainingInputError(
            f"{where}: loss 'cross_entropy' needs labels 0 and 1, {what[1]} has {bad}; "
            "map your classes to 0/1 or use loss='mse' with labels -1/+1"
        )
    return labels


def _as_params(params: Any, where: str) -> np.ndarray:
    try:
        array = np.array(params, dtype=float)
    except (TypeError, ValueError) as exc:
        raise QMLTrainingInputError(f"{where}: params must be an array of numbers: {exc}") from exc
    if array.size == 0 or not np.isfinite(array).all():
        raise QMLTrainingInputError(f"{where}: params must be a non-empty array of finite numbers")
    return array


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
        Task requirements (``kinds``, ``pilot``, ``priority``, ``min_fidelity``); ``qubits`` and ``shots``
        come from ``wires`` and ``shots``.
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
        requirements: dict[str, Any] | None = None,
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
            wires = _positive_int("wires", wires, where)
            width = wires
        elif isinstance(wires, Sequence) and not isinstance(wires, str) and len(wires) > 0:
            wires = tuple(wires)
            width = len(wires)
        else:
            raise QMLTrainingInputError(
                f"{where}: wires must be a positive count or a sequence of labels, got {wires!r}"
            )
        if shots is not None:
            shots = _positive_int("shots", shots, where)
        if not isinstance(diff_method, str):
            raise QMLTrainingInputError(
                f"{where}: diff_method must be a PennyLane method name, got {diff_method!r}"
            )
        resolve_loss(loss)
        for key in ("qubits", "shots"):
            if requirements and requirements.get(key) is not None:
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
        self.requirements = {
            **check_requirements(dict(requirements or {}), where),
            "qubits": width,
            **({"shots": shots} if shots is not None else {}),
        }

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
        """Build the circuit's tape for the first input(s) and check it against the settings.

        Raises
        ------
        QMLTrainingInputError
            If the circuit fails to build with these parameters and inputs, acts on wires the device
            lacks, returns something other than one ``expval`` with a built-in loss, or does not broadcast
            over a batch of inputs when ``broadcast`` is set.
        """
        import pennylane as qml

        wires = list(range(self.wires)) if isinstance(self.wires, int) else list(self.wires)
        # a batch whose size differs from the feature count: a circuit that reads x[i] from a batch then
        # shows the feature count as its batch size, not the batch's
        batch = 2 if x.ndim > 1 and x.shape[1] == 3 else 3
        probe = x[: min(len(x), batch)] if self.broadcast else x[0]
        try:
            tape = qml.tape.make_qscript(self.func)(params, probe)
        except Exception as exc:
            raise QMLTrainingInputError(
                f"{self.where}: the circuit fails on params of shape {params.shape} and "
                f"{'a batch of inputs' if self.broadcast else 'an input'} of shape {np.shape(probe)}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        extra = [w for w in tape.wires if w not in wires]
        if extra:
            raise QMLTrainingInputError(
                f"{self.where}: the circuit acts on wires {tape.wires.tolist()} but the device has "
                f"wires={self.wires!r} (wires {extra} are missing); pass wires={len(wires) + len(extra)} "
                "or the circuit's wire labels"
            )
        if not tape.measurements:
            raise QMLTrainingInputError(
                f"{self.where}: the circuit must return a measurement, e.g. qml.expval(...)"
            )
        if isinstance(self.loss, str):
            from pennylane.measurements import ExpectationMP

            kinds = [type(m).__name__ for m in tape.measurements]
            if len(tape.measurements) != 1 or not isinstance(tape.measurements[0], ExpectationMP):
                raise QMLTrainingInputError(
                    f"{self.where}: loss '{self.loss}' needs a circuit returning one expectation value "
                    f"(qml.expval(...)), it returns {kinds}; pass a loss function for other outputs"
                )
        if self.broadcast and tape.batch_size != len(probe):
            raise QMLTrainingInputError(
                f"{self.where}: broadcast=True, but the circuit does not broadcast over a batch of "
                f"{len(probe)} inputs (its batch size is {tape.batch_size}); write gates on x[..., i] "
                "or set broadcast=False"
            )

    def _check_data(self, params: Any, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        params = _as_params(params, self.where)
        x = _as_inputs(x, self.where)
        labels = _as_labels(x, y, self.where, self.loss)
        self.check_circuit(params, x)
        return params, x, labels

    # -- shard fan-out (on the submitting host; blocks until the shards are done) --------------------------
    def _shard_count(self, samples: int, shards: int | None) -> int:
        return max(1, min(samples, shards if shards is not None else worker_slots(self.executors)))

    def _gradient_now(
        self,
        payload: bytes,
        params: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        shards: int | None,
        tally: _Tally,
        step: int | None = None,
    ) -> tuple[float, np.ndarray]:
        """Mean loss and gradient of ``(x, y)``: shard sums from parallel tasks over the sample count."""
        parts = np.array_split(np.arange(len(x)), self._shard_count(len(x), shards))
        futures = [
            self._gradient_app(
                payload, params, x[i], y[i], parsl_resource_specification=dict(self.requirements)
            )
            for i in parts
        ]
        results = self._wait(futures, "gradient", step)
        tally.shards.append(len(parts))
        tally.quantum_s += sum(r[3] for r in results)
        loss = math.fsum(r[0] for r in results)
        grad = np.sum([r[1] for r in results], axis=0)
        count = sum(r[2] for r in results)
        return loss / count, grad / count

    def _outputs_now(
        self, payload: bytes, params: np.ndarray, x: np.ndarray, shards: int | None, tally: _Tally
    ) -> np.ndarray:
        parts = np.array_split(np.arange(len(x)), self._shard_count(len(x), shards))
        futures = [
            self._outputs_app(payload, params, x[i], parsl_resource_specification=dict(self.requirements))
            for i in parts
        ]
        results = self._wait(futures, "outputs", None)
        tally.quantum_s += sum(r[1] for r in results)
        return np.concatenate([np.asarray(r[0], dtype=float) for r in results], axis=0)

    def _wait(self, futures: list[Future], what: str, step: int | None) -> list[Any]:
        wait(futures)
        for index, future in enumerate(futures):
            exc = future.exception()
            if exc is not None:
                at = f"step {step}, " if step is not None else ""
                raise QMLTrainingError(
                    f"{self.where}: {at}{what} shard {index + 1} of {len(futures)} failed: "
                    f"{type(exc).__name__}: {exc}",
                    step,
                ) from exc
        return [f.result() for f in futures]

    def _score(
        self, outputs: np.ndarray, y: np.ndarray, classes: tuple[float, float] | None
    ) -> tuple[float, float | None]:
        """Mean loss and (for binary labels and one output per input) accuracy, on the host."""
        loss = resolve_loss(self.loss)
        mean_loss = float(np.mean([np.sum(loss(o, t)) for o, t in zip(outputs, y, strict=True)]))
        if classes is None or outputs.ndim != 1:
            return mean_loss, None
        return mean_loss, float(np.mean(decide(outputs, classes, self.loss) == y))

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
            _positive_int("shards", shards, self.where)
        if not has_futures((params, x, y), {}):
            self._check_data(params, x, y)

        def control(params: Any, x: Any, y: Any) -> Future:
            params, x, y = self._check_data(params, x, y)
            value = self._gradient_now(self.spec().pack(), params, x, y, shards, _Tally())
            return _done(value)

        control.__name__ = f"{self.name}_loss_and_gradient"
        return join_app(control)(params, x, y)

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
            _positive_int("shards", shards, self.where)
        if classes is not None and len(set(classes)) != 2:
            raise QMLTrainingInputError(
                f"{self.where}: classes must be two distinct label values, got {classes!r}"
            )
        if not has_futures((params, x), {}):
            self.check_circuit(_as_params(params, self.where), _as_inputs(x, self.where))

        def control(params: Any, x: Any) -> Future:
            params, x = _as_params(params, self.where), _as_inputs(x, self.where)
            self.check_circuit(params, x)
            outputs = self._outputs_now(self.spec().pack(), params, x, shards, _Tally())
            return _done(outputs if classes is None else decide(outputs, classes, self.loss))

        control.__name__ = f"{self.name}_predict"
        return join_app(control)(params, x)

    def fit(
        self,
        params0: Any,
        x: Any,
        y: Any,
        *,
        epochs: int = 10,
        batch_size: int | None = 32,
        shards: int | None = None,
        optimizer: str | Optimizer = "adam",
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

        The loop runs on the submitting host in a Parsl ``join_app``: the call returns at once, and the
        loop holds one of Parsl's internal threads (``Config.internal_tasks_max_threads``, 10 by default)
        while it waits for each step's shards.

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
            ``"adam"``, ``"sgd"``, or an object with ``step(params, grad) -> params`` (its state is kept).
        learning_rate
            Step size of a named optimizer.
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
        epochs = _positive_int("epochs", epochs, self.where)
        if batch_size is not None:
            batch_size = _positive_int("batch_size", batch_size, self.where)
        if shards is not None:
            shards = _positive_int("shards", shards, self.where)
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
            self._check_data(params0, x, y)
            if validation is not None:
                _as_labels(
                    _as_inputs(x_val, self.where, "x_val"), y_val, self.where, self.loss, ("x_val", "y_val")
                )

        settings = _Settings(epochs, batch_size, shards, optimizer, learning_rate, seed)

        def control(params0: Any, x: Any, y: Any, x_val: Any, y_val: Any) -> Future:
            return _done(self._train(params0, x, y, x_val, y_val, settings))

        control.__name__ = f"{self.name}_fit"
        return join_app(control)(params0, x, y, x_val, y_val)

    def _train(
        self, params0: Any, x: Any, y: Any, x_val: Any, y_val: Any, settings: _Settings
    ) -> TrainingResult:
        """The training loop (on the submitting host)."""
        begin = time.perf_counter()
        params, x, y = self._check_data(params0, x, y)
        if x_val is not None:
            x_val = _as_inputs(x_val, self.where, "x_val")
            y_val = _as_labels(x_val, y_val, self.where, self.loss, ("x_val", "y_val"))
        payload = self.spec().pack()
        optimizer = make_optimizer(settings.optimizer, settings.learning_rate)
        rng = np.random.default_rng(settings.seed)
        batch = settings.batch_size or len(x)
        tally = _Tally()
        history: list[float] = []
        epoch_losses: list[float] = []
        waited = 0.0
        for _ in range(settings.epochs):
            order = rng.permutation(len(x))
            weighted = 0.0
            for start in range(0, len(x), batch):
                index = order[start : start + batch]
                step = len(history)
                before = time.perf_counter()
                loss, grad = self._gradient_now(
                    payload, params, x[index], y[index], settings.shards, tally, step
                )
                waited += time.perf_counter() - before
                if not (math.isfinite(loss) and np.isfinite(grad).all()):
                    raise QMLTrainingError(
                        f"{self.where}: step {step}: the loss or its gradient is not finite (loss {loss}); "
                        "lower the learning rate or check the loss function",
                        step,
                    )
                history.append(loss)
                weighted += loss * len(index)
                params = np.asarray(optimizer.step(params, grad), dtype=float)
            epoch_losses.append(weighted / len(x))
        classes = _binary_classes(y, self.loss)
        before = time.perf_counter()
        train_outputs = self._outputs_now(payload, params, x, settings.shards, tally)
        val_outputs = (
            self._outputs_now(payload, params, x_val, settings.shards, tally) if x_val is not None else None
        )
        waited += time.perf_counter() - before
        train_loss, train_accuracy = self._score(train_outputs, y, classes)
        val_loss, val_accuracy = (None, None)
        if val_outputs is not None:
            val_loss, val_accuracy = self._score(val_outputs, y_val, classes)
        wall = time.perf_counter() - begin
        return TrainingResult(
            params=params,
            loss_history=history,
            epoch_losses=epoch_losses,
            epochs=settings.epochs,
            steps=len(history),
            shards=tally.shards,
            train_loss=train_loss,
            train_accuracy=train_accuracy,
            val_loss=val_loss,
            val_accuracy=val_accuracy,
            classes=classes,
            quantum_s=tally.quantum_s,
            classical_s=wall - waited,
            wall_s=wall,
        )


@dataclass(frozen=True)
class _Settings:
    epochs: int
    batch_size: int | None
    shards: int | None
    optimizer: str | Optimizer
    learning_rate: float
    seed: int | None


def _binary_classes(y: np.ndarray, loss: Any) -> tuple[float, float] | None:
    """The two label values of binary labels (always ``(0, 1)`` for cross-entropy), else ``None``."""
    if loss == "cross_entropy":
        return (0.0, 1.0)
    values = np.unique(y)
    return (float(values[0]), float(values[1])) if len(values) == 2 else None


def _done(value: Any) -> Future:
    """A completed future of ``value`` (what a join app returns when its work is done)."""
    future: Future = Future()
    future.set_result(value)
    return future


def qml_training(
    function: Callable[..., Any] | None = None,
    *,
    executors: Sequence[str],
    wires: int | Sequence[Any],
    shots: int | None = None,
    diff_method: str = "best",
    loss: str | Callable[[Any, Any], Any] = "mse",
    broadcast: bool = False,
    kinds: Any = None,
    pilot: str | None = None,
    priority: int | None = None,
    min_fidelity: float | None = None,
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
    kinds, pilot, priority, min_fidelity
        Requirements of the shard tasks, as for :func:`~parsl_quantum.motifs.quantum_app`.

    Examples
    --------
    >>> @qml_training(executors=["quantum"], wires=2)
    ... def classifier(params, x):
    ...     qml.AngleEmbedding(x, wires=[0, 1], rotation="Y")
    ...     qml.StronglyEntanglingLayers(params, wires=[0, 1])
    ...     return qml.expval(qml.PauliZ(0))
    >>> result = classifier.fit(params0, x, y, epochs=10, batch_size=16).result()  # doctest: +SKIP
    """
    requirements = {"kinds": kinds, "pilot": pilot, "priority": priority, "min_fidelity": min_fidelity}

    def decorate(func: Callable[..., Any]) -> QMLTrainingApp:
        return QMLTrainingApp(func, executors, wires, shots, diff_method, loss, broadcast, requirements)

    return decorate(function) if function is not None else decorate
