"""Packing circuits side by side on a wide device: regions, joining and splitting outcomes, the device's
choice to pack, and the QPU time it saves. No DataFlowKernel; the fake backends only lend their targets
(nothing here simulates more than a few qubits)."""

from __future__ import annotations

import math

import networkx as nx
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit.library import CXGate, Measure, SXGate
from qiskit.transpiler import InstructionProperties, Target
from qiskit_aer import AerSimulator

from parsl_quantum.circuits.packing import (
    PackedLayout,
    check_regions,
    choose_regions,
    coupling_graph,
    independent_parts,
    pack,
    split_counts,
    split_key,
)
from parsl_quantum.devices.emulator import CompactNoiseEmulator
from parsl_quantum.devices.qpu import BackendRunner, QPUDevice, fake_backend
from parsl_quantum.q_dreamer.model.qpu_time import CircuitRun, compare_packing, qpu_time


def line_target(n: int, broken: tuple[int, int] | None = None) -> Target:
    """A line of ``n`` qubits with CX both ways, ``sx`` and readout; coupler ``broken`` has error 1."""
    target = Target(num_qubits=n)
    cx = {}
    for a in range(n - 1):
        error = 1.0 if broken in ((a, a + 1), (a + 1, a)) else 0.01
        cx[(a, a + 1)] = cx[(a + 1, a)] = InstructionProperties(duration=3e-7, error=error)
    target.add_instruction(CXGate(), cx)
    target.add_instruction(
        SXGate(), {(q,): InstructionProperties(duration=3e-8, error=1e-4) for q in range(n)}
    )
    target.add_instruction(
        Measure(), {(q,): InstructionProperties(duration=1e-6, error=0.01) for q in range(n)}
    )
    return target


@pytest.fixture(scope="module")
def torino():
    return fake_backend("fake_torino")


# -- regions --------------------------------------------------------------------------------------------
def test_regions_on_a_line_keep_their_spacing_and_skip_a_broken_coupler():
    assert choose_regions(line_target(10), 3, spacing=1) == [(0, 1, 2), (4, 5, 6)]
    assert choose_regions(line_target(10), 3, spacing=0) == [(0, 1, 2), (3, 4, 5), (6, 7, 8)]
    assert choose_regions(line_target(10), 3, count=1) == [(0, 1, 2)]
    # a broken coupler cuts the line: 0-1 | 2..9, and no region may use it
    assert choose_regions(line_target(10, broken=(1, 2)), 3, spacing=0) == [(2, 3, 4), (5, 6, 7)]
    assert choose_regions(line_target(10), 11) == []
    with pytest.raises(ValueError):
        choose_regions(line_target(10), 0)


@pytest.mark.parametrize("width", [4, 12, 24])
def test_torino_regions_are_disjoint_connected_and_uncoupled(torino, width):
    graph = coupling_graph(torino.target)
    regions = choose_regions(torino.target, width)
    assert len(regions) >= 2
    owner = {}
    for i, region in enumerate(regions):
        assert len(region) == width and nx.is_connected(graph.subgraph(region))
        assert not owner.keys() & set(region)
        owner.update(dict.fromkeys(region, i))
    # spacing 1: no working coupler of the device joins two regions
    for a, b in torino.coupling_map.get_edges():
        assert owner.get(a, -1) == owner.get(b, -1) or -1 in (owner.get(a, -1), owner.get(b, -1))
    broken = [q for q in range(torino.num_qubits) if q not in graph]
    assert not set(broken) & set(owner)


# -- joining and splitting outcomes -----------------------------------------------------------------------
def two_pieces() -> list[QuantumCircuit]:
    """Two circuits with deterministic outcomes: one register, and two registers with a mid-circuit
    measurement and a reset."""
    a = QuantumCircuit(QuantumRegister(2, "q"), ClassicalRegister(2, "a"), name="a")
    a.x(0)
    a.measure([0, 1], [0, 1])
    b = QuantumCircuit(
        QuantumRegister(3, "q"), ClassicalRegister(1, "mid"), ClassicalRegister(2, "out"), name="b"
    )
    b.x(0)
    b.measure(0, b.cregs[0][0])
    b.reset(0)
    b.x(2)
    b.measure(1, b.cregs[1][0])
    b.measure(2, b.cregs[1][1])
    return [a, b]


