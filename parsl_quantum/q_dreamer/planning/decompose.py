"""Cutting decomposition: a circuit and its observables cut into subcircuits of a given width.

This is qiskit-addon-cutting's tutorial flow as one function: ``find_cuts`` under a subcircuit-width
constraint, ``cut_wires`` and ``expand_observables`` for wire cuts, ``partition_problem``, and
``generate_cutting_experiments`` with exact quasi-probability weights. The expectation value of every
Pauli term of the observables is then a weighted sum over subexperiments,

.. math:: \\langle P \\rangle = \\sum_i c_i \\prod_{A} \\langle P_A \\rangle_{i,A},

with coefficients :math:`c_i` and one subexperiment per index :math:`i`, subsystem :math:`A` and group of
commuting sub-observables.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from parsl_quantum.circuits.normalize import to_circuit, to_observable


class CuttingError(ValueError):
    """A circuit that cannot be cut as asked (width too small, no cut found within the limits)."""


@dataclass
class CutProblem:
    """Everything needed to run and reconstruct a cut circuit.

    Attributes
    ----------
    observables
        The observables asked for, as ``SparsePauliOp`` on the circuit's qubits.
    paulis
        The distinct non-identity Pauli terms of the observables, whose values are reconstructed.
    subexperiments
        Per subsystem label, the circuits to sample (in the order reconstruction expects).
    coefficients
        Quasi-probability coefficients and weight types, one per subexperiment index.
    subobservables
        Per subsystem label, the sub-observables.
    cuts
        The cuts made (``("Gate Cut", gate index)`` or ``("Wire Cut", ...)``).
    sampling_overhead
        The product of the cuts' sampling overheads (shots needed, relative to the uncut circuit).
    subcircuit_size
        The width constraint the cuts satisfy; the subcircuits' widths are in ``subcircuit_widths``.
    template, values
        The :class:`~parsl_quantum.q_dreamer.planning.template.CutTemplate` the subexperiments were bound
        from and the circuit's angles they were bound to (``None`` for a problem cut directly): its
        fragment tasks then ship the template's circuits, which a worker keeps, and the angles.
    """

    observables: list[Any]
    paulis: Any
    subexperiments: dict[Hashable, list[Any]]
    coefficients: list[tuple[float, Any]]
    subobservables: dict[Hashable, Any]
    cuts: list[tuple[str, int]]
    sampling_overhead: float
    subcircuit_size: int
    subcircuit_widths: dict[Hashable, int]
    template: Any = None
    values: list[float] | None = None

    def runnable(self, circuit: Any) -> Any:
        """One of :attr:`subexperiments` ready to run: bound to :attr:`values` where the problem holds its
        template's circuits unbound
        (:meth:`~parsl_quantum.q_dreamer.planning.template.CutTemplate.unbound`)."""
        if self.template is None or self.values is None or not circuit.parameters:
            return circuit
        return self.template.bind_circuit(circuit, self.values)

    @property
    def num_cuts(self) -> int:
        """Number of gate and wire cuts."""
        return len(self.cuts)

    @property
    def num_subexperiments(self) -> int:
        """Circuits to sample, over all subsystems."""
        return sum(len(v) for v in self.subexperiments.values())

    @property
    def widest(self) -> int:
        """Width of the widest subcircuit (ancillas of wire cuts included)."""
        return max(self.subcircuit_widths.values())

    @property
    def kappa(self) -> float:
        """Sum of the coefficients' magnitudes: a reconstructed value's standard error is about
        ``kappa / sqrt(total shots per subsystem)``."""
        return float(sum(abs(c) for c, _ in self.coefficients))


def pauli_terms(observables: Sequence[Any], num_qubits: int) -> tuple[list[Any], Any]:
    """The observables as ``SparsePauliOp`` and the ``PauliList`` of their distinct non-identity terms."""
    from qiskit.quantum_info import PauliList

    ops = [to_observable(o, num_qubits) for o in observables]
    labels = sorted({lab for op in ops for lab in op.paulis.to_labels() if set(lab) != {"I"}})
    return ops, PauliList(labels or ["I" * num_qubits])


@dataclass
class CutStructure:
    """Where a circuit is cut for a width constraint, before its subexperiments are generated.

    Finding the cuts and partitioning is cheap; generating every subexperiment is not, so candidates are
    compared on their structure first and only the ones worth weighing are expanded.
    """

    observables: list[Any]
    paulis: Any
    circuit: Any
    cut_circuit: Any
    with_ancillas: Any
    widths: dict[Hashable, int]
    cuts: list[tuple[str, int]]
    sampling_overhead: float
    subcircuit_size: int
    minimum_reached: bool = False

    @property
    def kappa(self) -> float:
        """Sum of the coefficients' magnitudes the cuts will have (the square root of the sampling
        overhead), known before any subexperiment is generated."""
        return float(self.sampling_overhead) ** 0.5

    @property
    def num_cuts(self) -> int:
        return len(self.cuts)

    @property
    def widest(self) -> int:
        return max(self.widths.values())


def find_structure(
    circuit: Any,
    observables: Sequence[Any],
    subcircuit_size: int,
    seed: int = 1234,
    max_gamma: float = 1024.0,
    max_backjumps: int | None = 10000,
) -> CutStructure:
    """Find cuts keeping every subcircuit within ``subcircuit_size`` qubits, and the pieces' widths.

    ``max_backjumps`` bounds the search's effort; past it, the search returns its greedy answer (an upper
    bound on the cuts needed).

    Raises
    ------
    CuttingError
        If the width is not below the circuit's, or the search finds no cuts within ``max_gamma``.
    """
    from qiskit_addon_cutting import DeviceConstraints, OptimizationParameters, find_cuts

    from parsl_quantum.circuits.normalize import strip_measurements

    qc = strip_measurements(to_circuit(circuit))
    if not 1 <= subcircuit_size < qc.num_qubits:
        raise CuttingError(
            f"circuit '{qc.name}' has {qc.num_qubits} qubits: a subcircuit size must be between 1 and "
            f"{qc.num_qubits - 1}, got {subcircuit_size}"
        )
    ops, paulis = pauli_terms(observables, qc.num_qubits)
    qc = cuttable(qc)
    try:
        cut, metadata = find_cuts(
            qc,
            OptimizationParameters(seed=seed, max_gamma=max_gamma, max_backjumps=max_backjumps),
            DeviceConstraints(qubits_per_subcircuit=subcircuit_size),
        )
    except ValueError as exc:
        raise CuttingError(
            f"no cuts of circuit '{qc.name}' into {subcircuit_size}-qubit pieces: {exc}"
        ) from exc
    return _structure(
        qc,
        cut,
        ops,
        paulis,
        list(metadata["cuts"]),
        float(metadata["sampling_overhead"]),
        subcircuit_size,
        bool(metadata.get("minimum_reached", False)),
    )


def _gate_kappa(operation: Any, cache: dict[Any, float | None]) -> float | None:
    """The ``kappa`` of cutting a two-qubit gate (``None`` if the addon cannot cut it)."""
    from qiskit_addon_cutting.qpd import qpdbasis_from_instruction

    key = (operation.name, repr(operation.params))
    if key not in cache:
        try:
            cache[key] = float(qpdbasis_from_instruction(operation).kappa)
        except (ValueError, TypeError):
            cache[key] = None
    return cache[key]


def _components(n: int, edges: Sequence[tuple[int, int]]) -> list[int]:
    """The root of each of ``n`` nodes' connected component under ``edges`` (union-find)."""
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
    return [root(x) for x in range(n)]


