"""Running several circuits side by side on one wide device, and taking their outcomes apart again.

A 133-qubit QPU that runs one 12-qubit circuit per shot leaves most of its chip idle, and a QPU's time is
counted in shots. Circuits that need the same number of shots can instead run together: each is placed
on its own *region* of the device (a connected set of physical qubits, disjoint from the others'), the
pieces are joined into one wide circuit, and each shot of it is one shot of every piece. Its outcome
bits are then split back into each piece's counts (:func:`split_counts`), exactly as a run of that piece
alone would have reported them. With ``k`` regions a batch of ``n`` circuits takes ``ceil(n / k)`` wide
circuits instead of ``n`` (see :mod:`parsl_quantum.q_dreamer.model.qpu_time`).

This pays on a QPU, and on an emulator that simulates independent parts apart
(:func:`independent_parts`), never on a simulator that holds the whole state: ``k`` pieces of ``w``
qubits cost it ``2**(k*w)`` amplitudes instead of ``k * 2**w``.

The regions (:func:`choose_regions`) are chosen greedily on the device's coupling graph, lowest error
first: a region grows from a seed qubit by the neighbour whose readout, single-qubit and coupling
errors add least, and regions keep ``spacing`` qubits apart, so that no two pieces sit on coupled
qubits (crosstalk). Each piece is transpiled on its region's own target (:func:`restrict_target`), so no
gate can cross into another region; :func:`pack` checks it.

The word is also used by :class:`~parsl_quantum.circuits.normalize.QpyCircuits`, which is something
else: circuits serialised as QPY to ship to a task.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import networkx as nx
    from qiskit import QuantumCircuit
    from qiskit.transpiler import Target

BROKEN_ERROR = 0.5
"""An error rate at or above which a qubit or coupler is left out of every region (calibration data marks
a broken coupler with error 1)."""

TWO_QUBIT_GATES = ("cz", "ecr", "cx")
ONE_QUBIT_GATES = ("sx", "x")


def _error(target: Target, names: Sequence[str], qargs: tuple[int, ...]) -> float | None:
    """The error of the first of ``names`` the target defines on ``qargs`` (``None`` if none does)."""
    for name in names:
        if name in target.operation_names:
            props = (target[name] or {}).get(qargs)
            if props is not None and props.error is not None:
                return float(props.error)
    return None


def coupling_graph(target: Target) -> nx.Graph:
    """The device's coupling graph, weighted by its errors.

    Each qubit is a node whose ``error`` is its readout error plus its single-qubit (``sx``) gate error;
    each pair of qubits a two-qubit gate couples (in either direction) is an edge whose ``error`` is that
    gate's error (the lower of the two directions). Qubits and couplers at or above
    :data:`BROKEN_ERROR` are left out, as are qubits that no working coupler reaches when there is more
    than one qubit.

    Parameters
    ----------
    target
        The device's ``Target`` (e.g. ``backend.target``).
    """
    import networkx as nx

    graph = nx.Graph()
    for qubit in range(target.num_qubits):
        readout = _error(target, ("measure",), (qubit,)) or 0.0
        gate = _error(target, ONE_QUBIT_GATES, (qubit,)) or 0.0
        if readout < BROKEN_ERROR and gate < BROKEN_ERROR:
            graph.add_node(qubit, error=readout + gate)
    for name in TWO_QUBIT_GATES:
        if name not in target.operation_names:
            continue
        for qargs, props in (target[name] or {}).items():
            if qargs is None or len(qargs) != 2 or not all(q in graph for q in qargs):
                continue
            error = 0.0 if props is None or props.error is None else float(props.error)
            if error >= BROKEN_ERROR:
                continue
            a, b = qargs
            if not graph.has_edge(a, b) or graph[a][b]["error"] > error:
                graph.add_edge(a, b, error=error)
    if graph.number_of_nodes() > 1:
        graph.remove_nodes_from([q for q in list(graph) if graph.degree(q) == 0])
    return graph


def grow_region(graph: nx.Graph, seed: int, width: int, allowed: set[int]) -> tuple[tuple[int, ...], float]:
    """The region of ``width`` qubits grown from ``seed`` inside ``allowed``, and its error.

    At each step the region takes the allowed neighbour whose own error plus its cheapest coupling into
    the region is least. The region's error is the sum of its qubits' errors and of the couplings it
    grew along. ``((), inf)`` when fewer than ``width`` connected qubits are reachable.
    """
    region = [seed]
    inside = {seed}
    total = graph.nodes[seed]["error"]
    frontier: dict[int, float] = {}

    def reach(qubit: int) -> None:
        for neighbour, edge in graph[qubit].items():
            if neighbour in allowed and neighbour not in inside:
                cost = graph.nodes[neighbour]["error"] + edge["error"]
                if cost < frontier.get(neighbour, float("inf")):
                    frontier[neighbour] = cost

    reach(seed)
    while len(region) < width:
        if not frontier:
            return (), float("inf")
        best = min(frontier, key=lambda q: (frontier[q], q))
        total += frontier.pop(best)
        region.append(best)
        inside.add(best)
        reach(best)
    return tuple(sorted(region)), total


def choose_regions(
    target: Target, width: int, count: int | None = None, spacing: int = 1
) -> list[tuple[int, ...]]:
    """Disjoint connected regions of ``width`` physical qubits each, lowest error first.

    Greedy: the region of least error that any remaining qubit grows (:func:`grow_region`) is taken,
    then its qubits and every qubit within ``spacing`` couplings of them leave the pool, until ``count``
    regions are taken or none fits.

    Parameters
    ----------
    target
        The device's ``Target``.
    width
        Qubits per region (the width of the circuits to place).
    count
        Most regions wanted; ``None`` for as many as fit.
    spacing
        Couplings kept between regions: 1 leaves at least one idle qubit between any two regions, so no
        coupler joins them; 0 lets regions touch.

    Returns
    -------
    list of tuple of int
        Each region's physical qubits in increasing order; the first has the lowest error. Empty when
        not even one region fits.
    """
    import networkx as nx

    if width < 1:
        raise ValueError(f"width must be at least 1, got {width}")
    if spacing < 0:
        raise ValueError(f"spacing must be at least 0, got {spacing}")
    graph = coupling_graph(target)
    allowed = set(graph)
    regions: list[tuple[int, ...]] = []
    while count is None or len(regions) < count:
        best: tuple[tuple[int, ...], float] = ((), float("inf"))
        for seed in sorted(allowed):
            region, error = grow_region(graph, seed, width, allowed)
            if region and error < best[1]:
                best = (region, error)
        if not best[0]:
            break
        regions.append(best[0])
        taken = set(best[0])
        if spacing:
            for qubit in best[0]:
                taken.update(nx.single_source_shortest_path_length(graph, qubit, cutoff=spacing))
        allowed -= taken
    return regions


def restrict_target(target: Target, qubits: Sequence[int]) -> Target:
    """The part of ``target`` that acts only on ``qubits``, relabelled ``0..len(qubits)-1``.

    Transpiling on it keeps a circuit on ``qubits``; building a noise model from it models only them.
    """
    from qiskit.transpiler import Target

    index = {q: i for i, q in enumerate(qubits)}
    props = target.qubit_properties
    sub = Target(
        num_qubits=len(qubits),
        dt=target.dt,
        qubit_properties=[props[q] for q in qubits] if props else None,
    )
    for name in target.operation_names:
        operation = target.operation_from_name(name)
        qargs_map = target[name]
        if qargs_map is None or None in qargs_map:
            sub.add_instruction(operation, name=name)
            continue
        kept = {
            tuple(index[q] for q in qargs): prop
            for qargs, prop in qargs_map.items()
            if all(q in index for q in qargs)
        }
        if kept:
            sub.add_instruction(operation, kept, name=name)
    return sub


@dataclass(frozen=True)
class PackedLayout:
    """Where each piece of a wide circuit sits, to split its outcomes back.

    Attributes
    ----------
    registers
        The wide circuit's classical registers in order, as ``(piece, size)``: the piece each belongs to
        and its size. Each piece's registers appear in that piece's own order.
    regions
        The physical qubits of each piece's region.
    """

    registers: tuple[tuple[int, int], ...]
    regions: tuple[tuple[int, ...], ...]

    @property
    def pieces(self) -> int:
        """How many circuits the wide circuit holds."""
        return len(self.regions)


def packable(circuit: QuantumCircuit) -> bool:
    """Whether ``circuit`` can be a piece of a wide circuit: every classical bit in a register (its
    outcomes are split back by register), and no classical variables."""
    loose = any(not circuit.find_bit(c).registers for c in circuit.clbits)
    variables = bool(getattr(circuit, "num_vars", 0))
    return not loose and not variables


def pack(
    pieces: Sequence[QuantumCircuit], regions: Sequence[Sequence[int]], num_qubits: int
) -> tuple[QuantumCircuit, PackedLayout]:
    """One circuit on ``num_qubits`` physical qubits running every piece on its region.

    Parameters
    ----------
    pieces
        Circuits already transpiled for their regions (e.g. on :func:`restrict_target`): piece ``i`` acts
        on ``len(regions[i])`` qubits, its qubit ``j`` being physical qubit ``regions[i][j]``.
    regions
        One region per piece; regions must be disjoint.
    num_qubits
        Qubits of the device.

    Returns
    -------
    (QuantumCircuit, PackedLayout)
        The wide circuit (each piece's classical registers renamed ``p<i>_<name>``) and what
        :func:`split_counts` needs to take its outcomes apart.

    Raises
    ------
    ValueError
        If the regions overlap or leave the device, a piece is wider than its region, or a piece has
        classical bits outside registers (:func:`packable`).
    """
    from qiskit import ClassicalRegister, QuantumCircuit

    if len(pieces) != len(regions):
        raise ValueError(f"{len(pieces)} pieces for {len(regions)} regions")
    used: set[int] = set()
    for region in regions:
        if used & set(region):
            raise ValueError(f"regions overlap on qubits {sorted(used & set(region))}")
        if any(not 0 <= q < num_qubits for q in region):
            raise ValueError(f"region {tuple(region)} leaves the device's {num_qubits} qubits")
        used.update(region)
    wide = QuantumCircuit(num_qubits, name="packed_" + "+".join(p.name for p in pieces))
    registers: list[tuple[int, int]] = []
    for i, (piece, region) in enumerate(zip(pieces, regions, strict=True)):
        if piece.num_qubits > len(region):
            raise ValueError(
                f"piece {i} ('{piece.name}') has {piece.num_qubits} qubits for a region of {len(region)}"
            )
        if not packable(piece):
            raise ValueError(f"piece {i} ('{piece.name}') has classical bits outside registers")
        clbits = []
        renamed = {}
        for creg in piece.cregs:
            new = ClassicalRegister(creg.size, f"p{i}_{creg.name}")
            wide.add_register(new)
            renamed[creg] = new
            registers.append((i, creg.size))
        for clbit in piece.clbits:
            creg, index = piece.find_bit(clbit).registers[0]
            clbits.append(renamed[creg][index])
        wide.compose(piece, qubits=list(region)[: piece.num_qubits], clbits=clbits, inplace=True)
    layout = PackedLayout(tuple(registers), tuple(tuple(r) for r in regions))
    check_regions(wide, layout)
    _lay_out_physically(wide)
    return wide, layout


def _lay_out_physically(circuit: QuantumCircuit) -> None:
    """Mark ``circuit`` as laid out on the device, its qubit ``i`` physical qubit ``i`` (what a transpiled
    circuit says), so that it is taken as the device's ISA circuit and not transpiled again."""
    from qiskit.transpiler import Layout, TranspileLayout

    qubits = list(circuit.qubits)
    circuit._layout = TranspileLayout(
        initial_layout=Layout.from_qubit_list(qubits),
        input_qubit_mapping={q: i for i, q in enumerate(qubits)},
        final_layout=None,
        _input_qubit_count=len(qubits),
        _output_qubit_list=qubits,
    )


def check_regions(circuit: QuantumCircuit, layout: PackedLayout) -> None:
    """Raise ``ValueError`` if an instruction of ``circuit`` (barriers aside) acts on qubits of more than
    one region, or on a qubit of none."""
    owner = {q: i for i, region in enumerate(layout.regions) for q in region}
    for inst in circuit.data:
        if inst.name == "barrier":
            continue
        touched = {owner.get(circuit.find_bit(q).index, -1) for q in inst.qubits}
        if len(touched) > 1 or -1 in touched:
            where = [circuit.find_bit(q).index for q in inst.qubits]
            raise ValueError(f"'{inst.name}' on qubits {where} crosses the regions of a packed circuit")


def split_key(key: str, layout: PackedLayout) -> list[str]:
    """The outcome of each piece in one outcome of the wide circuit.

    ``key`` is written as Qiskit's ``get_counts`` writes it (classical bit 0 rightmost, registers
    separated by spaces, last register first); each piece's outcome is written the same way, with its
    own registers. Empty registers get an empty part where the wide key has one (Aer writes them; the
    runtime's sampler does not).
    """
    bits = key.replace(" ", "")
    sizes = [size for _, size in layout.registers]
    if len(bits) != sum(sizes):
        raise ValueError(f"outcome '{key}' has {len(bits)} bits; the packed circuit has {sum(sizes)}")
    keep_empty = key.count(" ") == len(sizes) - 1
    parts: list[list[str]] = [[] for _ in range(layout.pieces)]
    end = len(bits)
    for piece, size in layout.registers:  # the first register is rightmost
        if size or keep_empty:
            parts[piece].append(bits[end - size : end])
        end -= size
    return [" ".join(reversed(p)) for p in parts]


def split_counts(counts: dict[str, int], layout: PackedLayout) -> list[dict[str, int]]:
    """Each piece's counts from the counts of the wide circuit (each piece's outcome marginalised over
    the others').

    Parameters
    ----------
    counts
        Counts of the wide circuit :func:`pack` built.
    layout
        Its layout.

    Returns
    -------
    list of dict
        One counts dict per piece, in :func:`pack`'s order, keyed as a run of that piece alone would key
        them; each sums to the wide circuit's shots.
    """
    out: list[dict[str, int]] = [{} for _ in range(layout.pieces)]
    for key, n in counts.items():
        for piece, part in enumerate(split_key(key, layout)):
            out[piece][part] = out[piece].get(part, 0) + int(n)
    return out


def independent_parts(circuit: QuantumCircuit) -> list[tuple[list[int], list[int]]]:
    """The parts of ``circuit`` that no instruction joins: groups of qubits with the classical bits they
    write or read.

    Two qubits are in one part when an instruction acts on both; a qubit and a classical bit when an
    instruction acts on both (a measurement, a condition, a ``store``). Barriers and delays join nothing.
    Qubits no instruction touches are left out. Each part's outcome is independent of the others', so
    a simulator may run the parts apart and join their outcomes shot by shot.

    Returns
    -------
    list of (qubit indices, clbit indices)
        Each part's qubits and classical bits in increasing order; parts ordered by their first qubit.
    """
    from parsl_quantum.circuits.normalize import _clbits_read

    parent: dict[Any, Any] = {}

    def find(x: Any) -> Any:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for inst in circuit.data:
        if inst.name in ("barrier", "delay"):
            continue
        nodes = [("q", circuit.find_bit(q).index) for q in inst.qubits]
        nodes += [("c", circuit.find_bit(c).index) for c in _clbits_read(inst)]  # a condition's bits too
        for node in nodes:
            find(node)
        for node in nodes[1:]:
            parent[find(node)] = find(nodes[0])
    groups: dict[Any, tuple[list[int], list[int]]] = {}
    for node in list(parent):
        qubits, clbits = groups.setdefault(find(node), ([], []))
        (qubits if node[0] == "q" else clbits).append(node[1])
    parts = [(sorted(q), sorted(c)) for q, c in groups.values() if q]
    return sorted(parts, key=lambda part: part[0][0])
