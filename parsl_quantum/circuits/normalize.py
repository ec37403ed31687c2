"""Normalising what users hand a device: circuits and observables.

Circuits may be Qiskit ``QuantumCircuit`` objects or OpenQASM 2 / OpenQASM 3 strings; observables may be
``SparsePauliOp`` objects or Pauli strings in Qiskit's order (the rightmost letter acts on qubit 0).
Every device calls these functions, so every device accepts the same inputs and raises the same errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from parsl_quantum.errors import (
    CircuitParseError,
    NoMeasurementsError,
    ObservableError,
    UnboundParametersError,
)

if TYPE_CHECKING:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

CircuitLike = Any  # QuantumCircuit | str
ObservableLike = Any  # SparsePauliOp | str


def _parse_qasm(text: str) -> QuantumCircuit:
    """Parse an OpenQASM 2 or 3 program, raising :class:`CircuitParseError` with the parser's message."""
    import qiskit.qasm2
    import qiskit.qasm3

    version3 = "OPENQASM 3" in text[:200]
    try:
        if version3:
            return qiskit.qasm3.loads(text)
        return qiskit.qasm2.loads(text, custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    except Exception as exc:  # the parsers raise several types; the message is what matters
        kind = "OpenQASM 3" if version3 else "OpenQASM 2"
        raise CircuitParseError(f"malformed {kind} program: {exc}") from exc


def to_circuit(circuit: CircuitLike) -> QuantumCircuit:
    """Return ``circuit`` as a ``QuantumCircuit``, parsing it when it is an OpenQASM string.

    Parameters
    ----------
    circuit
        A ``QuantumCircuit`` or the text of an OpenQASM 2 or 3 program.

    Raises
    ------
    CircuitParseError
        If the text does not parse (the message is the parser's) or the object is not a circuit.
    UnboundParametersError
        If the circuit has parameters without values.
    """
    from qiskit import QuantumCircuit

    if isinstance(circuit, str):
        circuit = _parse_qasm(circuit)
    if not isinstance(circuit, QuantumCircuit):
        raise CircuitParseError(
            f"expected a QuantumCircuit or an OpenQASM string, got {type(circuit).__name__}"
        )
    if circuit.num_parameters:
        names = ", ".join(sorted(p.name for p in circuit.parameters)[:5])
        raise UnboundParametersError(
            f"circuit '{circuit.name}' has {circuit.num_parameters} unbound parameters ({names}); "
            "assign values with circuit.assign_parameters(...) before running it"
        )
    return circuit


class QpyCircuits:
    """Circuits in Qiskit's binary QPY form, for sending to tasks.

    Parsl serialises task arguments with dill, which takes about 10 ms per ``QuantumCircuit``; a
    workflow that ships thousands of small circuits spends its time pickling them on the submitting
    host. In QPY, they cost about 0.25 ms each to write and to read back. Every device accepts a
    ``QpyCircuits`` wherever it accepts a sequence of circuits.

    Parameters
    ----------
    circuits
        The circuits (``QuantumCircuit`` or OpenQASM text) to pack.
    """

    def __init__(self, circuits: Sequence[CircuitLike]) -> None:
        import io

        from qiskit import qpy

        buffer = io.BytesIO()
        qpy.dump([to_circuit(c) for c in circuits], buffer)
        self.data = buffer.getvalue()
        self.count = len(circuits)

    def unpack(self) -> list[QuantumCircuit]:
        """The circuits, as ``QuantumCircuit`` objects."""
        import io

        from qiskit import qpy

        return list(qpy.load(io.BytesIO(self.data)))

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"QpyCircuits({self.count} circuits, {len(self.data)} bytes)"


def to_circuits(
    circuits: CircuitLike | Sequence[CircuitLike] | QpyCircuits,
) -> tuple[list[QuantumCircuit], bool]:
    """Normalise one circuit, a sequence of them, or :class:`QpyCircuits`.

    Returns
    -------
    (list of QuantumCircuit, bool)
        The circuits, and whether a single circuit (not a sequence) was given.
    """
    if isinstance(circuits, QpyCircuits):
        return [to_circuit(c) for c in circuits.unpack()], False
    if isinstance(circuits, (str, bytes)) or not isinstance(circuits, Sequence):
        return [to_circuit(circuits)], True
    return [to_circuit(c) for c in circuits], False


def count_measurements(circuit: QuantumCircuit) -> int:
    """Number of measurement instructions in ``circuit``.

    ``count_ops`` runs in Qiskit's Rust core; iterating ``circuit.data`` builds a Python object per
    instruction and costs ~50 times more.
    """
    return int(circuit.count_ops().get("measure", 0))


def require_measurements(circuit: QuantumCircuit) -> None:
    """Raise :class:`NoMeasurementsError` if ``circuit`` measures nothing."""
    if circuit.num_clbits == 0 or count_measurements(circuit) == 0:
        raise NoMeasurementsError(
            f"circuit '{circuit.name}' has no measurements, so sampling it returns nothing; "
            "add qc.measure_all() or measure the qubits you want counted"
        )


def _clbits_read(instruction: Any) -> set[Any]:
    """Classical bits an instruction reads or writes: its clbits, and the bits a ``store`` reads."""
    bits = set(instruction.clbits)
    if instruction.name != "store":  # only a store reads an expression (reading any other operation
        return bits  # would build a Python object for a standard gate)
    rvalue = getattr(instruction.operation, "rvalue", None)
    if rvalue is not None:
        from qiskit.circuit import ClassicalRegister, Clbit
        from qiskit.circuit.classical import expr

        for var in expr.iter_vars(rvalue):
            if isinstance(var.var, Clbit):
                bits.add(var.var)
            elif isinstance(var.var, ClassicalRegister):
                bits.update(var.var)
    return bits


def measurement_scan(circuit: QuantumCircuit, later_writes_count: bool) -> list[bool]:
    """Per instruction of ``circuit.data``: whether it is a measurement that nothing after it reads.

    Scans backwards: a ``measure`` is kept as final when no later instruction (other than a barrier, a
    delay or another measurement) acts on its qubit and none reads its bit (a control-flow condition, a
    ``store``). With ``later_writes_count``, a later measurement into the same bit also makes it
    non-final: it cannot then be moved past that measurement.
    """
    data = list(circuit.data)  # one pass over the circuit's own storage, not an indexing call per item
    final = [False] * len(data)
    if not circuit.count_ops().get("measure"):
        return final
    later_qubits: set[Any] = set()
    later_clbits: set[Any] = set()
    for index in range(len(data) - 1, -1, -1):
        inst = data[index]
        is_measure = inst.name == "measure"
        if is_measure and not (set(inst.qubits) & later_qubits or set(inst.clbits) & later_clbits):
            final[index] = True
        if inst.name in ("barrier", "delay"):
            continue
        if not is_measure:  # measuring a qubit again in the same basis does not disturb the first outcome
            later_qubits.update(inst.qubits)
        if later_writes_count or not is_measure:
            later_clbits.update(_clbits_read(inst))
    return final


def final_measurements(circuit: QuantumCircuit) -> list[bool]:
    """Which instructions of ``circuit.data`` are final measurements.

    A measurement is final when nothing reads it afterwards: no later operation (other than barriers,
    delays and measurements) acts on its qubit and no later condition (``if_test``, ``switch``,
    ``while_loop``) or ``store`` reads its classical bit. Only final measurements may be dropped to
    estimate expectation values: a measurement whose outcome feeds a condition, or whose qubit is used
    again, changes the state the circuit prepares.

    Parameters
    ----------
    circuit
        A circuit.

    Returns
    -------
    list of bool
        One entry per instruction of ``circuit.data``; ``True`` for a final measurement.

    Examples
    --------
    ``h(0); measure(0, 0); if_test((c0, 1)): x(1); measure(1, 1)``: the first measurement feeds the
    condition (not final); the second is final.
    """
    return measurement_scan(circuit, later_writes_count=False)


def append_instructions(circuit: QuantumCircuit, instructions: Any) -> None:
    """Append ``instructions`` (``CircuitInstruction``s on ``circuit``'s own bits, as taken from a circuit
    it was made empty like) to ``circuit``.

    ``QuantumCircuit.append`` checks and broadcasts its arguments, about 30 times the cost of adding one
    instruction (milliseconds for a cut fragment rebuilt on a worker); an instruction taken from a circuit
    on the same bits needs none of it. Control flow, and an operation with symbolic parameters or
    classical expressions, still go through ``append``, which validates them and copies a parametrised
    operation so that the two circuits do not share it; a standard gate needs no copy (the circuit keeps
    its parameters itself and gives a new gate object each time one is read).
    """
    from qiskit.circuit import ControlFlowOp, ParameterExpression
    from qiskit.circuit.classical import expr

    checked = (ParameterExpression, expr.Expr)
    for instruction in instructions:
        if instruction.is_standard_gate():  # (its operation would be a Python object built to be read)
            circuit._append(instruction)
            continue
        operation = instruction.operation
        if isinstance(operation, ControlFlowOp) or (
            # a standard gate's parameters are held by the circuit, not by a shared Python object
            getattr(operation, "_standard_gate", None) is None
            and any(isinstance(p, checked) for p in operation.params)
        ):
            circuit.append(instruction)
        else:
            circuit._append(instruction)


def terminal_measurements_last(circuit: QuantumCircuit) -> QuantumCircuit:
    """``circuit`` with every terminal measurement moved to the end (an equivalent circuit).

    A measurement is terminal when nothing acts on its qubit afterwards and nothing later writes or reads
    its bit; it commutes with every later operation. Simulators sample a final state only when all
    measurements come last: a circuit that measures each qubit right after rotating it (cut
    subexperiments do) otherwise runs shot by shot. Circuits with nothing to move are returned as is.
    """
    data = list(circuit.data)
    if any(inst.is_control_flow() for inst in data):
        return circuit  # classical control reads bits: keep the order as written
    terminal = measurement_scan(circuit, later_writes_count=True)
    first_terminal = next((i for i, t in enumerate(terminal) if t), len(data))
    if all(terminal[first_terminal:]):
        return circuit  # already at the end
    out = circuit.copy_empty_like()
    append_instructions(
        out, (inst for inst, is_terminal in zip(data, terminal, strict=True) if not is_terminal)
    )
    append_instructions(out, (inst for inst, is_terminal in zip(data, terminal, strict=True) if is_terminal))
    return out


def drop_unobserved_gates(circuit: QuantumCircuit) -> QuantumCircuit:
    """``circuit`` without the gates no measurement can observe (the same outcome distribution).

    Scanning backwards, a qubit is *observed* from the point where its state can still reach a
    measurement. A unitary gate that acts only on unobserved qubits changes nothing any measurement sees
    and is dropped: typically the rotations a cut fragment applies to a qubit after measuring it for the
    last time. Everything that is not a plain unitary gate (measurements, resets, classical control, Aer's
    ``save_*`` instructions) is kept and observes its qubits. Circuits with nothing to drop are returned
    as is.
    """
    from qiskit.circuit import Gate

    data = list(circuit.data)  # one pass over the circuit's own storage, not an indexing call per item
    observed: set[Any] = set()
    keep = [True] * len(data)
    for index in range(len(data) - 1, -1, -1):
        inst = data[index]
        if inst.name in ("barrier", "delay"):
            continue
        if inst.is_standard_gate():  # a plain gate (its operation is built anew at each read: not read)
            plain_gate = True
        else:
            op = inst.operation
            plain_gate = isinstance(op, Gate) and not inst.clbits and getattr(op, "condition", None) is None
        if plain_gate and not observed.intersection(inst.qubits):
            keep[index] = False
            continue
        observed.update(inst.qubits)
    if all(keep):
        return circuit
    # most dropped (a cut fragment's light cone): the kept ones, added again to an empty circuit
    if 2 * sum(keep) < len(keep):
        out = circuit.copy_empty_like()
        append_instructions(out, (inst for inst, keeps in zip(data, keep, strict=True) if keeps))
        return out
    # else a copy less the dropped instructions
    out = circuit.copy()
    runs: list[list[int]] = []  # the dropped instructions as runs [start, end), deleted a run at a time
    for index, keeps in enumerate(keep):
        if keeps:
            continue
        if runs and runs[-1][1] == index:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1])
    out_data = out.data
    for start, end in reversed(runs):
        del out_data[start:end]
    return out


