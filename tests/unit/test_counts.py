"""``counts_of`` gives exactly what Qiskit's ``Result.get_counts`` gives: the same keys (registers
split by spaces, the last register leftmost, every memory slot padded) and the same numbers, for Aer's
results and for the fake backends' results alike."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit.random import random_circuit
from qiskit_aer import AerSimulator

from parsl_quantum.devices.counts import counts_of


def _registers(seed: int) -> QuantumCircuit:
    """A random 7-qubit circuit whose measurements fill one to three registers, some bits left unset."""
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in rng.integers(1, 5, size=int(rng.integers(1, 4)))]
    qc = QuantumCircuit(
        QuantumRegister(7, "q"), *[ClassicalRegister(s, f"c{i}") for i, s in enumerate(sizes)]
    )
    qc.compose(random_circuit(7, 4, max_operands=2, seed=seed), inplace=True)
    clbits = rng.permutation(qc.num_clbits)[: int(rng.integers(1, min(qc.num_clbits, 7) + 1))]
    qubits = rng.choice(7, size=len(clbits), replace=False)
    for q, c in zip(qubits, clbits, strict=True):
        qc.measure(int(q), int(c))
    return qc


@pytest.mark.parametrize("seed", range(30))
def test_registers_as_get_counts_writes_them(seed):
    from qiskit import transpile

    simulator = AerSimulator(seed_simulator=seed)
    result = simulator.run(transpile(_registers(seed), simulator), shots=300).result()
    assert counts_of(result, 0) == dict(result.get_counts(0))


def test_measure_all_many_outcomes_and_several_experiments():
    circuits = []
    for n in (3, 12):
        qc = QuantumCircuit(n)
        qc.h(range(n))
        qc.measure_all()
        circuits.append(qc)
    result = AerSimulator(method="statevector", seed_simulator=3).run(circuits, shots=2000).result()
    for i in range(2):
        counts = counts_of(result, i)
        assert counts == dict(result.get_counts(i))
        assert sum(counts.values()) == 2000
    assert len(counts_of(result, 0)) == 8 and all(len(k) == 3 for k in counts_of(result, 0))
    assert len(counts_of(result, 1)) > 1000  # 2000 draws from 4096 equally likely outcomes


def test_a_fake_backend_result():
    from qiskit import transpile
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    backend = FakeManilaV2()
    qc = QuantumCircuit(QuantumRegister(3), ClassicalRegister(1, "a"), ClassicalRegister(2, "b"))
    qc.h(0)
    qc.cx(0, 1)
    qc.cx(1, 2)
    qc.measure([0, 1, 2], [0, 1, 2])
    result = backend.run(transpile(qc, backend, seed_transpiler=1), shots=500, seed_simulator=5).result()
    assert counts_of(result, 0) == dict(result.get_counts(0))
    assert all(len(key.split(" ")) == 2 for key in counts_of(result, 0))


def test_results_without_hexadecimal_counts_go_through_get_counts():
    from qiskit.result import Result

    result = Result.from_dict(
        {
            "backend_name": "test",
            "backend_version": "1",
            "qobj_id": "0",
            "job_id": "0",
            "success": True,
            "results": [
                {"shots": 3, "success": True, "data": {"counts": {"01": 2, "10": 1}}, "header": {}},
            ],
        }
    )
    assert counts_of(result, 0) == dict(result.get_counts(0)) == {"01": 2, "10": 1}


@pytest.mark.parametrize("seed", range(20))
def test_keyed_counts_writes_keys_as_qiskit_formats_memory(seed):
    from qiskit.result.postprocess import format_counts_memory

    from parsl_quantum.devices.counts import keyed_counts

    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in rng.integers(1, 6, size=int(rng.integers(1, 4)))]
    header = {"creg_sizes": [[f"c{i}", s] for i, s in enumerate(sizes)], "memory_slots": sum(sizes)}
    if seed % 5 == 0:
        header = {}  # no layout: unpadded bits, as Qiskit writes them
    outcomes = {int(v): int(rng.integers(1, 9)) for v in rng.integers(0, 2 ** sum(sizes), size=40)}
    expected = {format_counts_memory(hex(v), header): n for v, n in outcomes.items()}
    assert keyed_counts(outcomes.items(), header) == expected
