"""Parsl app caching and checkpointing for quantum apps: memo keys for quantum arguments.

Parsl's memoizer identifies a call by ``id_for_memo`` of its function, positional arguments and keyword
arguments (``parsl.dataflow.memoization.make_hash``), and knows only str, int, float, None, list, tuple,
dict and functions: ``cache=True`` on an app that takes a ``QuantumCircuit`` fails with "unknown type for
memoization". :func:`register_memo_keys` teaches it the values quantum apps take:

==============================  ======================================================================
type                            key
==============================  ======================================================================
``QuantumCircuit``              its QPY bytes; Qiskit's automatic names (``circuit-123``) and the
                                identity of unbound parameters (a fresh UUID each time) are left out,
                                so equal circuits built twice, or in two runs, share a key
``SparsePauliOp``, ``Pauli``,   Pauli labels (and coefficient bytes)
``PauliList``
``Parameter``,                  name, and for a vector element its vector's name and index;
``ParameterVectorElement``,     expressions by their text
``ParameterExpression``
``ParameterVector``             name and length
``Statevector``, ``Operator``   dimensions and data
``numpy.ndarray``               dtype, shape and bytes (object arrays element by element)
numpy scalars, ``complex``,     type and bytes
``bytes``, ``set``,
``frozenset``
``QpyCircuits``                 its QPY bytes
==============================  ======================================================================

Noisy results and noiseless requests
------------------------------------
A quantum app's requirements travel in the keyword argument ``parsl_resource_specification`` (the
motifs put them there), and Parsl hashes every keyword argument that the app does not list in
``ignore_for_cache``. The requirements are therefore part of the key: a result is reused only for a call
with the same function, the same arguments *and the same requirements*. A request that asked for a
noiseless answer (``kinds=["cpu"]``, ``min_fidelity=1``, ``pilot="aer"``) never has the key of one that
allowed noisy QPUs (no ``kinds``, ``kinds=["qpu", ...]``, a lower ``min_fidelity``), so it never gets a
result that a noisy pilot computed; requests with the same requirements may share a result, since the
second accepted whatever pilot the first could be bound to. The executor label is not in the key
(Parsl's rule); a quantum app names its executors, so this does not mix a quantum result with another
executor's. Never list ``parsl_resource_specification`` in an app's ``ignore_for_cache``: that would
drop this guarantee.

Where to call it
----------------
Keys are computed in the submitting process, by the DataFlowKernel, when a task is launched.
``QuantumPilotExecutor.start`` (run by ``parsl.load``) and the motif decorators given ``cache=True``
call :func:`register_memo_keys`; a plain ``@python_app(cache=True)`` on another executor that takes
quantum arguments must call it once before submitting.
"""

from __future__ import annotations

import pickle
import re
import threading
import uuid
from typing import Any

__all__ = ["memo_key_types", "register_memo_keys"]

_AUTO_NAME = re.compile(r"^circuit-\d+$")  # Qiskit's default circuit names, a process-wide counter
_PARAMETER_NAMESPACE = uuid.UUID("8d3f5a4e-2f43-4f0c-9a7e-5b1c2f7d9e61")
_REGISTRATION = threading.Lock()  # guards the one-time registration, not data


def _tagged(tag: str, *parts: Any) -> bytes:
    """Deterministic bytes for ``tag`` and already-normalised ``parts`` (bytes, str, ints, tuples)."""
    return pickle.dumps((tag, *parts), protocol=4)


def _circuit_key(circuit: Any) -> bytes:
    """QPY bytes of ``circuit`` with its automatic name and its parameters' UUIDs normalised."""
    import io

    from qiskit import qpy
    from qiskit.circuit import Parameter

    normalised = circuit
    if circuit.num_parameters:
        fixed = {
            p: Parameter(p.name, uuid=uuid.uuid5(_PARAMETER_NAMESPACE, p.name)) for p in circuit.parameters
        }
        normalised = circuit.assign_parameters(fixed, inplace=False)
    if _AUTO_NAME.match(normalised.name or ""):
        normalised = normalised.copy(name="circuit")
    buffer = io.BytesIO()
    qpy.dump(normalised, buffer)
    return _tagged("QuantumCircuit", buffer.getvalue())


