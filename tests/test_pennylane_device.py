"""The PennyLane adapter device on parsl_quantum devices, and the PennyLane <-> Qiskit conversion."""

from __future__ import annotations

import warnings

import numpy as np
import pennylane as qml
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import get_standard_gate_name_mapping
from qiskit.quantum_info import Operator, SparsePauliOp

from parsl_quantum.circuits.convert import (
    GATE_PAIRS,
    pennylane_to_sparse_pauli,
    qiskit_to_pennylane,
    sparse_pauli_to_pennylane,
    tape_to_qiskit,
)
from parsl_quantum.devices import DeviceInputError, ObservableError, ShotsRequiredError, get_device
from parsl_quantum.devices.pennylane_device import BackendPennyLaneDevice
from parsl_quantum.devices.registry import build_device
from parsl_quantum.errors import UnsupportedOperationError
from tests.refs import pauli_sigma, tvd

SHOTS = 4000
PARAMS = (0.37, 1.21, -0.64)


@pytest.fixture(scope="module")
def aer():
    return get_device("aer", seed_simulator=11)


@pytest.fixture(scope="module")
def reference():
    return qml.device("lightning.qubit", wires=3)


def ansatz(x, y, z):
    """A 3-qubit circuit mixing table gates and gates PennyLane must decompose (Rot, CRot, MultiRZ)."""
    qml.RX(x, 0)
    qml.RY(y, 1)
    qml.Hadamard(2)
    qml.CNOT([0, 1])
    qml.Rot(z, x, y, wires=2)
    qml.CRot(y, z, x, wires=[2, 0])
    qml.IsingYY(z, wires=[0, 2])
    qml.MultiRZ(x, wires=[0, 1, 2])
    qml.adjoint(qml.S(1))
    qml.SX(0)


def moments(x, y, z):
    ansatz(x, y, z)
    return (
        qml.expval(qml.Z(0)),
        qml.expval(qml.X(2) @ qml.Y(1)),
        qml.expval(0.5 * qml.Z(0) @ qml.Z(2) - 1.3 * qml.X(1) + 0.2),
        qml.var(qml.Y(2)),
        qml.var(2.0 * qml.X(0) @ qml.Z(1)),
    )


def probabilities(x, y, z):
    ansatz(x, y, z)
    return qml.probs(wires=[2, 0]), qml.probs(wires=[0, 1, 2])


def energy(x, y, z):
    ansatz(x, y, z)
    return qml.expval(qml.Z(0) @ qml.X(2) + 0.7 * qml.Y(1))


def bell():
    qml.Hadamard(0)
    qml.CNOT([0, 1])


# -- conversion -------------------------------------------------------------------------------------
def _equal_up_to_phase(a: np.ndarray, b: np.ndarray) -> bool:
    k = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    phase = a[k] / b[k]
    return abs(abs(phase) - 1) < 1e-9 and np.allclose(a, phase * b, atol=1e-9)


@pytest.mark.parametrize(("qiskit_name", "pennylane_name"), GATE_PAIRS)
def test_gate_table_both_directions(qiskit_name, pennylane_name):
    gate = get_standard_gate_name_mapping()[qiskit_name]
    params = [0.3 + 0.4 * i for i in range(len(gate.params))]
    qubits = [2, 0, 1][: gate.num_qubits]  # asymmetric placement catches wire-order mistakes
    qc = QuantumCircuit(3)
    getattr(qc, qiskit_name)(*params, *qubits)
    ops = list(qiskit_to_pennylane(qc).instructions)
    assert [op.name for op in ops] == [pennylane_name]
    # PennyLane's matrix puts wire 0 first (most significant); Qiskit's puts qubit 0 last.
    qiskit_matrix = Operator(qc).reverse_qargs().data
    assert _equal_up_to_phase(qml.matrix(qml.prod(*reversed(ops)), wire_order=[0, 1, 2]), qiskit_matrix)
    back = tape_to_qiskit(ops, wire_order=[0, 1, 2])
    assert Operator(back).equiv(Operator(qc))


def test_tape_to_qiskit_uses_wire_order():
    ops = [qml.Hadamard("a"), qml.CNOT(["a", "c"]), qml.RY(0.4, "b")]
    qc = tape_to_qiskit(qml.tape.QuantumScript(ops), wire_order=["c", "b", "a"])
    expected = QuantumCircuit(3)
    expected.h(2)
    expected.cx(2, 0)
    expected.ry(0.4, 1)
    assert Operator(qc).equiv(Operator(expected))