def find_gate_cuts(circuit: Any, observables: Sequence[Any], cuts: int, upper: int) -> CutStructure | None:
    """The narrowest cut of at most ``cuts`` gate cuts into pieces of at most ``upper`` qubits, found by
    enumeration, or ``None`` if gate cuts cannot do it.

    The qubits' interaction graph has an edge per pair of qubits sharing a two-qubit gate, weighing the
    gates between them; cutting a pair cuts all of its gates. Every set of pairs of total weight at most
    ``cuts`` is tried (a few thousand for 30 qubits and three cuts), and the one with the narrowest widest
    piece wins, then the smallest sampling overhead. This is exact for gate cuts, and far cheaper than the
    addon's ``find_cuts``, which searches gate and wire cuts together by best-first search, one width at a
    time (and the planner bisects over widths). Pairs joined by gates the addon cannot cut, or by gates of
    three or more qubits, always stay together.
    """
    from collections import Counter
    from itertools import combinations

    from qiskit_addon_cutting import cut_gates

    from parsl_quantum.circuits.normalize import strip_measurements

    qc = cuttable(strip_measurements(to_circuit(circuit)))
    n = qc.num_qubits
    kappas: dict[Any, float | None] = {}
    gates: dict[tuple[int, int], list[tuple[int, float]]] = {}
    fixed: set[tuple[int, int]] = set()
    position = {q: i for i, q in enumerate(qc.qubits)}  # find_bit's index, without a call per bit
    for index, inst in enumerate(qc.data):
        if len(inst.qubits) < 2 or inst.name == "barrier":
            continue
        qubits = sorted(position[q] for q in inst.qubits)
        kappa = _gate_kappa(inst.operation, kappas) if len(qubits) == 2 else None
        if kappa is None:
            fixed.update((qubits[0], q) for q in qubits[1:])
            continue
        gates.setdefault((qubits[0], qubits[1]), []).append((index, kappa))
    fixed.update(pair for pair in gates if len(gates[pair]) > cuts)
    if not _splittable(n, gates, fixed, cuts):
        return None
    candidates = [pair for pair in gates if pair not in fixed]
    best: tuple[int, float, int] | None = None
    chosen: tuple[tuple[int, int], ...] = ()
    for r in range(cuts + 1):  # no cut at all splits a circuit whose qubits fall into separate groups
        for removed in combinations(candidates, r):
            weight = sum(len(gates[pair]) for pair in removed)
            if weight > cuts:
                continue
            kept = [pair for pair in gates if pair not in removed] + list(fixed)
            roots = _components(n, kept)
            if any(roots[a] == roots[b] for a, b in removed):
                continue  # a cut inside a piece separates nothing
            overhead = math.prod(k * k for pair in removed for _, k in gates[pair])
            key = (max(Counter(roots).values()), overhead, weight)
            if key[0] <= upper and (best is None or key < best):
                best, chosen = key, removed
    if best is None:
        return None
    indices = sorted(index for pair in chosen for index, _ in gates[pair])
    cut, _ = cut_gates(qc, indices)
    ops, paulis = pauli_terms(observables, n)
    return _structure(qc, cut, ops, paulis, [("Gate Cut", i) for i in indices], best[1], best[0], True)


