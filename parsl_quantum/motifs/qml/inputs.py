"""Checks of what a ``qml_training`` app is given, on the submitting host, before any task runs.

Each check raises :class:`~parsl_quantum.motifs.qml.errors.QMLTrainingInputError` naming the argument, what
was expected and what came.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from parsl_quantum.motifs.qml.errors import QMLTrainingInputError


def positive_int(name: str, value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise QMLTrainingInputError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


def as_inputs(x: Any, where: str, what: str = "x") -> np.ndarray:
    try:
        array = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise QMLTrainingInputError(f"{where}: {what} must be an array of numbers: {exc}") from exc
    if array.ndim == 0 or len(array) == 0:
        raise QMLTrainingInputError(f"{where}: {what} must hold at least one sample, got shape {array.shape}")
    return array


def as_labels(x: np.ndarray, y: Any, where: str, loss: Any, what: tuple[str, str] = ("x", "y")) -> np.ndarray:
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


def as_params(params: Any, where: str) -> np.ndarray:
    try:
        array = np.array(params, dtype=float)
    except (TypeError, ValueError) as exc:
        raise QMLTrainingInputError(f"{where}: params must be an array of numbers: {exc}") from exc
    if array.size == 0 or not np.isfinite(array).all():
        raise QMLTrainingInputError(f"{where}: params must be a non-empty array of finite numbers")
    return array


def check_circuit(
    func: Callable[..., Any],
    wires: int | tuple[Any, ...],
    loss: Any,
    broadcast: bool,
    params: np.ndarray,
    x: np.ndarray,
    where: str,
) -> None:
    """Build the circuit's tape for the first input(s) and check it against the app's settings.

    Raises
    ------
    QMLTrainingInputError
        If the circuit fails to build with these parameters and inputs, acts on wires the device
        lacks, returns something other than one ``expval`` with a built-in loss, or does not broadcast
        over a batch of inputs when ``broadcast`` is set.
    """
    import pennylane as qml

    labels = list(range(wires)) if isinstance(wires, int) else list(wires)
    # a batch whose size differs from the feature count: a circuit that reads x[i] from a batch then
    # shows the feature count as its batch size, not the batch's
    batch = 2 if x.ndim > 1 and x.shape[1] == 3 else 3
    probe = x[: min(len(x), batch)] if broadcast else x[0]
    try:
        tape = qml.tape.make_qscript(func)(params, probe)
    except Exception as exc:
        raise QMLTrainingInputError(
            f"{where}: the circuit fails on params of shape {params.shape} and "
            f"{'a batch of inputs' if broadcast else 'an input'} of shape {np.shape(probe)}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    extra = [w for w in tape.wires if w not in labels]
    if extra:
        raise QMLTrainingInputError(
            f"{where}: the circuit acts on wires {tape.wires.tolist()} but the device has "
            f"wires={wires!r} (wires {extra} are missing); pass wires={len(labels) + len(extra)} "
            "or the circuit's wire labels"
        )
    if not tape.measurements:
        raise QMLTrainingInputError(f"{where}: the circuit must return a measurement, e.g. qml.expval(...)")
    if isinstance(loss, str):
        from pennylane.measurements import ExpectationMP

        kinds = [type(m).__name__ for m in tape.measurements]
        if len(tape.measurements) != 1 or not isinstance(tape.measurements[0], ExpectationMP):
            raise QMLTrainingInputError(
                f"{where}: loss '{loss}' needs a circuit returning one expectation value "
                f"(qml.expval(...)), it returns {kinds}; pass a loss function for other outputs"
            )
    if broadcast and tape.batch_size != len(probe):
        raise QMLTrainingInputError(
            f"{where}: broadcast=True, but the circuit does not broadcast over a batch of "
            f"{len(probe)} inputs (its batch size is {tape.batch_size}); write gates on x[..., i] "
            "or set broadcast=False"
        )