def test_split_counts_give_each_piece_what_it_gives_alone():
    pieces = two_pieces()
    wide, layout = pack(pieces, [(0, 1), (3, 4, 5)], 6)
    assert [c.name for c in wide.cregs] == ["p0_a", "p1_mid", "p1_out"]
    assert wide.layout is not None  # a device takes it as laid out, not to transpile again
    sim = AerSimulator(seed_simulator=1)
    split = split_counts(sim.run(wide, shots=100).result().get_counts(), layout)
    alone = [sim.run(p, shots=100).result().get_counts() for p in pieces]
    assert split == alone == [{"01": 100}, {"10 1": 100}]


def test_split_marginalises_and_keeps_every_shot():
    layout = PackedLayout(registers=((0, 1), (1, 2), (0, 1)), regions=((0, 1), (2, 3)))
    # wide key: last register first -> p0 reg (size 1), p1 reg (size 2), p0 reg (size 1)
    counts = {"1 01 0": 30, "0 01 1": 20, "1 11 0": 50}
    split = split_counts(counts, layout)
    assert split == [{"1 0": 80, "0 1": 20}, {"01": 50, "11": 50}]
    assert all(sum(c.values()) == 100 for c in split)
    assert split_key("1010", layout) == ["1 0", "01"]  # keys without separators are split by size too


def test_empty_registers_are_written_as_the_runner_wrote_them():
    layout = PackedLayout(registers=((0, 1), (0, 0), (1, 1)), regions=((0,), (1,)))
    assert split_key("1  0", layout) == [" 0", "1"]  # Aer writes an empty part for the empty register
    assert split_key("1 0", layout) == ["0", "1"]  # the runtime's sampler writes none


def test_pack_refuses_overlaps_and_gates_across_regions():
    a, b = two_pieces()
    with pytest.raises(ValueError, match="overlap"):
        pack([a, b], [(0, 1), (1, 2, 3)], 6)
    with pytest.raises(ValueError, match="leaves"):
        pack([a, b], [(0, 1), (4, 5, 6)], 6)
    wide, layout = pack([a, b], [(0, 1), (3, 4, 5)], 6)
    wide.cx(1, 3)
    with pytest.raises(ValueError, match="crosses"):
        check_regions(wide, layout)
    loose = QuantumCircuit(1, 1)
    loose.measure(0, 0)
    loose = QuantumCircuit(loose.qubits, [*loose.clbits])  # a classical bit outside any register
    loose.measure(0, 0)
    with pytest.raises(ValueError, match="outside registers"):
        pack([loose], [(0,)], 1)


def test_independent_parts_follow_gates_and_classical_bits():
    from qiskit.circuit.classical import expr

    qc = QuantumCircuit(5, 3)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):  # a condition joins qubit 2 to qubit 0's part
        qc.x(2)
    qc.barrier()  # joins nothing
    qc.cx(3, 4)
    qc.measure(4, 2)
    with qc.if_test(expr.lift(qc.clbits[1])):  # reads bit 1, which nothing writes
        qc.x(1)
    assert independent_parts(qc) == [([0, 2], [0]), ([1], [1]), ([3, 4], [2])]


# -- the device's choice -----------------------------------------------------------------------------------
def random_pieces(count: int, width: int) -> list[QuantumCircuit]:
    """Circuits whose two-qubit gates need routing on a heavy-hex region, with distinct outcomes."""
    out = []
    for c in range(count):
        qc = QuantumCircuit(width, width, name=f"r{c}")
        for q in range(width):
            if (c >> q) & 1:
                qc.x(q)
        for q in range(width - 2):
            qc.cx(q, q + 2)
        qc.cx(0, width - 1)
        qc.measure(range(width), range(width))
        out.append(qc)
    return out


