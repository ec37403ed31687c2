"""Packed subexperiments on the noisy emulators of wide IBM devices against the same subexperiments run
one by one, and a cut circuit reconstructed from a noiseless run of the packed layout.

Statistics (each test states its own):

- on the same physical qubits a piece has the same noise packed or alone, so the two samples come from one
  distribution: a chi-square test of homogeneity (Pearson, outcomes seen fewer than 5 times in both
  pooled), every p-value above 1e-3;
- where the unpacked run sits on qubits of the transpiler's choice, the noise differs by placement: each
  subexperiment's parity expectation (the quantity reconstruction uses) differs by at most 5 standard
  errors of the difference plus the two placements' error budgets (a circuit whose instructions fail with
  probabilities e_i errs with probability at most sum e_i, which moves an expectation in [-1, 1] by at most
  twice that; a readout counted at twice its mean error, the worse of its two flips);
- reconstructed values within 5 standard errors (the reconstruction's own batch-means estimate) of the
  exact statevector values.
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit_aer import AerSimulator
from scipy.stats import chi2_contingency

from parsl_quantum.circuits.packing import split_counts
from parsl_quantum.devices.emulator import CompactNoiseEmulator, relabel
from parsl_quantum.devices.qpu import QPUDevice, fake_backend
from parsl_quantum.q_dreamer.planning.decompose import decompose
from parsl_quantum.q_dreamer.planning.reconstruct import reconstruct
from tests.refs import su2

SHOTS = 3000


def homogeneity_p(a: dict[str, int], b: dict[str, int]) -> float:
    """p-value of Pearson's chi-square test that counts ``a`` and ``b`` come from one distribution
    (outcomes seen fewer than 5 times in both samples pooled into one category)."""
    keys = sorted(set(a) | set(b))
    rare = [k for k in keys if a.get(k, 0) + b.get(k, 0) < 5]
    common = [k for k in keys if k not in rare]
    table = [[a.get(k, 0) for k in common], [b.get(k, 0) for k in common]]
    if rare:
        table[0].append(sum(a.get(k, 0) for k in rare))
        table[1].append(sum(b.get(k, 0) for k in rare))
    if len(table[0]) < 2:
        return 1.0
    return float(chi2_contingency(np.array(table))[1])


def parity(counts: dict[str, int]) -> tuple[float, float]:
    """Mean of (-1)**(number of 1 bits) over all classical bits, and its standard error."""
    shots = sum(counts.values())
    mean = sum((-1) ** key.count("1") * n for key, n in counts.items()) / shots
    return mean, float(np.sqrt(max(1.0 - mean**2, 1.0 / shots) / shots))


def error_budget(circuit: QuantumCircuit, target) -> float:
    """Sum of the error rates of an ISA circuit's instructions on their qubits (readouts twice)."""
    total = 0.0
    for inst in circuit.data:
        name = inst.operation.name
        if name in ("barrier", "delay") or name not in target.operation_names:
            continue
        props = target[name].get(tuple(circuit.find_bit(q).index for q in inst.qubits))
        if props is not None and props.error is not None:
            total += props.error * (2 if name in ("measure", "reset") else 1)
    return total


def only_piece(wide: QuantumCircuit, layout, piece: int) -> QuantumCircuit:
    """The instructions of one piece of a packed circuit, on the device's qubits, with its registers."""
    region = set(layout.regions[piece])
    registers = [creg for creg in wide.cregs if creg.name.startswith(f"p{piece}_")]
    out = QuantumCircuit(wide.qubits, *registers)
    for inst in wide.data:
        if {wide.find_bit(q).index for q in inst.qubits} <= region:
            out.append(inst.operation, inst.qubits, inst.clbits)
    return out


@pytest.fixture(scope="module")
def problem():
    """An 8-qubit SU2 circuit of two layers cut into two 4-qubit subsystems (two gate cuts: 36
    subexperiments each)."""
    from qiskit.circuit.library import efficient_su2

    circuit = efficient_su2(8, entanglement="linear", reps=2)
    circuit.assign_parameters(
        np.random.default_rng(7).uniform(-np.pi, np.pi, circuit.num_parameters), inplace=True
    )
    observables = [SparsePauliOp("Z" * 8), SparsePauliOp.from_sparse_list([("ZZ", [3, 4], 1.0)], 8)]
    return decompose(circuit, observables, 4)


def subsystem(problem, number: int) -> list[QuantumCircuit]:
    """The subexperiments of one subsystem of ``problem``."""
    return list(problem.subexperiments[sorted(problem.subexperiments)[number]])


