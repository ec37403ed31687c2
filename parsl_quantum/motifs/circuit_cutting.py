"""``circuit_cutting``: a circuit too wide or too slow to run whole, run as cut fragments.

Coupling: medium. The decorated function builds ``(circuit, observables)`` on the submitting host; the
circuit is cut with qiskit-addon-cutting into subcircuits of at most ``subcircuit_size`` qubits (or as
Q-Dreamer's planner decides), every subexperiment runs as quantum tasks on the pilots (batched into
fragments, each processing its own outcomes on its worker), and a reconstruction task downstream of
them (on a classical executor, or on the DataFlowKernel's internal thread executor on the submitting
host, never on a pilot's result thread) combines them. The call returns an ``AppFuture`` of the
expectation values; ``fn.run(...)`` returns one of the full :class:`Reconstruction`, standard errors
included. With ``output="distribution"`` the function returns the circuit alone, and the call gives the
quasi-probability :class:`~parsl_quantum.q_dreamer.distribution.Distribution` of its measured bits.

Shots are sized as Q-Dreamer sizes them (:mod:`~parsl_quantum.q_dreamer.precision`), with or without a
planner: ``precision`` is the standard error each value must reach; ``shots`` says it another way, as
the standard error of running the circuit whole with that many shots per measurement basis.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np
from parsl import join_app, python_app
from parsl.dataflow.futures import AppFuture

from parsl_quantum.circuits.normalize import to_circuit
from parsl_quantum.executors.dfk_executors import INTERNAL_EXECUTOR
from parsl_quantum.motifs.task_requirements import TaskRequirements
from parsl_quantum.q_dreamer.planning.decompose import decompose
from parsl_quantum.q_dreamer.planning.reconstruct import Reconstruction
from parsl_quantum.q_dreamer.planning.reconstruct_distribution import bit_layout, measured_bits
from parsl_quantum.q_dreamer.planning.rewrite import submit_cut
from parsl_quantum.q_dreamer.precision import (
    allocate_shots,
    check_output,
    check_target,
    cut_shots,
    target_of,
)


class CircuitCuttingApp:
    """An app whose function returns ``(circuit, observables)``; see :func:`circuit_cutting`."""

    def __init__(
        self,
        func: Callable[..., Any],
        executors: Sequence[str],
        subcircuit_size: int | None,
        shots: int | None,
        precision: float | None,
        classical_executors: Sequence[str] | None,
        planner: Any,
        seed: int,
        requirements: dict[str, Any],
        output: str = "values",
    ) -> None:
        if subcircuit_size is None and planner is None:
            raise TypeError(
                f"circuit_cutting '{func.__name__}': give a subcircuit_size or a planner (QDreamer)"
            )
        if shots is None and precision is None:
            raise TypeError(f"circuit_cutting '{func.__name__}': give shots or a precision target")
        check_target(precision, shots)
        self.output = check_output(output)
        functools.update_wrapper(self, func)
        self.func = func
        self.executors = list(executors)
        self.subcircuit_size = subcircuit_size
        self.shots = shots
        self.precision = precision
        self.classical_executors = list(classical_executors) if classical_executors else None
        self.planner = planner
        self.seed = seed
        where = f"circuit_cutting '{func.__name__}'"
        # Fragment tasks share one set of requirements: they are values, not per-call functions.
        checked = TaskRequirements.from_mapping(requirements, where)
        per_call = sorted(name for name, value in checked.items() if callable(value))
        if per_call:
            raise TypeError(f"{where}: requirements {per_call} must be values, not functions of the call")
        self.requirements = checked.fixed()

    def run(self, *args: Any, **kwargs: Any) -> AppFuture:
        """Submit; an ``AppFuture`` of the :class:`Reconstruction` (values and standard errors), or of the
        :class:`~parsl_quantum.q_dreamer.distribution.Distribution` for ``output="distribution"``."""

        def control(*ready_args: Any, **ready_kwargs: Any) -> Future:
            circuit, observables = self._problem_of(self.func(*ready_args, **ready_kwargs))
            if self.planner is not None:
                executor = _executor(self.executors[0])
                plan = self.planner.plan(
                    circuit,
                    observables,
                    executor,
                    precision=self.precision,
                    shots=self.shots,
                    output=self.output,
                )
                return plan.submit_reconstruction(
                    classical_executors=self.classical_executors, **self.requirements
                )
            measured = measured_bits(circuit) if self.output == "distribution" else None
            if measured is not None:
                observables = measured.observables(circuit.num_qubits)
            problem = decompose(circuit, observables, self.subcircuit_size, seed=self.seed)
            target = target_of(problem.observables, self.precision, self.shots, self.output)
            total = cut_shots(problem.kappa, problem.observables, target.stderr)
            return submit_cut(
                problem,
                allocate_shots(problem.coefficients, total),
                self.executors,
                self.classical_executors,
                self.requirements,
                seed=self.seed,
                bits=bit_layout(problem, measured) if measured is not None else None,
            )

        control.__name__ = f"{self.func.__name__}_cut"
        return join_app(control)(*args, **kwargs)

    def _problem_of(self, returned: Any) -> tuple[Any, Any]:
        """The function's ``(circuit, observables)``; for a distribution, its circuit (observables
        ``None``)."""
        if self.output == "distribution":
            if isinstance(returned, tuple):
                circuit, observables = returned
                if observables is not None:
                    raise TypeError(
                        f"circuit_cutting '{self.func.__name__}' with output='distribution' returns the "
                        "circuit alone (its measured bits are the output), not observables"
                    )
                return to_circuit(circuit), None
            return to_circuit(returned), None
        circuit, observables = returned
        if isinstance(observables, str) or not isinstance(observables, Sequence):
            observables = [observables]
        return circuit, observables

    def __call__(self, *args: Any, **kwargs: Any) -> AppFuture:
        """Submit; an ``AppFuture`` of the expectation values (a numpy array, one per observable), or of
        the :class:`~parsl_quantum.q_dreamer.distribution.Distribution` for ``output="distribution"``."""
        if self.output == "distribution":
            return self.run(*args, **kwargs)
        return python_app(expectation_values, executors=[INTERNAL_EXECUTOR])(self.run(*args, **kwargs))


def expectation_values(result: Reconstruction) -> np.ndarray:
    """The values of a reconstruction."""
    return result.values


def _executor(label: str) -> Any:
    import parsl

    return parsl.dfk().executors[label]


def circuit_cutting(
    function: Callable[..., Any] | None = None,
    *,
    executors: Sequence[str],
    subcircuit_size: int | None = None,
    shots: int | None = None,
    precision: float | None = None,
    classical_executors: Sequence[str] | None = None,
    planner: Any = None,
    seed: int = 1234,
    kinds: Any = None,
    pilot: Any = None,
    priority: Any = None,
    min_fidelity: Any = None,
    output: str = "values",
) -> Any:
    """Make ``function`` (returning ``(circuit, observables)``) run as cut fragments plus a reconstruction.

    Coupling: medium. The function and the cut search run on the submitting host; subexperiments run as
    quantum tasks on the pilots; the reconstruction runs on ``classical_executors`` (or the submitting
    host). The call returns an ``AppFuture`` of the expectation values, or with
    ``output="distribution"`` of the :class:`~parsl_quantum.q_dreamer.distribution.Distribution` of the
    circuit's measured bits (the function then returns the circuit alone).

    Give one of ``shots`` and ``precision``: both name a target standard error, and the shots that reach
    it are sized by :mod:`~parsl_quantum.q_dreamer.precision`.

    Parameters
    ----------
    function
        ``function(*args, **kwargs) -> (circuit, observables)``.
    executors
        Quantum executors for the subexperiments.
    subcircuit_size
        Widest subcircuit allowed; ignored when a ``planner`` chooses.
    shots
        The target as a number of shots: each value must reach the standard error that running the
        circuit whole, uncut, with this many shots per measurement basis would have. A cut spends as
        many shots as that takes (``kappa**2`` times ``shots`` per subsystem for one Pauli term), spread
        over the subexperiments in proportion to their coefficients' magnitudes. The same with or without
        a planner, and as in :meth:`QDreamer.plan <parsl_quantum.q_dreamer.QDreamer.plan>`.
    precision
        Instead of ``shots``: the standard error each value must reach (finite, above 0), its
        observable's weights included (``4 Z0 + 3 Z1`` errs more than ``Z0`` for the same shots).
    classical_executors
        Executors for the reconstruction task.
    planner
        A :class:`~parsl_quantum.q_dreamer.QDreamer`: it decides whether and how to cut.
    seed
        Seed of the cut search and of the error estimate.
    kinds, pilot, priority, min_fidelity
        Requirements of the fragment tasks.
    output
        ``"values"`` (default) or ``"distribution"``: the quasi-probabilities of the circuit's measured
        bits (every qubit when it measures none), each bit string's standard error at most the target
        (``precision``, or ``1 / (2 sqrt(shots))``, what running whole with ``shots`` shots reaches).

    Raises
    ------
    TypeError
        Without ``shots`` or ``precision``, or without ``subcircuit_size`` or ``planner``.
    ValueError
        For both ``shots`` and ``precision``, a non-finite or non-positive ``precision``, a ``shots``
        that is not a positive integer, or an unknown ``output``.
    """
    requirements = {"kinds": kinds, "pilot": pilot, "priority": priority, "min_fidelity": min_fidelity}

    def decorate(func: Callable[..., Any]) -> CircuitCuttingApp:
        return CircuitCuttingApp(
            func,
            executors,
            subcircuit_size,
            shots,
            precision,
            classical_executors,
            planner,
            seed,
            requirements,
            output,
        )

    return decorate(function) if function is not None else decorate
