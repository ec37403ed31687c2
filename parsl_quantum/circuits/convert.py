"""Conversion between Qiskit and PennyLane: circuits, observables and measurement outcomes.

Conventions
-----------
Qubit ``i`` of a Qiskit circuit is PennyLane wire ``i`` (or, from PennyLane to Qiskit, the wire at
position ``i`` of a ``wire_order``). A Qiskit Pauli label is read right to left: its rightmost letter
acts on qubit 0, so ``"IIZ"`` is ``Z(0)`` and ``"ZII"`` is ``Z(2)``. Counts keys are written as Qiskit's
``get_counts`` writes them: classical bit 0 rightmost, registers separated by a space, last register
first.

Both directions go through one table of gates that have the same matrix in both libraries (up to a
global phase for uncontrolled gates); Qiskit operations outside it are first decomposed into it with
``qiskit.transpile``, PennyLane operations by the device's ``decompose`` transform.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from parsl_quantum.errors import ObservableError, UnsupportedOperationError

if TYPE_CHECKING:
    from pennylane.measurements import MeasurementValue
    from pennylane.operation import Operator
    from pennylane.tape import QuantumScript
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

# Qiskit gate name -> PennyLane operator name. "Adjoint(G)" is the adjoint of PennyLane's G.
GATE_PAIRS: tuple[tuple[str, str], ...] = (
    ("h", "Hadamard"),
    ("x", "PauliX"),
    ("y", "PauliY"),
    ("z", "PauliZ"),
    ("s", "S"),
    ("sdg", "Adjoint(S)"),
    ("t", "T"),
    ("tdg", "Adjoint(T)"),
    ("sx", "SX"),
    ("sxdg", "Adjoint(SX)"),
    ("rx", "RX"),
    ("ry", "RY"),
    ("rz", "RZ"),
    ("p", "PhaseShift"),
    ("u", "U3"),
    ("cx", "CNOT"),
    ("cy", "CY"),
    ("cz", "CZ"),
    ("ch", "CH"),
    ("swap", "SWAP"),
    ("crx", "CRX"),
    ("cry", "CRY"),
    ("crz", "CRZ"),
    ("cp", "ControlledPhaseShift"),
    ("rxx", "IsingXX"),
    ("ryy", "IsingYY"),
    ("rzz", "IsingZZ"),
    ("ccx", "Toffoli"),
    ("cswap", "CSWAP"),
)

#: Qiskit operations that do nothing to the state a device samples (``global_phase`` is unobservable).
SKIPPED_QISKIT_OPS = frozenset({"id", "barrier", "global_phase", "delay"})
#: PennyLane operations that have no gate to become in Qiskit.
SKIPPED_PENNYLANE_OPS = frozenset({"Identity", "Barrier"})

QISKIT_TO_PENNYLANE = dict(GATE_PAIRS)
PENNYLANE_TO_QISKIT = {pl: qk for qk, pl in GATE_PAIRS}
#: Qiskit operation names a circuit may hold without being decomposed first.
QISKIT_CONVERTIBLE = frozenset(QISKIT_TO_PENNYLANE) | SKIPPED_QISKIT_OPS | {"measure", "reset"}
#: PennyLane operation names :func:`tape_to_qiskit` converts (the stopping set for decompositions).
PENNYLANE_CONVERTIBLE = frozenset(PENNYLANE_TO_QISKIT) | SKIPPED_PENNYLANE_OPS | {"GlobalPhase"}


@dataclass(frozen=True)
class Measurement:
    """A Qiskit ``measure`` (``clbit`` set) or ``reset`` (``clbit`` is ``None``) of one qubit.

    Attributes
    ----------
    qubit
        The qubit index (the PennyLane wire).
    clbit
        Index of the classical bit written, in ``circuit.clbits``; ``None`` for a reset.
    terminal
        Whether the measurement is final (nothing but measurements, barriers and delays acts on the qubit
        afterwards and no condition reads its bit: see
        :func:`~parsl_quantum.circuits.normalize.final_measurements`), so that the outcome can be read
        from the final state instead of measuring mid-circuit.
    """

    qubit: int
    clbit: int | None
    terminal: bool


@dataclass(frozen=True)
class Conditional:
    """A Qiskit ``if_test`` (with its ``else``): gates applied according to classical bits.

    Attributes
    ----------
    condition
        ``(clbit, value)`` pairs, all of which must hold (a register condition is one pair per bit).
    true_ops, false_ops
        PennyLane operators (not queued) of the ``if`` and the ``else`` block.
    """

    condition: tuple[tuple[int, int], ...]
    true_ops: tuple[Any, ...]
    false_ops: tuple[Any, ...] = ()

    def queue(self, current: dict[int, MeasurementValue]) -> None:
        """Queue the blocks under ``qml.cond``; ``current`` maps each classical bit measured so far to
        the measurement that wrote it (a bit never written reads 0)."""
        import pennylane as qml

        predicate = None
        for clbit, value in self.condition:
            measured = current.get(clbit)
            if measured is None:
                if value:  # the bit is 0: the condition cannot hold
                    _apply(self.false_ops)
                    return
                continue
            term = measured == value
            predicate = term if predicate is None else predicate & term
        if predicate is None:
            _apply(self.true_ops)
            return
        false_fn = (lambda: _apply(self.false_ops)) if self.false_ops else None
        qml.cond(predicate, lambda: _apply(self.true_ops), false_fn)()


def _apply(ops: Sequence[Any]) -> None:
    import pennylane as qml

    for op in ops:
        qml.apply(op)


@dataclass(frozen=True)
class PennyLaneCircuit:
    """A Qiskit circuit as PennyLane operations and measurements, ready to be queued in a tape or QNode.

    Attributes
    ----------
    name
        The Qiskit circuit's name (for messages).
    num_qubits
        Its width; qubit ``i`` is wire ``i``.
    num_clbits
        Its number of classical bits.
    register_sizes
        Sizes of its classical registers, in circuit order (for formatting counts keys).
    instructions
        Gates (PennyLane operators, not queued), :class:`Measurement` and :class:`Conditional` entries,
        in circuit order.
    """

    name: str
    num_qubits: int
    num_clbits: int
    register_sizes: tuple[int, ...]
    instructions: tuple[Any, ...]

    def final_writers(self) -> dict[int, Measurement]:
        """For each classical bit written, the last measurement that writes it (the value it keeps)."""
        writers: dict[int, Measurement] = {}
        for inst in self.instructions:
            if isinstance(inst, Measurement) and inst.clbit is not None:
                writers[inst.clbit] = inst
        return writers

    def queue(self) -> dict[int, MeasurementValue]:
        """Queue the circuit's gates, mid-circuit measurements and resets in the active PennyLane context.

        Call it inside a quantum function or a ``qml.queuing.AnnotatedQueue``. Terminal measurements are
        not queued: read them from the final state (see :meth:`final_writers`).

        Returns
        -------
        dict
            ``clbit -> MeasurementValue`` for the classical bits whose final value comes from a
            mid-circuit measurement.
        """
        import pennylane as qml

        values: dict[int, MeasurementValue] = {}
        current: dict[int, MeasurementValue] = {}
        final = self.final_writers()
        for inst in self.instructions:
            if isinstance(inst, Conditional):
                inst.queue(current)
            elif not isinstance(inst, Measurement):
                qml.apply(inst)
            elif inst.clbit is None:
                qml.measure(inst.qubit, reset=True)
            elif not inst.terminal:
                value = current[inst.clbit] = qml.measure(inst.qubit)
                if final[inst.clbit] is inst:
                    values[inst.clbit] = value
        return values

    def sampling_tape(self, shots: int) -> QuantumScript:
        """A tape that samples the circuit's classical bits ``shots`` times.

        Terminal measurements become one ``qml.sample(wires=...)`` of the final state; only the other
        measurements are mid-circuit measurements, sampled with ``qml.sample(op=[...])``. Read the
        result with :meth:`counts`.
        """
        import pennylane as qml

        with qml.queuing.AnnotatedQueue() as queue:
            values = self.queue()
            wires = self._terminal_wires()
            if wires:
                qml.sample(wires=wires)
            if values:
                qml.sample(op=[values[clbit] for clbit in sorted(values)])
        return qml.tape.QuantumScript.from_queue(queue, shots=shots)

    def expval_tape(self, observables: Sequence[SparsePauliOp]) -> QuantumScript:
        """An analytic tape returning the expectation value of each observable (final measurements
        of the circuit are ignored)."""
        import pennylane as qml

        operators = [sparse_pauli_to_pennylane(obs) for obs in observables]
        with qml.queuing.AnnotatedQueue() as queue:
            self.queue()
            for op in operators:
                qml.expval(op)
        return qml.tape.QuantumScript.from_queue(queue)

    def counts(self, result: Any, shots: int) -> dict[str, int]:
        """Qiskit counts from the result of executing :meth:`sampling_tape` with ``shots``."""
        writers = self.final_writers()
        wires = self._terminal_wires()
        mid = sorted(clbit for clbit, m in writers.items() if not m.terminal)
        parts = list(result) if wires and mid else [result]
        bits = np.zeros((shots, self.num_clbits), dtype=np.uint8)
        if wires:
            samples = np.asarray(parts[0]).reshape(shots, len(wires))
            column = {w: i for i, w in enumerate(wires)}
            terminal = [clbit for clbit, m in writers.items() if m.terminal]
            bits[:, terminal] = samples[:, [column[writers[c].qubit] for c in terminal]]
        if mid:
            bits[:, mid] = np.asarray(parts[-1]).reshape(shots, len(mid))
        return counts_from_bits(bits, self.register_sizes)

    def _terminal_wires(self) -> list[int]:
        return sorted({m.qubit for m in self.final_writers().values() if m.terminal})


def _block_names(circuit: QuantumCircuit) -> set[str]:
    """Names of the operations of ``circuit``, those inside ``if_test`` blocks included."""
    names = set()
    for inst in circuit.data:
        names.add(inst.name)
        for block in getattr(inst.operation, "blocks", ()):
            names |= _block_names(block)
    return names


def _check_control_flow(circuit: QuantumCircuit) -> None:
    """Raise :class:`UnsupportedOperationError` for control flow that does not convert: anything but
    ``if_test`` (with or without ``else``) on a bit or a register, whose blocks hold only gates."""
    from qiskit.circuit import ControlFlowOp, IfElseOp

    for inst in circuit.data:
        op = inst.operation
        if not isinstance(op, ControlFlowOp):
            continue
        if not isinstance(op, IfElseOp):
            raise UnsupportedOperationError(
                f"circuit '{circuit.name}' uses the control-flow operation '{op.name}', which cannot be "
                "converted to PennyLane (only if_test can); run it on an Aer or QPU device instead"
            )
        if not isinstance(op.condition, tuple):
            raise UnsupportedOperationError(
                f"circuit '{circuit.name}' has an if_test on the classical expression {op.condition}, "
                "which cannot be converted to PennyLane (conditions on a bit or a register can); run it on "
                "an Aer or QPU device instead"
            )
        inner = set().union(*(_block_names(block) for block in op.blocks))
        for name in sorted(inner & {"measure", "reset", "if_else", "while_loop", "for_loop", "switch_case"}):
            raise UnsupportedOperationError(
                f"circuit '{circuit.name}' has '{name}' inside an if_test block, which cannot be converted "
                "to PennyLane; run it on an Aer or QPU device instead"
            )


def _decompose_unsupported(circuit: QuantumCircuit) -> QuantumCircuit:
    """``circuit`` itself when every operation is convertible, else decomposed into convertible ones."""
    from qiskit import transpile

    _check_control_flow(circuit)
    convertible = QISKIT_CONVERTIBLE | {"if_else"}
    names = _block_names(circuit)
    if names <= convertible:
        return circuit
    basis = sorted(convertible - {"barrier", "delay"})  # the transpiler keeps these anyway
    try:
        decomposed = transpile(circuit, basis_gates=basis, optimization_level=0)
    except Exception as exc:  # the transpiler raises several types; name the circuit and the ops
        unknown = ", ".join(sorted(names - convertible))
        raise UnsupportedOperationError(
            f"circuit '{circuit.name}': cannot decompose {unknown} into gates PennyLane runs: {exc}"
        ) from exc
    left = _block_names(decomposed) - convertible
    if left:
        raise UnsupportedOperationError(
            f"circuit '{circuit.name}' uses {', '.join(sorted(left))}, which has no PennyLane equivalent "
            "and no decomposition into one"
        )
    return decomposed


def _gates(block: QuantumCircuit, wires: Sequence[int]) -> tuple[Any, ...]:
    """The gates of an ``if_test`` block (whose qubit ``i`` is wire ``wires[i]``) as PennyLane operators.

    A block's global phase is left out: the branches follow a measurement, so they never interfere.
    """
    index = {q: wires[i] for i, q in enumerate(block.qubits)}
    return tuple(
        pennylane_gate(
            QISKIT_TO_PENNYLANE[inst.name],
            [float(p) for p in inst.params],
            [index[q] for q in inst.qubits],
        )
        for inst in block.data
        if inst.name not in SKIPPED_QISKIT_OPS
    )


def _conditional(inst: Any, qubit_index: dict[Any, int], clbit_index: dict[Any, int]) -> Conditional:
    """A Qiskit ``if_else`` instruction (checked by :func:`_check_control_flow`) as a :class:`Conditional`."""
    from qiskit.circuit import Clbit

    target, value = inst.operation.condition
    bits = [target] if isinstance(target, Clbit) else list(target)
    wires = [qubit_index[q] for q in inst.qubits]
    blocks = inst.operation.blocks
    return Conditional(
        condition=tuple((clbit_index[bit], (int(value) >> i) & 1) for i, bit in enumerate(bits)),
        true_ops=_gates(blocks[0], wires),
        false_ops=_gates(blocks[1], wires) if len(blocks) > 1 else (),
    )


def pennylane_gate(name: str, params: Sequence[float], wires: Sequence[Any]) -> Operator:
    """The PennyLane operator called ``name`` (a value of :data:`QISKIT_TO_PENNYLANE`), not queued.

    Parameters
    ----------
    name
        PennyLane operator name; ``"Adjoint(G)"`` gives the adjoint of ``G``.
    params
        Its parameters.
    wires
        The wires it acts on.
    """
    import pennylane as qml

    with qml.QueuingManager.stop_recording():
        if name.startswith("Adjoint("):
            return qml.adjoint(getattr(qml, name[len("Adjoint(") : -1])(*params, wires=wires))
        return getattr(qml, name)(*params, wires=wires)


def qiskit_to_pennylane(circuit: QuantumCircuit) -> PennyLaneCircuit:
    """Convert a bound Qiskit circuit to PennyLane operations on wires ``0..num_qubits-1``.

    Parameters
    ----------
    circuit
        A circuit without free parameters. Operations outside :data:`GATE_PAIRS` are decomposed with
        ``qiskit.transpile`` first (only when the circuit has some).

    Returns
    -------
    PennyLaneCircuit
        The gates and measurements, to be queued with :meth:`PennyLaneCircuit.queue`.

    Raises
    ------
    UnsupportedOperationError
        For control flow other than ``if_test`` on a bit or a register with gates in its blocks, or
        operations that do not decompose into the table.
    """
    from parsl_quantum.circuits.normalize import final_measurements

    circuit = _decompose_unsupported(circuit)
    qubit_index = {q: i for i, q in enumerate(circuit.qubits)}
    clbit_index = {c: i for i, c in enumerate(circuit.clbits)}
    # A final measurement (nothing acts on its qubit or reads its bit afterwards) is read from the final
    # state; the others are mid-circuit measurements.
    final = final_measurements(circuit)
    instructions: list[Any] = []
    for pos, inst in enumerate(circuit.data):
        name = inst.name
        if name in SKIPPED_QISKIT_OPS:
            continue
        qubits = [qubit_index[q] for q in inst.qubits]
        if name == "measure":
            instructions.append(Measurement(qubits[0], clbit_index[inst.clbits[0]], final[pos]))
        elif name == "reset":
            instructions.append(Measurement(qubits[0], None, False))
        elif name == "if_else":
            instructions.append(_conditional(inst, qubit_index, clbit_index))
        else:
            params = [float(p) for p in inst.operation.params]
            instructions.append(pennylane_gate(QISKIT_TO_PENNYLANE[name], params, qubits))
    return PennyLaneCircuit(
        name=circuit.name,
        num_qubits=circuit.num_qubits,
        num_clbits=circuit.num_clbits,
        register_sizes=tuple(creg.size for creg in circuit.cregs),
        instructions=tuple(instructions),
    )


def tape_to_qiskit(tape_or_ops: Any, wire_order: Sequence[Any], name: str = "pennylane") -> QuantumCircuit:
    """A Qiskit circuit (without classical bits) applying PennyLane operations.

    Parameters
    ----------
    tape_or_ops
        A ``QuantumScript`` (its ``operations`` are used; measurements are ignored) or a sequence of
        operators, already decomposed to :data:`PENNYLANE_CONVERTIBLE`.
    wire_order
        The wires; the wire at position ``i`` becomes qubit ``i``.
    name
        Name of the circuit.

    Raises
    ------
    UnsupportedOperationError
        For an operator outside the convertible set, or on a wire not in ``wire_order``.
    """
    from qiskit import QuantumCircuit

    ops = getattr(tape_or_ops, "operations", tape_or_ops)
    index = {w: i for i, w in enumerate(wire_order)}
    qc = QuantumCircuit(len(index), name=name)
    for op in ops:
        if op.name in SKIPPED_PENNYLANE_OPS:
            continue
        if op.name == "GlobalPhase":  # PennyLane's GlobalPhase(phi) multiplies the state by exp(-i phi)
            qc.global_phase -= float(op.data[0])
            continue
        gate = PENNYLANE_TO_QISKIT.get(op.name)
        if gate is None:
            raise UnsupportedOperationError(
                f"operation {op.name} of circuit '{name}' has no Qiskit equivalent; decompose it into "
                f"{', '.join(sorted(PENNYLANE_TO_QISKIT))}"
            )
        missing = [w for w in op.wires if w not in index]
        if missing:
            raise UnsupportedOperationError(
                f"operation {op.name} of circuit '{name}' acts on wires {missing} outside {list(wire_order)}"
            )
        getattr(qc, gate)(*(float(p) for p in op.data), *(index[w] for w in op.wires))
    return qc


def sparse_pauli_to_pennylane(observable: SparsePauliOp) -> Operator:
    """A ``SparsePauliOp`` as a PennyLane operator: a sum of Pauli words on wires ``0..n-1``.

    Parameters
    ----------
    observable
        The observable; its coefficients' imaginary parts are dropped (as for every device's estimate).
    """
    from pennylane.pauli import PauliSentence, PauliWord

    n = observable.num_qubits
    sentence = PauliSentence()
    for label, coeff in observable.to_list():
        word = PauliWord({n - 1 - i: letter for i, letter in enumerate(label) if letter != "I"})
        sentence[word] = sentence.get(word, 0.0) + float(np.real(coeff))
    return sentence.operation(wire_order=range(n))


def pennylane_to_sparse_pauli(observable: Any, wire_order: Sequence[Any]) -> SparsePauliOp:
    """A PennyLane observable (anything with a Pauli representation) as a ``SparsePauliOp``.

    Parameters
    ----------
    observable
        A PennyLane operator or a ``PauliSentence``.
    wire_order
        The wires; the wire at position ``i`` is qubit ``i`` (the ``i``-th letter from the right).

    Raises
    ------
    ObservableError
        If the observable has no Pauli representation (``Hermitian``, ``Projector``...) or acts on a
        wire outside ``wire_order``.
    """
    from pennylane.pauli import PauliSentence
    from qiskit.quantum_info import SparsePauliOp

    sentence = observable if isinstance(observable, PauliSentence) else observable.pauli_rep
    if sentence is None:
        raise ObservableError(
            f"observable {observable} has no Pauli representation; devices estimate sums of Pauli "
            "words (express it with qml.X/Y/Z, products and sums)"
        )
    index = {w: i for i, w in enumerate(wire_order)}
    n = len(index)
    labels, coeffs = [], []
    for word, coeff in sentence.items():
        label = ["I"] * n
        for wire, letter in word.items():
            if wire not in index:
                raise ObservableError(
                    f"observable {observable} acts on wire {wire}, not in {list(wire_order)}"
                )
            label[n - 1 - index[wire]] = letter
        labels.append("".join(label))
        coeffs.append(complex(coeff))
    if not labels:
        return SparsePauliOp("I" * n, coeffs=[0.0])
    return SparsePauliOp(labels, coeffs=np.array(coeffs))


def _key_layout(num_clbits: int, register_sizes: tuple[int, ...]) -> np.ndarray:
    """Columns of a counts key: the classical bit each character shows, or -1 for a space.

    This is Qiskit's layout: the bits from the highest index to 0, cut into the register sizes taken
    last register first (keeping only as many bits as the registers hold).
    """
    descending = list(range(num_clbits - 1, -1, -1))
    if not register_sizes:
        return np.array(descending, dtype=np.int64)
    columns: list[int] = []
    start = 0
    for size in reversed(register_sizes):
        if columns:
            columns.append(-1)
        columns.extend(descending[start : start + size])
        start += size
    return np.array(columns, dtype=np.int64)


def counts_from_bits(bits: np.ndarray, register_sizes: Iterable[int]) -> dict[str, int]:
    """Qiskit counts from per-shot classical bits.

    Parameters
    ----------
    bits
        Array of shape ``(shots, num_clbits)`` with 0/1 entries; column ``j`` is classical bit ``j``.
    register_sizes
        Sizes of the circuit's classical registers, in circuit order.

    Returns
    -------
    dict
        ``{key: count}`` with keys as ``Result.get_counts`` writes them.
    """
    bits = np.asarray(bits, dtype=np.uint8)
    layout = _key_layout(bits.shape[1], tuple(register_sizes))
    chars = np.where(layout < 0, ord(" "), bits[:, np.maximum(layout, 0)] + ord("0")).astype(np.uint8)
    keys = np.ascontiguousarray(chars).view(f"S{len(layout)}").ravel()
    unique, freq = np.unique(keys, return_counts=True)
    return {k.decode(): int(c) for k, c in zip(unique, freq, strict=True)}