def test_a_qpu_packs_each_piece_inside_its_region(torino):
    device = QPUDevice("fake_torino", torino, CompactNoiseEmulator(torino, noisy=False), seed_transpiler=3)
    pieces = random_pieces(5, 5)
    packed = device.pack(pieces)
    factor = device.packing_factor(5)
    assert factor >= 5 and [chunk for *_, chunk in packed] == [[0, 1, 2, 3, 4]]
    wide, layout, _ = packed[0]
    assert device.is_isa(wide)
    check_regions(wide, layout)
    for inst in wide.data:  # every two-qubit gate on a coupler of the device
        qargs = tuple(wide.find_bit(q).index for q in inst.qubits)
        assert inst.operation.name in torino.target.operation_names
        assert qargs in torino.target[inst.operation.name]
    # noiselessly the split outcomes are each piece's own (deterministic) outcome
    counts = device.sample(pieces, shots=50)
    for qc, got in zip(pieces, counts, strict=True):
        ideal = AerSimulator().run(qc, shots=50).result().get_counts()
        assert got == ideal


def test_leftovers_and_laid_out_circuits_run_alone(torino):
    device = QPUDevice("fake_torino", torino, CompactNoiseEmulator(torino, noisy=False), seed_transpiler=3)
    k = device.packing_factor(3)
    pieces = random_pieces(k + 1, 3)
    chunks = [chunk for *_, chunk in device.pack(pieces)]
    assert chunks == [list(range(k))]  # the one left over has no partner: it runs alone
    isa = device.transpile(pieces[:2])
    assert device.pack(isa) == []  # a circuit already laid out keeps its qubits


def test_packing_is_chosen_only_where_it_pays(torino):
    from parsl_quantum.devices import get_device

    assert get_device("aer").packing_factor(4) == 1  # 2**(k*w) amplitudes for k pieces: never
    assert QPUDevice("fake_torino", torino, BackendRunner(torino)).packing_factor(4) == 1  # whole state
    assert QPUDevice("fake_torino", torino, CompactNoiseEmulator(torino)).packing_factor(4) > 1
    assert (
        QPUDevice("fake_torino", torino, CompactNoiseEmulator(torino), packing=False).packing_factor(4) == 1
    )
    assert QPUDevice("fake_torino", torino, BackendRunner(torino), packing=True).packing_factor(4) > 1
    with pytest.raises(ValueError, match="not a QPU"):
        compare_packing([[(random_pieces(1, 2)[0], 10)]], get_device("aer"))


def test_runtime_local_mode_does_not_pack_but_a_real_device_would(torino):
    from parsl_quantum.devices.ibm_runtime import RuntimeSamplerRunner

    assert RuntimeSamplerRunner(torino).packing_pays is False  # a fake backend: local simulation
    runner = RuntimeSamplerRunner(torino)
    runner._backend = object()  # any backend that is not a fake one is a real device
    assert runner.packing_pays is True


# -- QPU time ---------------------------------------------------------------------------------------------
def test_qpu_time_falls_by_the_packing_factor():
    runs = [[CircuitRun(4e-6, 1000, 12)] * 12]
    alone = qpu_time(runs, rep_delay_s=250e-6)
    packed = qpu_time(runs, rep_delay_s=250e-6, packing_factor=lambda w: 6)
    assert alone.seconds == pytest.approx(12 * 1000 * 254e-6)
    assert packed.seconds == pytest.approx(alone.seconds / 6)
    assert (packed.circuits, packed.pieces, packed.packing_factor) == (2, 12, 6.0)
    assert qpu_time(runs, 250e-6, lambda w: 1) == alone  # a simulator's factor is 1


def test_a_packed_circuit_lasts_its_longest_piece_and_each_job_pays_its_overhead():
    job = [CircuitRun(d, 100, 4) for d in (1e-6, 3e-6, 2e-6)] + [CircuitRun(5e-6, 100, 8)]
    t = qpu_time([job, job], rep_delay_s=10e-6, packing_factor=lambda w: 2, job_overhead_s=1.0)
    per_job = 1.0 + 100 * ((3e-6 + 10e-6) + (2e-6 + 10e-6) + (5e-6 + 10e-6))
    assert t.seconds == pytest.approx(2 * per_job)
    assert (t.circuits, t.pieces, t.jobs) == (6, 8, 2)
    with pytest.raises(ValueError, match="one number of shots"):
        qpu_time([[CircuitRun(1e-6, 10, 2), CircuitRun(1e-6, 20, 2)]])