def test_tape_to_qiskit_rejects_unknown_operations():
    with pytest.raises(UnsupportedOperationError, match="QubitUnitary"):
        tape_to_qiskit([qml.QubitUnitary(np.eye(2), wires=0)], wire_order=[0])


@pytest.mark.parametrize(
    ("label", "operator"),
    [
        ("IIZ", qml.Z(0)),
        ("ZII", qml.Z(2)),
        ("XYZ", qml.X(2) @ qml.Y(1) @ qml.Z(0)),
        ("IXY", qml.X(1) @ qml.Y(0)),
    ],
)
def test_observable_endianness(label, operator):
    converted = sparse_pauli_to_pennylane(SparsePauliOp(label))
    np.testing.assert_allclose(
        qml.matrix(converted, wire_order=[0, 1, 2]), qml.matrix(operator, wire_order=[0, 1, 2])
    )
    assert pennylane_to_sparse_pauli(operator, wire_order=[0, 1, 2]) == SparsePauliOp(label)


def test_observable_round_trip_multi_term():
    op = SparsePauliOp(["XXZ", "IYZ", "ZII", "III"], coeffs=[0.5, -1.2, 0.3, 0.25])
    back = pennylane_to_sparse_pauli(sparse_pauli_to_pennylane(op), wire_order=[0, 1, 2])
    np.testing.assert_allclose(back.to_matrix(), op.to_matrix())
    labelled = pennylane_to_sparse_pauli(
        0.5 * qml.X("a") @ qml.Z("c") - qml.Y("b"), wire_order=["a", "b", "c"]
    )
    np.testing.assert_allclose(labelled.to_matrix(), SparsePauliOp(["ZIX", "IYI"], [0.5, -1.0]).to_matrix())


def test_non_pauli_observable_is_rejected(aer):
    with pytest.raises(ObservableError, match="Pauli representation"):
        pennylane_to_sparse_pauli(qml.Hermitian(np.diag([1.0, 2.0]), wires=0), wire_order=[0])

    def circuit():
        qml.Hadamard(0)
        return qml.expval(qml.Hermitian(np.diag([1.0, 2.0]), wires=0))

    with pytest.raises(ObservableError, match="Pauli representation.*'aer'"):
        qml.QNode(circuit, aer.pennylane(1))()


# -- analytic execution on Aer ----------------------------------------------------------------------
def test_analytic_moments_match_lightning(aer, reference):
    ours = qml.QNode(moments, aer.pennylane(3))(*PARAMS)
    theirs = qml.QNode(moments, reference)(*PARAMS)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_analytic_probs_match_lightning(aer, reference):
    ours = qml.QNode(probabilities, aer.pennylane(3))(*PARAMS)
    theirs = qml.QNode(probabilities, reference)(*PARAMS)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("diff_method", ["parameter-shift", "best"])
def test_gradient_matches_analytic_derivative(aer, reference, diff_method):
    args = [qml.numpy.array(p, requires_grad=True) for p in PARAMS]
    ours = qml.grad(qml.QNode(energy, aer.pennylane(3), diff_method=diff_method))(*args)
    exact = qml.grad(qml.QNode(energy, reference, diff_method="adjoint"))(*args)
    np.testing.assert_allclose(ours, exact, atol=1e-6)
    assert np.max(np.abs(exact)) > 0.05  # a gradient worth comparing


def test_batch_is_one_estimate_call(monkeypatch, reference):
    device = build_device("aer")
    calls = []
    original = device.estimate

    def counting(circuits, observables, shots=None):
        calls.append(len(circuits))
        return original(circuits, observables, shots=shots)

    monkeypatch.setattr(device, "estimate", counting)
    dev = BackendPennyLaneDevice(device, wires=3)
    tapes = [qml.tape.make_qscript(energy)(0.1 * i, 0.2, 0.3) for i in range(5)]
    ours = qml.execute(tapes, dev)
    np.testing.assert_allclose(ours, qml.execute(tapes, reference), atol=1e-6)
    assert calls == [5]