def strip_measurements(circuit: QuantumCircuit) -> QuantumCircuit:
    """``circuit`` without its final measurements (see :func:`final_measurements`), for estimating
    expectation values.

    Measurements that something reads afterwards (a condition on their bit, a later gate on their qubit)
    stay. When no measurement is left, the classical bits go too (as with Qiskit's
    ``remove_final_measurements``), so the result is a plain unitary circuit.
    """
    final = final_measurements(circuit)
    if not any(final):
        return circuit
    kept = [inst for inst, is_final in zip(circuit.data, final, strict=True) if not is_final]
    if not any(_clbits_read(inst) for inst in kept):
        # Nothing classical is left: the classical bits go, and so do the barriers only final
        # measurements followed (as with Qiskit's pass).
        quantum = _quantum_only(circuit, kept)
        if quantum is not None:
            return quantum
        stripped = circuit.remove_final_measurements(inplace=False)  # loose bits, a layout, variables
        if not count_measurements(stripped):
            return stripped
    out = circuit.copy_empty_like()
    for inst in kept:
        out.append(inst)
    return out


def _quantum_only(circuit: QuantumCircuit, kept: list[Any]) -> QuantumCircuit | None:
    """A circuit of ``circuit``'s quantum registers alone holding the ``kept`` instructions, less the
    barriers nothing but removed measurements followed; ``None`` where that would lose something (qubits
    outside registers, a layout, classical variables): then Qiskit's slower pass does it."""
    from qiskit import QuantumCircuit

    if (
        circuit.layout is not None
        or circuit.num_vars
        or circuit.num_stretches
        or [q for register in circuit.qregs for q in register] != list(circuit.qubits)
    ):
        return None
    touched: set[Any] = set()  # qubits something kept acts on later
    final_barrier = [False] * len(kept)
    for index in range(len(kept) - 1, -1, -1):
        inst = kept[index]
        if inst.name == "barrier" and not touched.intersection(inst.qubits):
            final_barrier[index] = True
            continue
        touched.update(inst.qubits)
    out = QuantumCircuit(
        *circuit.qregs,
        name=circuit.name,
        global_phase=circuit.global_phase,
        metadata=dict(circuit.metadata or {}),
    )
    append_instructions(out, (inst for inst, drop in zip(kept, final_barrier, strict=True) if not drop))
    return out