def _splittable(
    n: int, gates: dict[tuple[int, int], list[Any]], fixed: set[tuple[int, int]], cuts: int
) -> bool:
    """Whether cutting pairs of at most ``cuts`` gates in all can split the qubits' interaction graph at
    all: its minimum cut (Stoer-Wagner, a pair's weight its gates, ``fixed`` pairs never cut) is at most
    ``cuts``. A dense circuit's is not, and enumerating its many pairs would be slow."""
    import rustworkx as rx

    weights = {pair: float(len(found)) for pair, found in gates.items()}
    weights.update({pair: float(cuts + 1) for pair in fixed})
    graph = rx.PyGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from([(a, b, w) for (a, b), w in weights.items()])
    if n < 2 or not rx.is_connected(graph):
        return True
    found = rx.stoer_wagner_min_cut(graph, weight_fn=float)
    return found is None or found[0] <= cuts


def _structure(
    qc: Any,
    cut: Any,
    ops: list[Any],
    paulis: Any,
    cuts: list[tuple[str, int]],
    overhead: float,
    size: int,
    minimum_reached: bool,
) -> CutStructure:
    """A :class:`CutStructure` of ``qc`` cut as ``cut``, with the pieces ``partition_problem`` will make."""
    from collections import Counter

    from qiskit_addon_cutting.qpd import TwoQubitQPDGate
    from qiskit_addon_cutting.utils.transforms import _partition_labels_from_circuit

    with_ancillas = with_wire_cuts(cut)
    # the pieces partition_problem will make: connected qubits, cut gates aside (labels in its order)
    labels = _partition_labels_from_circuit(
        with_ancillas, ignore=lambda inst: isinstance(inst.operation, TwoQubitQPDGate)
    )
    return CutStructure(
        observables=ops,
        paulis=paulis,
        circuit=qc,
        cut_circuit=cut,
        with_ancillas=with_ancillas,
        widths=dict(Counter(label for label in labels if label is not None)),
        cuts=cuts,
        sampling_overhead=float(overhead),
        subcircuit_size=size,
        minimum_reached=minimum_reached,
    )


