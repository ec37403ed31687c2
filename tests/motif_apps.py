"""Motif-decorated functions for the motif tests (importable by workers)."""

from __future__ import annotations

import time

from parsl_quantum.motifs import ensemble, quantum_app
from parsl_quantum.motifs.pipeline import pipeline
from parsl_quantum.motifs.variational import variational


def ry_circuit(theta: float, n: int = 2):
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n, name="ry")
    qc.ry(theta, 0)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    return qc


@quantum_app(executors=["quantum"], qubits=lambda n: n, kinds=["cpu"])
def width_of_device(n, *, device):
    return n, device.name


@quantum_app(executors=["quantum"])
def needs_nothing(x, *, device):
    return x + 1


@ensemble(executors=["quantum"], kinds=["cpu"], qubits=2)
def z0(theta, *, device):
    """<Z> of qubit 0 after RY(theta): cos(theta)."""
    return device.estimate(ry_circuit(theta), "IZ")


@ensemble(executors=["quantum"], kinds=["cpu"])
def fragile(x, *, device):
    if x % 5 == 3:
        raise ValueError(f"item {x} is bad")
    return x * x


@ensemble(executors=["quantum"], kinds=["cpu"])
def counts_of(circuit, shots, *, device):
    return device.sample(circuit, shots=shots)


@variational(executors=["quantum"], kinds=["cpu"], qubits=2)
def two_qubit_energy(params, *, device):
    """<ZZ + 0.5 XI> after RY(a) q0, RY(b) q1, CX: a smooth landscape with each parameter used once."""
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

    qc = QuantumCircuit(2)
    qc.ry(params[0], 0)
    qc.ry(params[1], 1)
    qc.cx(0, 1)
    return device.estimate(qc, SparsePauliOp(["ZZ", "XI"], [1.0, 0.5]))


stages = pipeline("test", executors=["quantum"], classical_executors=["classical"])


@stages.classical
def build(theta, n=2):
    return ry_circuit(theta, n), time.time()


@stages.quantum(kinds=["cpu"], qubits=2)
def run_stage(built, *, device):
    circuit, _ = built
    # later inputs take longer (theta = 0, 0.5, 1, 1.5 in the test): the first input's last stage must
    # finish before the last input's quantum stage does, even on a loaded machine
    time.sleep(0.3 + float(circuit.data[0].operation.params[0]))
    return device.estimate(circuit, "IZ"), time.time()


@stages.classical
def finish(ran, scale=1.0):
    value, _ = ran
    return value * scale, time.time()


@variational(executors=["quantum"], kinds=["cpu"], qubits=2)
def offset_energy(params, offsets, *, device):
    """<ZI + IZ> after RY(a - offsets[0]) on one qubit and RY(b - offsets[1]) on the other:
    cos(a - offsets[0]) + cos(b - offsets[1]), whose minimum -2 lies at params = offsets + pi."""
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2)
    qc.ry(params[0] - offsets[0], 0)
    qc.ry(params[1] - offsets[1], 1)
    return device.estimate(qc, "ZI") + device.estimate(qc, "IZ")


@ensemble(
    executors=["quantum"],
    kinds=lambda item: ["qpu"] if item % 3 == 0 else ["cpu", "qpu"],
    min_fidelity=lambda item: None if item % 3 == 0 else 0.999,  # no QPU is that good: the simulator
    qubits=lambda item: 1 + item % 2,
)
def where_it_ran(item, *, device):
    return item, device.kind


@ensemble(executors=["quantum"])
def fails_on_the_qpu(item, *, device):
    """Every QPU job of this ensemble fails as a backend fault would."""
    from parsl_quantum.errors import BackendError

    if device.kind == "qpu":
        raise BackendError(f"the QPU job of item {item} failed")
    return item, device.kind
