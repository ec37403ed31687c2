r"""``variational``: a tight classical-quantum loop (VQE, QAOA) driven by a scipy optimizer.

Coupling: tight. The optimizer runs on the submitting host; each of its evaluations runs as quantum tasks
on the pilots. For gradient methods every evaluation fans out the energy and its parameter-shift terms as
parallel tasks,

.. math:: \partial_k E(\theta) = \frac{E(\theta + s\,e_k) - E(\theta - s\,e_k)}{2 \sin s},

exact when each parameter enters one Pauli-rotation gate (:math:`s = \pi/2`); ``gradient="central"``
uses central finite differences of step ``s`` instead. ``fn.minimize(x0, ...)`` returns an ``AppFuture``
of a :class:`VariationalResult` with ``x``, ``fun``, ``nit`` and ``history``.

With ``checkpoint=path`` every evaluation is recorded in a JSON file. Restarted with the same arguments,
the optimizer replays the recorded evaluations without running them (scipy's methods are deterministic
given the same values) and goes on from the last one: the run resumes where it stopped (see
:mod:`~parsl_quantum.motifs.variational_checkpoint`).

Waiting without holding Parsl. scipy's minimizers are blocking: they call ``fun(x)`` and need its value
before they go on, and cannot be driven step by step from callbacks. Each ``minimize`` call therefore runs
scipy on a thread of its own, started by a join app that returns at once a plain future the thread will
complete; the thread waits on the evaluations' futures like any client of Parsl. No DataFlowKernel thread
is held while an optimisation waits (the join app's internal thread is held only for the microseconds it
takes to start the thread), so any number of concurrent optimisations share the DFK's 10 internal threads
with every other join app. One parked thread per running optimisation is what that costs: a few tens of
KiB of resident memory, so thousands of concurrent optimisations are fine, while a fixed pool of
optimiser threads would deadlock as soon as more optimisations than threads waited at once.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
from parsl.dataflow.futures import AppFuture

from parsl_quantum.motifs.quantum_app import QuantumApp
from parsl_quantum.motifs.task_requirements import Requirement, TaskRequirements
from parsl_quantum.motifs.variational_checkpoint import Checkpoint, CheckpointMismatchError
from parsl_quantum.motifs.waiting import background_app

__all__ = [
    "CheckpointMismatchError",
    "Iteration",
    "VariationalApp",
    "VariationalResult",
    "variational",
]

GRADIENT_METHODS = frozenset({"CG", "BFGS", "L-BFGS-B", "TNC", "SLSQP", "trust-constr", "Newton-CG"})


@dataclass(frozen=True)
class Iteration:
    """One optimizer iteration: its number, parameters, value and the seconds since the start."""

    iteration: int
    x: list[float]
    fun: float
    elapsed: float


@dataclass
class VariationalResult:
    """The outcome of :meth:`VariationalApp.minimize`.

    Attributes
    ----------
    x, fun
        Best parameters and their value.
    nit, nfev
        Optimizer iterations and function evaluations.
    history
        One :class:`Iteration` per optimizer iteration.
    success, message
        From scipy.
    tasks
        Quantum tasks run (replayed evaluations excluded).
    replayed
        Evaluations served from the checkpoint instead of run.
    quantum_wait_s, classical_s
        Seconds waiting for quantum evaluations, and seconds in the optimizer itself.
    """

    x: np.ndarray
    fun: float
    nit: int
    nfev: int
    history: list[Iteration]
    success: bool
    message: str
    tasks: int = 0
    replayed: int = 0
    quantum_wait_s: float = 0.0
    classical_s: float = 0.0


class _Evaluator:
    """``fun`` and ``jac`` for scipy: each call becomes parallel quantum tasks (or a checkpoint replay)."""

    def __init__(
        self,
        app: VariationalApp,
        args: tuple,
        kwargs: dict,
        with_gradient: bool,
        checkpoint: Checkpoint,
    ) -> None:
        self.app = app
        self.args = args
        self.kwargs = kwargs
        self.with_gradient = with_gradient
        self.checkpoint = checkpoint
        self.tasks = 0
        self.replayed = 0
        self.nfev = 0
        self.wait_s = 0.0
        self._last: tuple[str, float, np.ndarray | None] | None = None

    def _points(self, x: np.ndarray) -> list[np.ndarray]:
        points = [x]
        if self.with_gradient:
            s = self.app.shift
            for k in range(len(x)):
                step = np.zeros_like(x)
                step[k] = s
                points += [x + step, x - step]
        return points

    def _gradient(self, values: Sequence[float]) -> np.ndarray:
        s = self.app.shift
        denominator = 2 * math.sin(s) if self.app.gradient == "parameter-shift" else 2 * s
        plus, minus = np.array(values[1::2]), np.array(values[2::2])
        return (plus - minus) / denominator

    def evaluate(self, x: np.ndarray) -> tuple[float, np.ndarray | None]:
        x = np.asarray(x, dtype=float)
        key = self.checkpoint.key(x)
        if self._last is not None and self._last[0] == key:
            return self._last[1], self._last[2]
        self.nfev += 1
        saved = self.checkpoint.get(x)
        if saved is not None and (saved["gradient"] is not None or not self.with_gradient):
            self.replayed += 1
            value = float(saved["value"])
            gradient = None if saved["gradient"] is None else np.array(saved["gradient"])
        else:
            start = time.perf_counter()
            futures = [self.app.call(point, self.args, self.kwargs) for point in self._points(x)]
            values = [float(f.result()) for f in futures]
            self.wait_s += time.perf_counter() - start
            self.tasks += len(futures)
            value = values[0]
            gradient = self._gradient(values) if self.with_gradient else None
            self.checkpoint.put(x, value, gradient)
        self._last = (key, value, gradient)
        return value, gradient

    def fun(self, x: np.ndarray) -> float:
        return self.evaluate(x)[0]

    def known(self, x: np.ndarray) -> float:
        """The value at ``x``, evaluated earlier (no new task unless it never was)."""
        saved = self.checkpoint.get(np.asarray(x, dtype=float))
        return float(saved["value"]) if saved is not None else self.fun(x)

    def jac(self, x: np.ndarray) -> np.ndarray:
        gradient = self.evaluate(x)[1]
        assert gradient is not None
        return gradient


class VariationalApp(QuantumApp):
    """A quantum app ``function(params, *args, device)`` with :meth:`minimize` (see :func:`variational`)."""

    def __init__(
        self,
        func: Callable[..., Any],
        executors: Sequence[str],
        requirements: TaskRequirements | dict[str, Requirement],
        gradient: str,
        shift: float | None,
    ) -> None:
        super().__init__(func, executors, requirements)
        if gradient not in ("parameter-shift", "central"):
            raise ValueError(
                f"variational '{func.__name__}': gradient must be 'parameter-shift' or 'central'"
            )
        self.gradient = gradient
        self.shift = shift if shift is not None else (math.pi / 2 if gradient == "parameter-shift" else 1e-3)

    def call(self, params: np.ndarray, args: tuple, kwargs: dict) -> AppFuture:
        """One evaluation as a quantum task."""
        return self(np.asarray(params, dtype=float), *args, **kwargs)

    def minimize(
        self,
        x0: Sequence[float],
        *args: Any,
        method: str = "COBYLA",
        maxiter: int = 100,
        tol: float | None = None,
        options: dict[str, Any] | None = None,
        bounds: Any = None,
        checkpoint: str | None = None,
        callback: Callable[[Iteration], None] | None = None,
        **kwargs: Any,
    ) -> AppFuture:
        """Minimise the function over its first argument with ``scipy.optimize.minimize``.

        Parameters
        ----------
        x0
            Starting parameters.
        *args, **kwargs
            Further arguments of the function (the same at every evaluation).
        method
            A scipy method; gradient methods (``BFGS``, ``L-BFGS-B``, ``SLSQP``...) get parameter-shift
            (or central-difference) gradients, fanned out with the energy as parallel tasks.
        maxiter, tol, options, bounds
            Passed to scipy.
        checkpoint
            JSON file recording every evaluation, for resuming after a restart.
        callback
            Called with each :class:`Iteration` on the submitting host.

        Returns
        -------
        AppFuture
            Of a :class:`VariationalResult`.
        """
        x0 = np.asarray(x0, dtype=float)
        # maxiter is not part of it: a restarted run may go on for more iterations than the first one
        signature = {"function": self.func.__name__, "method": method, "x0": x0.tolist()}

        def control(*ready_args: Any) -> Future:
            done: Future = Future()

            def optimize() -> None:
                try:
                    result = self._optimize(
                        x0,
                        ready_args,
                        kwargs,
                        method,
                        maxiter,
                        tol,
                        options,
                        bounds,
                        signature,
                        checkpoint,
                        callback,
                    )
                except BaseException as exc:  # noqa: BLE001 - every failure reaches the caller's future
                    done.set_exception(exc)
                else:
                    done.set_result(result)

            # scipy blocks on each evaluation: it runs on a thread of its own, never on a Parsl one
            threading.Thread(target=optimize, name=f"{self.func.__name__}-minimize", daemon=True).start()
            return done

        return background_app(control, f"{self.func.__name__}_minimize")(*args)

    def _optimize(
        self,
        x0: np.ndarray,
        args: tuple,
        kwargs: dict,
        method: str,
        maxiter: int,
        tol: float | None,
        options: dict[str, Any] | None,
        bounds: Any,
        signature: dict[str, Any],
        checkpoint_path: str | None,
        callback: Callable[[Iteration], None] | None,
    ) -> VariationalResult:
        """The optimizer loop (on the submitting host, on the optimisation's own thread)."""
        from scipy.optimize import minimize

        with_gradient = method in GRADIENT_METHODS
        evaluator = _Evaluator(self, args, kwargs, with_gradient, Checkpoint.open(checkpoint_path, signature))
        history: list[Iteration] = []
        start = time.perf_counter()

        def on_iteration(*cb_args: Any, **cb_kwargs: Any) -> None:
            xk = cb_kwargs["intermediate_result"].x if "intermediate_result" in cb_kwargs else cb_args[0]
            xk = np.asarray(getattr(xk, "x", xk), dtype=float)
            entry = Iteration(len(history) + 1, xk.tolist(), evaluator.known(xk), time.perf_counter() - start)
            history.append(entry)
            if callback:
                callback(entry)

        result = minimize(
            evaluator.fun,
            x0,
            jac=evaluator.jac if with_gradient else None,
            method=method,
            tol=tol,
            bounds=bounds,
            callback=on_iteration,
            options={"maxiter": maxiter, **(options or {})},
        )
        elapsed = time.perf_counter() - start
        return VariationalResult(
            x=np.asarray(result.x),
            fun=float(result.fun),
            nit=int(getattr(result, "nit", len(history)) or len(history)),
            nfev=evaluator.nfev,
            history=history,
            success=bool(result.success),
            message=str(result.message),
            tasks=evaluator.tasks,
            replayed=evaluator.replayed,
            quantum_wait_s=evaluator.wait_s,
            classical_s=max(elapsed - evaluator.wait_s, 0.0),
        )


def variational(
    function: Callable[..., Any] | None = None,
    *,
    executors: Sequence[str],
    gradient: str = "parameter-shift",
    shift: float | None = None,
    **requirements: Requirement,
) -> Any:
    """Make ``function(params, *args, device) -> float`` a variational objective with ``.minimize``.

    Coupling: tight. The scipy optimizer runs on the submitting host (on a thread of its own, not a
    Parsl one); every evaluation (energy, and for gradient methods the parameter-shift terms, all in
    parallel) runs as quantum tasks on the pilots. ``fn.minimize(x0, method=..., maxiter=...)`` returns
    an ``AppFuture`` of a result with ``x``, ``fun``, ``nit`` and ``history``; ``fn(params)`` submits one
    evaluation like a :func:`quantum_app`.

    Parameters
    ----------
    function
        The objective; it receives the pilot's device as ``device=``.
    executors
        Quantum executors for the evaluations.
    gradient
        ``"parameter-shift"`` (exact for parameters that each enter one Pauli rotation) or
        ``"central"`` (finite differences).
    shift
        The shift (default pi/2) or finite-difference step (default 1e-3).
    **requirements
        Requirements of each evaluation (see
        :class:`~parsl_quantum.motifs.task_requirements.TaskRequirements`): values or functions of
        ``(params, *args, **kwargs)``.
    """

    def decorate(func: Callable[..., Any]) -> VariationalApp:
        where = f"variational '{getattr(func, '__name__', 'objective')}'"
        return VariationalApp(
            func, executors, TaskRequirements.from_mapping(requirements, where), gradient, shift
        )

    return decorate(function) if function is not None else decorate