def with_wire_cuts(cut: Any) -> Any:
    """``cut_wires`` of a cut circuit: its wire cuts as moves onto ancillas (the circuit itself when it
    has none)."""
    from qiskit_addon_cutting import cut_wires

    if "cut_wire" not in cut.count_ops():
        return cut
    return cut_wires(cut)


def expand(structure: CutStructure) -> CutProblem:
    """Partition a cut structure and generate every subexperiment (exact quasi-probability weights)."""
    from qiskit_addon_cutting import expand_observables

    from parsl_quantum.q_dreamer.planning.generate import generate, partitioned

    expanded = expand_observables(structure.paulis, structure.circuit, structure.with_ancillas)
    problem = partitioned(structure.with_ancillas, expanded)
    subexperiments, coefficients = generate(problem.subcircuits, problem.subobservables)
    return CutProblem(
        observables=structure.observables,
        paulis=structure.paulis,
        subexperiments=subexperiments,
        coefficients=coefficients,
        subobservables=dict(problem.subobservables),
        cuts=structure.cuts,
        sampling_overhead=structure.sampling_overhead,
        subcircuit_size=structure.subcircuit_size,
        subcircuit_widths=structure.widths,
    )


def decompose(
    circuit: Any,
    observables: Sequence[Any],
    subcircuit_size: int,
    seed: int = 1234,
    max_gamma: float = 1024.0,
) -> CutProblem:
    """Cut ``circuit`` so that no subcircuit is wider than ``subcircuit_size`` qubits.

    Parameters
    ----------
    circuit
        The circuit (``QuantumCircuit`` or OpenQASM), without measurements.
    observables
        Observables (``SparsePauliOp`` or Pauli strings) on the circuit's qubits.
    subcircuit_size
        Largest subcircuit width allowed.
    seed
        Seed of the cut search.
    max_gamma
        Largest sampling overhead the search accepts.

    Raises
    ------
    CuttingError
        If the width is not below the circuit's, or the search finds no cuts within ``max_gamma``.
    """
    return expand(find_structure(circuit, observables, subcircuit_size, seed, max_gamma))


_CUT_BASIS = ["rz", "ry", "rx", "sx", "x", "h", "s", "sdg", "t", "tdg", "u", "p", "cx", "cz", "rzz"]


_STANDARD_WIDTHS: dict[str, int] = {}
"""Qiskit's standard gates' names and widths (``get_standard_gate_name_mapping`` builds every gate at
each call)."""


def _standard_widths() -> dict[str, int]:
    if not _STANDARD_WIDTHS:
        from qiskit.circuit.library import get_standard_gate_name_mapping

        mapping = get_standard_gate_name_mapping()
        _STANDARD_WIDTHS.update({name: gate.num_qubits for name, gate in mapping.items()})
    return _STANDARD_WIDTHS


def cuttable(circuit: Any) -> Any:
    """``circuit`` in standard gates of one or two qubits, as the cut finder needs (transpiled to a small
    basis only when it holds larger or composite gates), with an identity on each qubit no gate acts on
    (the addon's partitioning leaves such a qubit in no piece: Bernstein-Vazirani's for a 0 bit)."""
    from qiskit import transpile

    widths = _standard_widths()
    names = set(circuit.count_ops()) - {"barrier"}
    if not all(widths.get(n, 3) <= 2 for n in names):
        circuit = transpile(circuit, basis_gates=_CUT_BASIS, optimization_level=0)
    acted = {q for inst in circuit.data if inst.name != "barrier" for q in inst.qubits}
    idle = [i for i, q in enumerate(circuit.qubits) if q not in acted]
    if not idle:
        return circuit
    circuit = circuit.copy()
    for q in idle:
        circuit.id(q)
    return circuit