def test_predicted_qpu_time_of_a_device_falls_by_its_packing_factor(torino):
    device = QPUDevice("fake_torino", torino, CompactNoiseEmulator(torino), seed_transpiler=3)
    k = device.packing_factor(4)
    pieces = random_pieces(2 * k, 4)
    comparison = compare_packing([[(qc, 1000) for qc in pieces]], device)
    assert comparison.unpacked.circuits == 2 * k and comparison.packed.circuits == 2
    # the longest piece sets a packed circuit's length; shots are dominated by the repetition delay
    assert comparison.saving == pytest.approx(k, rel=0.05)
    assert comparison.saving <= k + 1e-9
    assert math.isclose(
        comparison.unpacked.seconds, 2 * k * 1000 * device.timing.repetition_delay, rel_tol=0.05
    )


# -- the plan table ------------------------------------------------------------------------------------------
def plan_on(backend: str, kind: str, cut: bool):
    """A plan of a 10-qubit circuit (cut into 5-qubit pieces, or whole), weighed for one pilot of
    ``backend``, without an executor running: the table needs only what the plan holds."""
    from types import SimpleNamespace

    from parsl_quantum.q_dreamer.model.models import PilotModel
    from parsl_quantum.q_dreamer.planning.decompose import decompose
    from parsl_quantum.q_dreamer.planning.plan import CuttingPlan
    from parsl_quantum.q_dreamer.precision import allocate_shots
    from tests.refs import su2

    circuit, observables = su2(10, 3), ["Z" * 10, "X" * 10]
    problem = decompose(circuit, observables, 5)
    prediction = SimpleNamespace(
        problem=problem,
        allocation=allocate_shots(problem.coefficients, 9000),
        cost=lambda problem: lambda qc, shots: float(shots),
        task_overhead=0.0,
    )
    profile = SimpleNamespace(pilots={"p": PilotModel("p", kind, backend, workers=1)})
    return CuttingPlan(
        cut=cut,
        subcircuit_size=5 if cut else 10,
        num_cuts=problem.num_cuts if cut else 0,
        num_subexperiments=sum(len(v) for v in problem.subexperiments.values()) if cut else 1,
        shots=9000 if cut else 1000,
        predicted_makespan_s=1.0,
        predicted_speedup=1.0,
        predicted_stderr=0.01,
        _prediction=prediction if cut else None,
        _circuit=circuit,
        _observables=observables,
        _executors=["quantum"],
        _dreamer=SimpleNamespace(profile=profile),
        _executor=SimpleNamespace(pilots={"p": None}),
    )


def test_the_plan_table_shows_qpu_seconds_with_and_without_packing():
    cut, whole = plan_on("fake_torino", "qpu", True), plan_on("fake_torino", "qpu", False)
    cut.alternatives = [whole]
    table = cut.table()
    assert "QPU s" in table and "packed" in table and "fake_torino" in table
    qpu = cut.qpu_seconds()
    # without an executor running (one slot), the subexperiments form one fragment: one job, packed
    assert qpu.unpacked.jobs == qpu.packed.jobs == 1
    assert qpu.packed.seconds < qpu.unpacked.seconds / 4
    assert f"{qpu.unpacked.seconds:9.3f} {qpu.packed.seconds:9.3f}" in table.splitlines()[2]
    # whole: the two measurement bases (Z..Z and X..X) of 10 qubits run side by side
    assert whole.qpu_seconds().packed.circuits == 1 and whole.qpu_seconds().unpacked.circuits == 2


def test_a_plan_on_simulators_has_no_qpu_seconds():
    plan = plan_on("aer", "cpu", True)
    assert plan.qpu_seconds() is None
    assert "QPU s" not in plan.table()


def test_an_emulator_takes_a_packed_circuit_wider_than_it_simulates_at_once(torino):
    """Its parts are simulated apart, so only the widest counts against what the host holds."""
    from parsl_quantum.errors import TooManyQubitsError

    narrow = QPUDevice("fake_torino", torino, CompactNoiseEmulator(torino, noisy=False), max_qubits=8)
    wide, layout, _ = narrow.pack(random_pieces(3, 4))[0]
    assert split_counts(narrow.sample(wide, shots=20), layout) == narrow.sample(random_pieces(3, 4), shots=20)
    whole = QPUDevice("fake_torino", torino, BackendRunner(torino), max_qubits=8)  # simulates all at once
    with pytest.raises(TooManyQubitsError, match="simulates at most 8"):
        whole.sample(wide, shots=20)