#: Operations that make a circuit dynamic: its state depends on measurement outcomes or is not unitary.
DYNAMIC_OPERATIONS = frozenset(
    {"measure", "reset", "if_else", "while_loop", "for_loop", "switch_case", "box", "store"}
)


def dynamic_operations(circuit: QuantumCircuit) -> set[str]:
    """Names of the operations of ``circuit`` that are not unitary gates (mid-circuit measurements,
    resets, classical control); empty for a unitary circuit. Apply it to a circuit whose final
    measurements are stripped (:func:`strip_measurements`)."""
    return set(circuit.count_ops()) & DYNAMIC_OPERATIONS


def to_observable(observable: ObservableLike, num_qubits: int, circuit_name: str = "") -> SparsePauliOp:
    """Return ``observable`` as a ``SparsePauliOp`` acting on ``num_qubits`` qubits.

    Parameters
    ----------
    observable
        A ``SparsePauliOp``, a ``Pauli``, or a Pauli string such as ``"ZZI"`` (rightmost letter on
        qubit 0, as in Qiskit).
    num_qubits
        The width of the circuit the observable is measured on.
    circuit_name
        Used in the error message.

    Raises
    ------
    ObservableError
        If the observable is malformed or its width differs from the circuit's.
    """
    from qiskit.quantum_info import Pauli, SparsePauliOp

    try:
        if isinstance(observable, SparsePauliOp):
            op = observable
        elif isinstance(observable, (str, Pauli)):
            op = SparsePauliOp(observable)
        else:
            op = SparsePauliOp(observable)
    except Exception as exc:
        raise ObservableError(f"cannot read observable {observable!r}: {exc}") from exc
    if op.num_qubits != num_qubits:
        raise ObservableError(
            f"observable acts on {op.num_qubits} qubits but circuit '{circuit_name}' has {num_qubits}; "
            "they must have the same width"
        )
    return op