def test_wire_labels(aer):
    labels = ["q", "r", "s"]

    def circuit():
        qml.RY(0.4, "q")
        qml.CNOT(["q", "s"])
        qml.RX(1.0, "r")
        return qml.expval(qml.Z("s")), qml.expval(qml.Z("r")), qml.probs(wires=["s"])

    ours = qml.QNode(circuit, aer.pennylane(labels))()
    theirs = qml.QNode(circuit, qml.device("lightning.qubit", wires=labels))()
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_mid_circuit_measurements_are_rejected(aer):
    def circuit():
        qml.Hadamard(0)
        qml.measure(0)
        return qml.expval(qml.Z(1))

    with pytest.raises(UnsupportedOperationError, match="MidMeasure"):
        qml.QNode(circuit, aer.pennylane(2))()


# -- execution with shots ---------------------------------------------------------------------------
def test_shot_expvals_within_five_sigma(aer, reference):
    observables = [qml.Z(0), qml.X(2) @ qml.Y(1), qml.Y(2)]

    def circuit(x, y, z):
        ansatz(x, y, z)
        return tuple(qml.expval(o) for o in observables)

    exact = qml.QNode(circuit, reference)(*PARAMS)
    ours = qml.set_shots(qml.QNode(circuit, aer.pennylane(3)), shots=SHOTS)(*PARAMS)
    for value, ex in zip(ours, exact, strict=True):
        assert abs(value - ex) < 5 * pauli_sigma(float(ex), SHOTS)


def test_shot_probs_counts_and_samples(aer, reference):
    def circuit(x, y, z):
        ansatz(x, y, z)
        return qml.probs(wires=[2, 0]), qml.counts(wires=[2, 0]), qml.sample(wires=[2, 0])

    exact = qml.QNode(probabilities, reference)(*PARAMS)[0]
    exact_dist = {f"{i:02b}": p for i, p in enumerate(exact)}
    probs, counts, samples = qml.set_shots(qml.QNode(circuit, aer.pennylane(3)), shots=SHOTS)(*PARAMS)
    assert 0.5 * np.abs(probs - exact).sum() < 0.05
    assert (
        sum(counts.values()) == SHOTS and tvd({str(k): int(v) for k, v in counts.items()}, exact_dist) < 0.05
    )
    assert samples.shape == (SHOTS, 2)
    sampled = {key: int(np.sum((samples[:, 0] * 2 + samples[:, 1]) == i)) for i, key in enumerate(exact_dist)}
    assert tvd(sampled, exact_dist) < 0.05


def test_samples_of_one_run_are_correlated(aer):
    def circuit():
        bell()
        return qml.sample(wires=[0]), qml.sample(wires=[1]), qml.counts(qml.X(0) @ qml.X(1))

    first, second, parity = qml.set_shots(qml.QNode(circuit, aer.pennylane(2)), shots=500)()
    np.testing.assert_array_equal(first, second)
    assert 0.3 < first.mean() < 0.7
    assert dict(parity) == {1.0: 500}  # XX = +1 on the Bell state


def test_device_shots_and_shot_vectors(aer):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation warning for our own device's shots
        dev = aer.pennylane(2, shots=300)
    assert dev.shots.total_shots == 300

    def circuit():
        bell()
        return qml.expval(qml.Z(0) @ qml.Z(1)), qml.counts(wires=[0, 1])

    value, counts = qml.QNode(circuit, dev)()
    assert value == pytest.approx(1.0) and sum(counts.values()) == 300
    split = qml.set_shots(qml.QNode(circuit, dev), shots=[100, (200, 2)])()
    assert len(split) == 3
    assert [sum(c.values()) for _, c in split] == [100, 200, 200]


def test_noisy_emulator_bell_correlation():
    qpu = get_device("fake_torino", seed_simulator=1, seed_transpiler=1)

    def circuit():
        bell()
        return qml.expval(qml.Z(0) @ qml.Z(1))

    value = qml.QNode(circuit, qpu.pennylane(2, shots=SHOTS))()
    assert 0.8 < value < 0.999  # correlated, and noisy


def test_qpu_needs_shots():
    qpu = get_device("fake_torino", seed_simulator=1, seed_transpiler=1)
    with pytest.raises(DeviceInputError, match="fake_torino"):
        qpu.pennylane(2)

    def circuit():
        bell()
        return qml.expval(qml.Z(0))

    with pytest.raises(ShotsRequiredError, match="fake_torino"):
        qml.set_shots(qml.QNode(circuit, qpu.pennylane(2, shots=100)), shots=None)()


def test_analytic_samples_are_rejected(aer):
    def circuit():
        bell()
        return qml.sample(wires=[0])

    with pytest.raises(qml.exceptions.DeviceError, match="sample.*not accepted for analytic"):
        qml.QNode(circuit, aer.pennylane(2))()
