"""``strip_measurements`` on circuits measured only at the end gives what Qiskit's
``remove_final_measurements`` gives (final barriers and idle classical bits dropped), without its round
trip through a DAG."""

from __future__ import annotations

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit.random import random_circuit

from parsl_quantum.circuits.normalize import count_measurements, strip_measurements


def _measured(seed: int) -> QuantumCircuit:
    """A random circuit measured at the end in one of three ways."""
    qc = random_circuit(6, 4, max_operands=3, measure=seed % 3 == 0, seed=seed)
    if seed % 3 == 1:
        qc.measure_all()  # a barrier, then every qubit into a new register
    elif seed % 3 == 2:
        extra = ClassicalRegister(2, "x")
        qc.add_register(extra)
        qc.barrier([0, 1])
        qc.measure([0, 1], extra)
    return qc


@pytest.mark.parametrize("seed", range(60))
def test_final_measurements_go_as_qiskit_removes_them(seed):
    qc = _measured(seed)
    stripped = strip_measurements(qc)
    assert stripped == qc.remove_final_measurements(inplace=False)
    assert count_measurements(stripped) == 0 and stripped.num_clbits == 0
    assert stripped.name == qc.name


def test_a_barrier_something_follows_stays():
    qc = QuantumCircuit(QuantumRegister(2, "q"), ClassicalRegister(2, "c"), global_phase=0.5)
    qc.h(0)
    qc.barrier()
    qc.cx(0, 1)
    qc.barrier()
    qc.measure([0, 1], [0, 1])
    stripped = strip_measurements(qc)
    assert stripped == qc.remove_final_measurements(inplace=False)
    assert [inst.operation.name for inst in stripped.data] == ["h", "barrier", "cx"]
    assert stripped.global_phase == 0.5


def test_loose_qubits_take_qiskits_pass():
    from qiskit.circuit import Qubit

    qc = QuantumCircuit([Qubit(), Qubit()], ClassicalRegister(2, "c"))
    qc.h(0)
    qc.measure([0, 1], [0, 1])
    stripped = strip_measurements(qc)
    assert stripped == qc.remove_final_measurements(inplace=False)
    assert stripped.num_qubits == 2 and stripped.num_clbits == 0