def to_observable_lists(
    observables: ObservableLike | Sequence[Any], circuits: list[QuantumCircuit], single_circuit: bool
) -> tuple[list[list[SparsePauliOp]], str]:
    """Pair observables with circuits.

    For one circuit, ``observables`` is one observable or a list of them. For several circuits it is
    one observable (measured on every circuit) or a list with one entry per circuit, each entry an
    observable or a list of observables.

    Returns
    -------
    (list of lists of SparsePauliOp, str)
        Per circuit, its observables; and the shape of the answer: ``"scalar"``, ``"vector"``
        (one value per observable of one circuit, or one per circuit), or ``"matrix"``.
    """

    def is_single(obs: Any) -> bool:
        from qiskit.quantum_info import Pauli, SparsePauliOp

        return isinstance(obs, (str, SparsePauliOp, Pauli))

    if single_circuit:
        (qc,) = circuits
        if is_single(observables):
            return [[to_observable(observables, qc.num_qubits, qc.name)]], "scalar"
        return [[to_observable(o, qc.num_qubits, qc.name) for o in observables]], "vector"
    if is_single(observables):
        return [[to_observable(observables, qc.num_qubits, qc.name)] for qc in circuits], "vector"
    observables = list(observables)
    if len(observables) != len(circuits):
        raise ObservableError(
            f"{len(circuits)} circuits but {len(observables)} observable entries; give one observable "
            "for all circuits or one entry per circuit"
        )
    paired: list[list[SparsePauliOp]] = []
    for qc, entry in zip(circuits, observables, strict=True):
        group = [entry] if is_single(entry) else list(entry)
        paired.append([to_observable(o, qc.num_qubits, qc.name) for o in group])
    shape = "vector" if all(is_single(e) for e in observables) else "matrix"
    return paired, shape


def active_qubits(circuit: QuantumCircuit) -> list[int]:
    """Indices of the qubits that some non-barrier instruction touches, in increasing order."""
    used: set[int] = set()
    for inst in circuit.data:
        if inst.name in ("barrier", "delay"):
            continue
        used.update(circuit.find_bit(q).index for q in inst.qubits)
    return sorted(used)