def _array_key(array: Any) -> bytes:
    import numpy as np
    from parsl.dataflow.memoization import id_for_memo

    if array.dtype == object:
        return _tagged("ndarray[object]", array.shape, tuple(id_for_memo(x) for x in array.ravel().tolist()))
    return _tagged("ndarray", array.dtype.str, array.shape, np.ascontiguousarray(array).tobytes())


def _parameter_key(parameter: Any) -> bytes:
    from qiskit.circuit import Parameter, ParameterVectorElement

    if isinstance(parameter, ParameterVectorElement):
        return _tagged("ParameterVectorElement", parameter.vector.name, parameter.index)
    if isinstance(parameter, Parameter):
        return _tagged("Parameter", parameter.name)
    return _tagged("ParameterExpression", str(parameter))


def _key_functions() -> dict[type, Any]:
    """Type -> key function (``obj -> bytes``) for every type :func:`register_memo_keys` registers."""
    import numpy as np
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterExpression, ParameterVector
    from qiskit.quantum_info import Operator, Pauli, PauliList, SparsePauliOp, Statevector

    from parsl_quantum.circuits.normalize import QpyCircuits

    def unordered(tag: str) -> Any:
        def key(values: Any) -> bytes:
            from parsl.dataflow.memoization import id_for_memo

            return _tagged(tag, tuple(sorted(id_for_memo(v) for v in values)))

        return key

    return {
        QuantumCircuit: _circuit_key,
        QpyCircuits: lambda packed: _tagged("QpyCircuits", packed.data),
        SparsePauliOp: lambda op: _tagged(
            "SparsePauliOp", tuple(op.paulis.to_labels()), op.coeffs.dtype.str, op.coeffs.tobytes()
        ),
        Pauli: lambda pauli: _tagged("Pauli", pauli.to_label()),
        PauliList: lambda paulis: _tagged("PauliList", tuple(paulis.to_labels())),
        ParameterExpression: _parameter_key,  # Parameter and ParameterVectorElement derive from it
        ParameterVector: lambda vector: _tagged("ParameterVector", vector.name, len(vector)),
        Statevector: lambda state: _tagged("Statevector", state.dims(), _array_key(state.data)),
        Operator: lambda op: _tagged("Operator", op.input_dims(), op.output_dims(), _array_key(op.data)),
        np.ndarray: _array_key,
        np.generic: lambda scalar: _tagged("numpy", scalar.dtype.str, scalar.tobytes()),
        complex: lambda value: _tagged("complex", value.real, value.imag),
        bytes: lambda value: _tagged("bytes", value),
        set: unordered("set"),
        frozenset: unordered("frozenset"),
    }


def memo_key_types() -> tuple[type, ...]:
    """The types :func:`register_memo_keys` gives Parsl memo keys for."""
    return tuple(_key_functions())


def register_memo_keys() -> None:
    """Teach Parsl's memoizer (``parsl.dataflow.memoization.id_for_memo``) the quantum argument types.

    Idempotent and thread-safe; imports Qiskit and Parsl's memoizer only when called, so importing
    ``parsl_quantum`` stays cheap. Types that Parsl (or a user) already registered keep their key. Call it
    in the process that submits tasks, before the first cached task is launched; see the module
    documentation for where the package calls it and for how requirements enter the key.
    """
    from parsl.dataflow.memoization import id_for_memo

    with _REGISTRATION:
        for cls, key in _key_functions().items():
            if id_for_memo.registry.get(cls) is None:
                id_for_memo.register(cls)(_ignoring_output_ref(key))


def _ignoring_output_ref(key: Any) -> Any:
    """``key(obj)`` with the ``output_ref`` parameter Parsl passes to every memo-key function."""

    def memo_key(obj: Any, output_ref: bool = False) -> bytes:
        return key(obj)

    return memo_key
