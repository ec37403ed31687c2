"""A circuit's structure apart from its parameter values, and cut subexperiments reused across values.

A variational loop runs the same circuit with new angles at every step. Its *structure* (the gates, the
wires they act on, the classical bits and conditions; not the angles) is what the cut search and the
planner's predictions depend on, so a plan of a structure seen before is reused (:func:`fingerprint`).
Its subexperiments are reused too: a :class:`CutTemplate` is the cut circuit with every angle of an
uncut gate replaced by a circuit parameter, cut and expanded once with qiskit-addon-cutting
(``cut_gates``, ``cut_wires``, ``expand_observables``, ``partition_problem``,
``generate_cutting_experiments``); :meth:`CutTemplate.bind` then only assigns the new angles. The angles
of the cut gates themselves stay numbers, since the quasi-probability coefficients depend on them: when
they change, the template is rebuilt at the same cut positions (no new cut search).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from parsl_quantum.q_dreamer.planning.decompose import CutProblem, CutStructure, cuttable, with_wire_cuts

CONTROL_FLOW = frozenset({"if_else", "while_loop", "for_loop", "switch_case", "box"})


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _varies(name: str, params: list[Any]) -> bool:
    """Whether the parameters ``params`` of an instruction named ``name`` (read once by the caller: a
    standard gate's are built anew on each access) are angles that may change between steps of a loop."""
    return name not in CONTROL_FLOW and bool(params) and all(_numeric(v) for v in params)


def _condition(inst: Any) -> Any:
    """An instruction's classical condition (``None``; a standard gate has none, and reading the
    operation of one builds a Python object for it)."""
    return None if inst.is_standard_gate() else getattr(inst.operation, "condition", None)


def fingerprint(circuit: Any) -> str:
    """A digest of ``circuit``'s structure: its instructions, their qubits, classical bits and any
    non-numeric parameter (a control-flow body, a condition), but not its gates' angles."""
    qubits = {q: i for i, q in enumerate(circuit.qubits)}  # find_bit's index, without a call per bit
    clbits = {c: i for i, c in enumerate(circuit.clbits)}
    parts: list[Any] = [circuit.num_qubits, circuit.num_clbits]
    for inst in circuit.data:
        name, params = inst.name, inst.params
        parts.append(
            (
                name,
                tuple(qubits[q] for q in inst.qubits),
                tuple(clbits[c] for c in inst.clbits),
                len(params) if _varies(name, params) else repr(params),
                repr(_condition(inst)),
            )
        )
    return hashlib.sha1(repr(parts).encode()).hexdigest()


def parameter_values(circuit: Any) -> list[float]:
    """The angles of ``circuit``'s gates, in instruction order."""
    values: list[float] = []
    for inst in circuit.data:
        params = inst.params
        if _varies(inst.name, params):
            values.extend(float(v) for v in params)
    return values


def has_classical_control(circuit: Any) -> str | None:
    """The feature that keeps ``circuit`` (final measurements stripped) from being cut, or ``None``:
    classically controlled operations (``if_test`` and other control flow), resets, or measurements that
    something reads afterwards."""
    from parsl_quantum.circuits.normalize import count_measurements

    names = set(circuit.count_ops())
    flow = sorted(names & CONTROL_FLOW)
    if flow:
        return f"classically controlled operations ({', '.join(flow)}: if_test and the like)"
    if "reset" in names:
        return "mid-circuit resets"
    if count_measurements(circuit):
        return "mid-circuit measurements (measurements that later operations depend on)"
    return None


def _cut_positions(structure: CutStructure) -> tuple[list[int], list[tuple[int, int]]]:
    """Indices of the cut gates in the uncut circuit, and ``(position, qubit)`` of each wire cut in the
    cut circuit (``find_cuts`` replaces cut gates in place and inserts wire cuts)."""
    gates, wires = [], []
    cut = structure.cut_circuit
    inserted = 0
    for position, inst in enumerate(cut.data):
        if inst.name == "cut_wire":
            wires.append((position, cut.find_bit(inst.qubits[0]).index))
            inserted += 1
        elif inst.name == "qpd_2q":
            gates.append(position - inserted)
    return gates, wires


@dataclass
class CutTemplate:
    """A cut structure expanded once, its uncut gates' angles left as parameters.

    Attributes
    ----------
    structure
        Where the circuit is cut.
    parameters
        One per angle of the circuit (:func:`parameter_values` order): the circuit parameter standing for
        it, or ``None`` for an angle of a cut gate (fixed).
    cut_values
        The cut gates' angles the coefficients were computed for.
    subexperiments, coefficients, subobservables
        From ``generate_cutting_experiments``, with parameters unassigned.
    """

    structure: CutStructure
    parameters: list[Any]
    cut_values: list[float]
    subexperiments: dict[Hashable, list[Any]]
    coefficients: list[Any]
    subobservables: dict[Hashable, Any]
    _packed: dict[tuple, tuple[str, bytes, tuple[str, ...]]] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def build(cls, structure: CutStructure, circuit: Any) -> CutTemplate:
        """Cut ``circuit`` (of the structure the cuts were found for) at ``structure``'s positions and
        generate its subexperiments with the uncut gates' angles as parameters."""
        from qiskit.circuit import CircuitInstruction, Parameter
        from qiskit_addon_cutting import cut_gates, expand_observables
        from qiskit_addon_cutting.instructions import CutWire

        from parsl_quantum.circuits.normalize import append_instructions
        from parsl_quantum.q_dreamer.planning.generate import generate, partitioned

        qc = cuttable(circuit)
        gates, wires = _cut_positions(structure)
        cut_indices = set(gates)
        template = qc.copy_empty_like()
        parameters: list[Any] = []
        cut_values: list[float] = []
        # the template is on the circuit's own bits: instructions go in without append's checks
        # (append_instructions), the fresh parametrised copies as they are (the template's own)
        for index, inst in enumerate(qc.data):
            params = inst.params
            if not _varies(inst.name, params):
                append_instructions(template, (inst,))
                continue
            if index in cut_indices:
                append_instructions(template, (inst,))
                parameters.extend([None] * len(params))
                cut_values.extend(float(v) for v in params)
                continue
            fresh = [Parameter(f"_qd{len(parameters) + k}") for k in range(len(params))]
            parameters.extend(fresh)
            if inst.is_standard_gate():  # a new record of the gate, its parameters the fresh ones
                template._append(inst.replace(params=fresh))
                continue
            operation = inst.operation.copy()
            operation.params = fresh
            template._append(CircuitInstruction(operation, inst.qubits, inst.clbits))
        cut = cut_gates(template, gates)[0]
        for position, qubit in wires:
            cut.data.insert(position, CircuitInstruction(CutWire(), [cut.qubits[qubit]], []))
        with_ancillas = with_wire_cuts(cut)
        expanded = expand_observables(structure.paulis, qc, with_ancillas)
        problem = partitioned(with_ancillas, expanded)
        subexperiments, coefficients = generate(problem.subcircuits, problem.subobservables)
        return cls(
            structure=structure,
            parameters=parameters,
            cut_values=cut_values,
            subexperiments=subexperiments,
            coefficients=coefficients,
            subobservables=dict(problem.subobservables),
        )

    def fits(self, values: list[float]) -> bool:
        """Whether angles ``values`` keep the cut gates' angles this template was expanded for."""
        if len(values) != len(self.parameters):
            return False
        fixed = [v for v, p in zip(values, self.parameters, strict=True) if p is None]
        return np.allclose(fixed, self.cut_values, rtol=0.0, atol=1e-12)

    def bind(self, values: list[float]) -> CutProblem:
        """The cut problem of the circuit with angles ``values`` (see :meth:`fits`)."""
        assignment = self._by_parameter(values)
        subexperiments = {
            label: [_bound(qc, assignment) for qc in circuits]
            for label, circuits in self.subexperiments.items()
        }
        return self._problem(subexperiments, values)

    def bind_circuit(self, circuit: Any, values: list[float]) -> Any:
        """One of this template's subexperiments with the circuit's angles ``values``."""
        return _bound(circuit, self._by_parameter(values))

    def _by_parameter(self, values: list[float]) -> dict[Any, float]:
        """Circuit parameter to angle, for the circuit's angles ``values`` (the cut gates' left out)."""
        return {p: v for p, v in zip(self.parameters, values, strict=True) if p is not None}

    def unbound(self, values: list[float]) -> CutProblem:
        """The cut problem of the circuit with angles ``values``, its subexperiments left parametrised:
        for submission, whose fragment tasks ship this template and the angles (:meth:`ship`)."""
        return self._problem(self.subexperiments, values)

    def _problem(self, subexperiments: dict[Hashable, list[Any]], values: list[float]) -> CutProblem:
        structure = self.structure
        return CutProblem(
            observables=structure.observables,
            paulis=structure.paulis,
            subexperiments=subexperiments,
            coefficients=self.coefficients,
            subobservables=self.subobservables,
            cuts=structure.cuts,
            sampling_overhead=structure.sampling_overhead,
            subcircuit_size=structure.subcircuit_size,
            subcircuit_widths=structure.widths,
            template=self,
            values=list(values),
        )

    def ship(self, indices: Sequence[tuple[Hashable, int]], values: list[float]) -> ShippedTemplate:
        """Subexperiments ``(label, index)`` of this template for a task, with the angles ``values``.

        The circuits are written in QPY once per set of indices and kept: the next step of a loop sends
        the same bytes (a worker that has them unpacked and prepared finds them by their key) and only
        the new angles.
        """
        packed = self._packed.get(tuple(indices))
        if packed is None:
            import io

            from qiskit import qpy

            circuits = [self.subexperiments[label][i] for label, i in indices]
            buffer = io.BytesIO()
            qpy.dump(circuits, buffer)
            data = buffer.getvalue()
            names = tuple(sorted({p.name for qc in circuits for p in qc.parameters}))
            packed = (hashlib.sha1(data).hexdigest(), data, names)
            self._packed[tuple(indices)] = packed
        key, data, names = packed
        assignment = self.assignment(values)
        return ShippedTemplate(key, data, len(indices), names, tuple(assignment[n] for n in names))

    def assignment(self, values: list[float]) -> dict[str, float]:
        """Parameter name to angle, for the circuit's angles ``values`` (see :meth:`fits`)."""
        return {p.name: float(v) for p, v in zip(self.parameters, values, strict=True) if p is not None}


def _bound(circuit: Any, assignment: dict[Any, float]) -> Any:
    """``circuit`` with its parameters given their values in ``assignment`` (itself if it has none)."""
    parameters = circuit.parameters
    return circuit.assign_parameters([assignment[p] for p in parameters]) if parameters else circuit


@dataclass(frozen=True)
class ShippedTemplate:
    """A task's share of a template's subexperiments: the parametrised circuits in QPY and their angles.

    Attributes
    ----------
    key
        Digest of ``data``: a worker keeps the circuits it unpacked (and its device what it prepared of
        them) under it.
    data
        The circuits, parameters unbound, in QPY.
    count
        How many circuits.
    names, values
        Every parameter of the circuits by name, and its value.
    """

    key: str
    data: bytes
    count: int
    names: tuple[str, ...]
    values: tuple[float, ...]

    def unpack(self) -> list[Any]:
        """The circuits, parameters unbound."""
        import io

        from qiskit import qpy

        return list(qpy.load(io.BytesIO(self.data)))

    def assignment(self) -> dict[str, float]:
        """Parameter name to value."""
        return dict(zip(self.names, self.values, strict=True))

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"ShippedTemplate({self.count} circuits, {len(self.data)} bytes, {len(self.names)} angles)"
