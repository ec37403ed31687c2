r"""Exact expectation values of dynamic circuits, by the principle of deferred measurement.

A circuit that measures a qubit mid-way and acts on the outcome (``if_test``), or resets a qubit, does not
prepare one pure state: it prepares a mixture over the measurement outcomes, and its expectation value is
:math:`\sum_m p(m) \langle\psi_m|O|\psi_m\rangle`. A simulator asked for "exact" values on such a circuit
samples the outcomes shot by shot (Aer's estimator does; with shot branching it returns 0), so the answer
is neither exact nor always right.

Deferred measurement gives the exact value with any statevector estimator. Each mid-circuit measurement of
qubit ``q`` becomes ``CX(q, a)`` onto a fresh ancilla ``a``: ``a`` then holds the outcome for the rest of
the circuit, and since nothing acts on ``a`` again, tracing it out is the measurement. A condition on the
outcome becomes a control on ``a`` (a classically controlled gate is a quantum controlled gate on the
copied bit), and a reset becomes ``CX(q, a); CX(a, q)``. The result is a unitary circuit on
``num_qubits + ancillas`` qubits whose expectation value of ``I_ancillas ⊗ O`` equals the dynamic
circuit's. The price is one qubit per mid-circuit measurement or reset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parsl_quantum.errors import UnsupportedOperationError

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

ANCILLA_REGISTER = "deferred"
_HINT = "pass shots=... to estimate it by sampling"


def _unsupported(circuit: QuantumCircuit, what: str) -> UnsupportedOperationError:
    return UnsupportedOperationError(
        f"circuit '{circuit.name}': an exact estimate with classical control cannot handle {what}; {_HINT}"
    )


def _condition_bits(circuit: QuantumCircuit, condition: Any) -> list[tuple[Any, int]]:
    """``[(clbit, required value), ...]`` of an ``if_test`` condition ``(clbit or register, value)``."""
    from qiskit.circuit import Clbit

    if not isinstance(condition, tuple):
        raise _unsupported(circuit, f"the classical expression condition {condition}")
    target, value = condition
    bits = [target] if isinstance(target, Clbit) else list(target)
    return [(bit, (int(value) >> i) & 1) for i, bit in enumerate(bits)]


def ancillas_needed(circuit: QuantumCircuit) -> int:
    """How many ancillas :func:`defer_measurements` adds: one per measurement and reset, plus one flag
    per ``if_test`` with an ``else`` branch on a multi-bit condition."""
    from qiskit.circuit import IfElseOp

    ops = circuit.count_ops()
    count = int(ops.get("measure", 0)) + int(ops.get("reset", 0))
    for inst in circuit.data:
        op = inst.operation
        if isinstance(op, IfElseOp) and op.blocks[1:] and isinstance(op.condition, tuple):
            count += len(_condition_bits(circuit, op.condition)) > 1
    return count


def defer_measurements(circuit: QuantumCircuit) -> QuantumCircuit:
    """A unitary circuit with the same expectation values as ``circuit`` (see the module documentation).

    Parameters
    ----------
    circuit
        A circuit whose final measurements are already stripped
        (:func:`~parsl_quantum.circuits.normalize.strip_measurements`): its remaining measurements,
        resets and ``if_test`` blocks (conditions on a bit or a register) are deferred.

    Returns
    -------
    QuantumCircuit
        The circuit's qubits, then :func:`ancillas_needed` ancillas in a register named ``"deferred"``;
        no classical bits. Observables extend to it with identities on the ancillas
        (``observable.apply_layout(None, result.num_qubits)``).

    Raises
    ------
    UnsupportedOperationError
        For what has no deferred form here, naming it: conditions that are classical expressions, loops,
        ``switch``, classical variables, and measurements or resets inside an ``if_test`` body.
    """
    from qiskit import QuantumCircuit, QuantumRegister
    from qiskit.circuit import IfElseOp

    ancillas = QuantumRegister(ancillas_needed(circuit), ANCILLA_REGISTER)
    out = QuantumCircuit(circuit.qubits, *circuit.qregs, name=circuit.name, global_phase=circuit.global_phase)
    if len(ancillas):
        out.add_register(ancillas)
    free = iter(ancillas)
    source: dict[Any, Any] = {}  # classical bit -> the ancilla holding its current value
    for inst in circuit.data:
        op = inst.operation
        if op.name == "measure":
            anc = next(free)
            out.cx(inst.qubits[0], anc)
            source[inst.clbits[0]] = anc
        elif op.name == "reset":
            anc = next(free)
            out.cx(inst.qubits[0], anc)
            out.cx(anc, inst.qubits[0])
        elif isinstance(op, IfElseOp):
            _defer_if_else(circuit, out, inst, source, free)
        elif op.name in ("while_loop", "for_loop", "switch_case", "box", "store") or inst.clbits:
            raise _unsupported(circuit, f"the operation '{op.name}'")
        else:
            out.append(op, inst.qubits, copy=False)
    return out


def _defer_if_else(
    circuit: QuantumCircuit, out: QuantumCircuit, inst: Any, source: dict[Any, Any], free: Any
) -> None:
    """Append an ``if_test`` (and its ``else``) as gates controlled on the ancillas of its bits."""
    op = inst.operation
    true_body, false_body = op.blocks[0], (op.blocks[1] if len(op.blocks) > 1 else None)
    controls: list[Any] = []
    state = 0
    for bit, value in _condition_bits(circuit, op.condition):
        anc = source.get(bit)
        if anc is None:  # never measured: the bit is 0
            if value:
                if false_body is not None:
                    _append_body(circuit, out, false_body, inst.qubits, [], 0)
                return
            continue
        state |= value << len(controls)
        controls.append(anc)
    if not controls:  # the condition holds whatever the outcomes
        _append_body(circuit, out, true_body, inst.qubits, [], 0)
        return
    if false_body is not None and len(controls) > 1:
        flag = next(free)
        out.mcx(controls, flag, ctrl_state=state)
        controls, state = [flag], 1
    _append_body(circuit, out, true_body, inst.qubits, controls, state)
    if false_body is not None:
        _append_body(circuit, out, false_body, inst.qubits, controls, 1 - state)


def _append_body(
    circuit: QuantumCircuit,
    out: QuantumCircuit,
    body: QuantumCircuit,
    qubits: Any,
    controls: list[Any],
    state: int,
) -> None:
    """Append the gates of a control-flow block (whose qubit ``i`` is ``qubits[i]``), each controlled on
    ``controls`` being in ``state`` (bit ``i`` of ``state`` for ``controls[i]``)."""
    from qiskit.circuit.library import GlobalPhaseGate

    index = {q: i for i, q in enumerate(body.qubits)}
    if body.global_phase and controls:
        out.append(GlobalPhaseGate(body.global_phase).control(len(controls), ctrl_state=state), controls)
    elif body.global_phase:
        out.global_phase += body.global_phase
    for binst in body.data:
        op = binst.operation
        if op.name in ("barrier", "delay"):
            continue
        if binst.clbits or op.name in ("reset", "store"):
            raise _unsupported(circuit, f"'{op.name}' inside an if_test body")
        targets = [qubits[index[q]] for q in binst.qubits]
        if not controls:
            out.append(op, targets)
            continue
        try:
            gate = op.control(len(controls), ctrl_state=state)
        except Exception as exc:  # a non-gate instruction (initialize, ...) has no controlled form
            raise _unsupported(circuit, f"'{op.name}' inside an if_test body") from exc
        out.append(gate, [*controls, *targets])


def defer_to_end(circuit: QuantumCircuit) -> QuantumCircuit:
    """A circuit with the same outcome distribution as ``circuit`` whose measurements all come last.

    For sampling: each mid-circuit measurement of qubit ``q`` becomes ``CX(q, a)`` onto a fresh ancilla
    ``a``, measured into the same bit at the end; a reset becomes ``CX(q, a); CX(a, q)``. Terminal
    measurements move to the end too, every measurement keeping its place in the order of writes (so
    the last write to a bit still wins). A simulator then evolves one state and samples it, where it would
    otherwise branch on each outcome or run shot by shot. The price is one qubit per mid-circuit
    measurement (one something acts on afterwards: a later gate on its qubit, a later write to its bit)
    or reset.

    Parameters
    ----------
    circuit
        A circuit without classical control (no ``if_test``, loops or ``store``).

    Raises
    ------
    UnsupportedOperationError
        For classical control, naming the operation.
    """
    from qiskit import QuantumRegister
    from qiskit.circuit import CircuitInstruction, Measure
    from qiskit.circuit.library import CXGate

    from parsl_quantum.circuits.normalize import append_instructions, measurement_scan

    terminal = measurement_scan(circuit, later_writes_count=True)
    needed = sum(
        (inst.name == "measure" and not last) or inst.name == "reset"
        for inst, last in zip(circuit.data, terminal, strict=True)
    )
    ancillas = QuantumRegister(needed, ANCILLA_REGISTER)
    out = circuit.copy_empty_like()
    if len(ancillas):
        out.add_register(ancillas)
    free = iter(ancillas)
    body: list[Any] = []
    measurements: list[Any] = []
    for inst, last in zip(circuit.data, terminal, strict=True):
        name = inst.name  # not inst.operation: a standard gate's is built anew at each read
        if inst.is_control_flow() or name == "store":
            raise UnsupportedOperationError(
                f"circuit '{circuit.name}': measurements cannot be deferred past the operation "
                f"'{name}', which reads classical bits"
            )
        if name == "measure":
            qubit = inst.qubits[0]
            if not last:
                anc = next(free)
                body.append(CircuitInstruction(CXGate(), (qubit, anc), ()))
                qubit = anc
            measurements.append(CircuitInstruction(Measure(), (qubit,), inst.clbits))
        elif name == "reset":
            anc = next(free)
            body.append(CircuitInstruction(CXGate(), (inst.qubits[0], anc), ()))
            body.append(CircuitInstruction(CXGate(), (anc, inst.qubits[0]), ()))
        else:
            body.append(inst)
    append_instructions(out, body + measurements)
    return out