@pytest.mark.parametrize("name", ["fake_torino", "fake_sherbrooke"])
def test_packed_pieces_sample_as_they_do_alone_on_the_same_qubits(problem, name):
    backend = fake_backend(name)
    emulator = CompactNoiseEmulator(backend, seed_simulator=11)
    device = QPUDevice(name, backend, emulator, seed_transpiler=3)
    circuits = subsystem(problem, 0)[:8]  # with and without a mid-circuit measurement
    packed = device.pack(circuits)
    assert device.packing_factor(4) >= 8 and [chunk for *_, chunk in packed] == [list(range(8))]
    together = [c for wide, layout, _ in packed for c in split_counts(*emulator.run([wide], SHOTS), layout)]
    alone = emulator.run(
        [only_piece(w, layout, j) for w, layout, ch in packed for j in range(len(ch))], SHOTS
    )
    p_values = [homogeneity_p(a, b) for a, b in zip(together, alone, strict=True)]
    assert min(p_values) > 1e-3, p_values
    assert all(sum(c.values()) == SHOTS for c in together)


def test_packed_and_unpacked_runs_agree_within_shot_noise_and_device_noise(problem):
    backend = fake_backend("fake_torino")
    circuits = subsystem(problem, 1)[:8]
    runs = {}
    budgets = {}
    for packing in (True, False):
        device = QPUDevice(
            "fake_torino",
            backend,
            CompactNoiseEmulator(backend, seed_simulator=5),
            seed_transpiler=3,
            packing=packing,
        )
        runs[packing] = device.sample(circuits, shots=SHOTS)
        if packing:
            pieces = [only_piece(w, lay, j) for w, lay, ch in device.pack(circuits) for j in range(len(ch))]
        else:
            pieces = device.transpile(circuits)
        budgets[packing] = [error_budget(qc, backend.target) for qc in pieces]
    gaps, in_sigmas = [], []
    for i in range(len(circuits)):
        (e_p, s_p), (e_u, s_u) = parity(runs[True][i]), parity(runs[False][i])
        allowed = 5 * np.hypot(s_p, s_u) + 2 * (budgets[True][i] + budgets[False][i])
        gaps.append(abs(e_p - e_u) / allowed)
        in_sigmas.append(abs(e_p - e_u) / np.hypot(s_p, s_u))
    assert max(gaps) < 1.0, gaps
    # the error budgets are loose: most parities agree within shot noise alone
    assert np.median(in_sigmas) < 2.0, in_sigmas


def test_reconstruction_from_a_noiseless_run_of_the_packed_layout_is_within_5_sigma():
    n = 10
    observables = [
        SparsePauliOp("Z" * n),
        SparsePauliOp.from_sparse_list([("ZZ", [4, 5], 0.7), ("XX", [3, 6], -0.4), ("Y", [0], 0.2)], n),
    ]
    circuit = su2(n, 3)
    problem = decompose(circuit, observables, 5)
    backend = fake_backend("fake_torino")
    emulator = CompactNoiseEmulator(backend, seed_simulator=2, noisy=False)
    device = QPUDevice("fake_torino", backend, emulator, seed_transpiler=3)
    sent = []
    run = emulator.run

    def recording(circuits, shots):
        sent.extend(len(qc.cregs) for qc in circuits)
        return run(circuits, shots)

    emulator.run = recording
    counts = {label: device.sample(list(runs), shots=SHOTS) for label, runs in problem.subexperiments.items()}
    pieces = sum(len(runs) for runs in problem.subexperiments.values())
    assert len(sent) < pieces / 2  # ran packed: several subexperiments per circuit
    result = reconstruct(
        counts, problem.coefficients, problem.subobservables, problem.paulis, problem.observables, seed=1
    )
    state = Statevector(circuit)
    exact = np.array([state.expectation_value(op).real for op in observables])
    z = np.abs(result.values - exact) / result.stderr
    assert np.all(z < 5), (result.values, exact, result.stderr)


def test_the_emulator_joins_independent_parts_as_one_simulation_of_the_packed_circuit_would(problem):
    """The compact emulator runs a packed circuit part by part; a matrix-product-state simulation of the
    whole circuit (its qubits ordered region by region, so each region is contiguous) samples the same
    distribution."""
    backend = fake_backend("fake_torino")
    emulator = CompactNoiseEmulator(backend, seed_simulator=9, noisy=False)
    device = QPUDevice("fake_torino", backend, emulator, seed_transpiler=3)
    wide, layout, chunk = device.pack(subsystem(problem, 0)[:6])[0]
    by_parts = split_counts(emulator.run([wide], SHOTS)[0], layout)
    qubits = tuple(q for region in layout.regions for q in region)
    whole = AerSimulator(method="matrix_product_state", seed_simulator=9)
    by_whole = split_counts(whole.run(relabel(wide, qubits), shots=SHOTS).result().get_counts(), layout)
    p_values = [homogeneity_p(a, b) for a, b in zip(by_parts, by_whole, strict=True)]
    assert len(chunk) == 6 and min(p_values) > 1e-3, p_values
