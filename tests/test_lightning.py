"""Lightning devices (and the Qiskit -> PennyLane conversion they run on) against exact references."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, qasm2, qasm3
from qiskit.circuit import Clbit
from qiskit.circuit.library import QFTGate, UnitaryGate
from qiskit.quantum_info import SparsePauliOp, random_unitary

from parsl_quantum.circuits.convert import GATE_PAIRS
from parsl_quantum.devices import (
    DeviceInputError,
    GPUUnavailableError,
    NoMeasurementsError,
    ObservableError,
    TooManyQubitsError,
    get_device,
)
from parsl_quantum.devices import lightning as lightning_module
from parsl_quantum.devices.hardware import GPUInfo, job_memory_bytes, max_statevector_qubits
from parsl_quantum.devices.lightning import LightningDevice, gpu_unavailable_reason
from parsl_quantum.errors import BackendNotInstalledError, UnsupportedOperationError
from tests.refs import exact_expectation, exact_probabilities, ghz, pauli_sigma, tvd, w_state

SHOTS = 4000
CPU_BACKENDS = ["lightning.qubit", "lightning.kokkos"]


@pytest.fixture(scope="module", params=CPU_BACKENDS)
def device(request):
    return get_device(request.param, seed=11)


@pytest.fixture(scope="module")
def aer():
    return get_device("aer", seed_simulator=11)


def asymmetric(measure: bool = False) -> QuantumCircuit:
    """A 3-qubit state whose single-qubit expectations differ from qubit to qubit."""
    qc = QuantumCircuit(3, name="asymmetric")
    qc.ry(0.3, 0)
    qc.ry(1.1, 1)
    qc.rx(0.7, 2)
    qc.cx(0, 1)
    qc.rzz(0.4, 1, 2)
    qc.u(0.2, 0.5, 0.9, 0)
    qc.sdg(2)
    qc.h(2)
    if measure:
        qc.measure_all()
    return qc


def every_gate() -> QuantumCircuit:
    """Every gate of the conversion table in asymmetric positions, skipped operations, and gates that
    must be decomposed first."""
    qc = QuantumCircuit(3, name="every_gate")
    qc.h([0, 1, 2])
    qc.rx(0.3, 0)
    qc.ry(0.4, 1)
    qc.rz(0.5, 2)
    qc.x(0)
    qc.y(1)
    qc.z(2)
    qc.s(0)
    qc.sdg(1)
    qc.t(2)
    qc.tdg(0)
    qc.sx(1)
    qc.sxdg(2)
    qc.p(0.6, 0)
    qc.u(0.7, 0.8, 0.9, 1)
    qc.cx(0, 1)
    qc.cy(1, 2)
    qc.cz(2, 0)
    qc.ch(0, 2)
    qc.swap(1, 2)
    qc.crx(1.1, 2, 1)
    qc.cry(1.2, 0, 1)
    qc.crz(1.3, 1, 0)
    qc.cp(1.4, 2, 0)
    qc.rxx(0.5, 0, 2)
    qc.ryy(0.6, 1, 0)
    qc.rzz(0.7, 2, 1)
    qc.ccx(2, 0, 1)
    qc.cswap(1, 2, 0)
    qc.id(0)
    qc.barrier()
    qc.global_phase = 0.7
    qc.append(UnitaryGate(random_unitary(4, seed=5)), [2, 0])  # outside the table: transpiled
    qc.append(QFTGate(3), [0, 1, 2])
    qc.cu(0.3, 0.4, 0.5, 0.6, 1, 2)
    qc.ecr(0, 1)
    assert {name for name, _ in GATE_PAIRS} <= {inst.operation.name for inst in qc.data}
    return qc


# -- sampling ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("circuit", [ghz(5), w_state(4)], ids=["ghz5", "w4"])
def test_counts_match_exact_distribution(device, circuit):
    counts = device.sample(circuit, shots=SHOTS)
    assert sum(counts.values()) == SHOTS
    assert set(counts) <= set(exact_probabilities(circuit))
    assert tvd(counts, exact_probabilities(circuit)) < 0.05


def test_every_gate_sampled_correctly(device):
    circuit = every_gate()
    measured = circuit.copy()
    measured.measure_all()
    assert tvd(device.sample(measured, shots=SHOTS), exact_probabilities(circuit)) < 0.05


def test_batch_of_widths(device):
    counts = device.sample([ghz(2), ghz(4), w_state(3)], shots=2000)
    assert [sum(c.values()) for c in counts] == [2000] * 3
    assert set(counts[0]) == {"00", "11"} and set(counts[1]) == {"0000", "1111"}
    assert set(counts[2]) == {"001", "010", "100"}


def test_counts_keys_match_aer_for_registers(device, aer):
    qr = QuantumRegister(4, "q")
    a, b, c = ClassicalRegister(2, "a"), ClassicalRegister(1, "b"), ClassicalRegister(3, "c")
    qc = QuantumCircuit(qr, a, b, c, name="registers")
    qc.x([0, 2])
    qc.measure(0, a[0])
    qc.measure(1, a[1])
    qc.measure(2, c[2])
    qc.measure(3, c[0])
    qc.measure(2, b[0])
    qc.measure(1, b[0])  # written twice: the last value (0) wins; c[1] is never written and stays 0
    expected = aer.sample(qc, shots=16)
    assert expected == {"100 0 01": 16}
    assert device.sample(qc, shots=16) == expected


def test_counts_keys_match_aer_for_documented_example(device, aer):
    qr = QuantumRegister(3)
    a, c = ClassicalRegister(2, "a"), ClassicalRegister(1, "c")
    qc = QuantumCircuit(qr, a, c, name="two_registers")
    qc.x([0, 2])
    qc.measure([0, 1, 2], [a[0], a[1], c[0]])
    assert device.sample(qc, shots=8) == aer.sample(qc, shots=8) == {"1 01": 8}


@pytest.mark.parametrize("loose_first", [True, False])
def test_counts_keys_match_aer_with_loose_clbits(device, aer, loose_first):
    reg = ClassicalRegister(2, "c")
    loose = [Clbit(), Clbit()]
    qc = QuantumCircuit(QuantumRegister(2), *((loose, reg) if loose_first else (reg, loose)))
    qc.x(0)
    qc.measure(0, 0)
    qc.measure(0, 3)
    assert device.sample(qc, shots=8) == aer.sample(qc, shots=8)


def test_mid_circuit_measurement_distribution(device):
    qc = QuantumCircuit(2, 3, name="mcm")
    qc.h(0)
    qc.measure(0, 0)
    qc.cx(0, 1)
    qc.x(0)
    qc.measure(0, 1)
    qc.measure(1, 2)
    counts = device.sample(qc, shots=SHOTS)
    assert set(counts) <= {"010", "101"}
    assert tvd(counts, {"010": 0.5, "101": 0.5}) < 0.05


def test_mid_circuit_measurement_into_reused_bits(device, aer):
    """Resets, a bit rewritten by a later mid-circuit measurement, and a qubit measured twice."""
    qc = QuantumCircuit(3, 4, name="reuse")
    qc.x(0)
    qc.measure(0, 0)  # 1, later overwritten
    qc.reset(0)
    qc.measure(0, 1)  # 0 after the reset
    qc.x(1)
    qc.measure(1, 2)
    qc.x(1)  # qubit 1 acted on after its measurement: that measurement is mid-circuit
    qc.measure(1, 0)  # overwrites bit 0 with 0
    qc.x(2)
    qc.measure(2, 3)
    qc.measure(2, 3)
    expected = aer.sample(qc, shots=16)
    assert expected == {"1100": 16}
    assert device.sample(qc, shots=16) == expected


def test_one_shot_method_agrees():
    device = LightningDevice("lightning.qubit", seed=3, mcm_method="one-shot")
    qc = QuantumCircuit(2, 2, name="mcm_one_shot")
    qc.ry(2 * math.acos(math.sqrt(0.8)), 0)
    qc.measure(0, 0)
    qc.cx(0, 1)
    qc.measure(1, 1)
    counts = device.sample(qc, shots=1000)
    assert set(counts) <= {"00", "11"}
    assert tvd(counts, {"00": 0.8, "11": 0.2}) < 0.06


def test_seed_makes_counts_reproducible():
    qc = w_state(3)
    mcm = QuantumCircuit(2, 2, name="mcm_seed")
    mcm.h(0)
    mcm.measure(0, 0)
    mcm.h(0)
    mcm.measure(0, 1)
    first, second = (LightningDevice("lightning.qubit", seed=5) for _ in range(2))
    assert first.sample([qc, mcm], shots=500) == second.sample([qc, mcm], shots=500)


@pytest.mark.parametrize("dumps", [qasm2.dumps, qasm3.dumps], ids=["qasm2", "qasm3"])
def test_openqasm_input(device, dumps):
    circuit = ghz(3)
    counts = device.sample(dumps(circuit), shots=SHOTS)
    assert tvd(counts, exact_probabilities(circuit)) < 0.05
    value = device.estimate(dumps(ghz(3, measure=False)), "ZZI")
    assert value == pytest.approx(1.0, abs=1e-6)


# -- estimation -------------------------------------------------------------------------------------
OBSERVABLES = [
    "IIZ",
    "ZII",
    "IZI",
    "XYZ",
    "ZYX",
    "YYI",
    "III",
    SparsePauliOp(["XXZ", "IYZ", "ZII", "III"], coeffs=[0.5, -1.2, 0.3, 0.25]),
]


def test_asymmetric_reference_is_asymmetric():
    state = asymmetric()
    assert abs(exact_expectation(state, "IIZ") - exact_expectation(state, "ZII")) > 0.1
    assert abs(exact_expectation(state, "XYZ") - exact_expectation(state, "ZYX")) > 0.1


def test_exact_estimate(device):
    state = asymmetric()
    values = device.estimate(state, OBSERVABLES)
    expected = [exact_expectation(state, obs) for obs in OBSERVABLES]
    np.testing.assert_allclose(values, expected, atol=1e-6)


def test_exact_estimate_of_every_gate(device):
    state = every_gate()
    labels = ["ZII", "IZI", "IIZ", "XYZ", "YXI", "ZZX", "IXY"]
    np.testing.assert_allclose(
        device.estimate(state, labels), [exact_expectation(state, lab) for lab in labels], atol=1e-6
    )


def test_exact_estimate_batch(device):
    circuits = [asymmetric(measure=True), w_state(4, measure=False)]
    values = device.estimate(circuits, [["ZII", "IIZ"], ["ZIII", "IIIZ", "XXII"]])
    assert len(values) == 2
    np.testing.assert_allclose(
        values[0], [exact_expectation(asymmetric(), o) for o in ["ZII", "IIZ"]], atol=1e-6
    )
    np.testing.assert_allclose(values[1], [0.5, 0.5, 0.5], atol=1e-6)


def test_exact_estimate_after_mid_circuit_measurement(device):
    qc = QuantumCircuit(1, 1, name="collapse")
    qc.h(0)
    qc.measure(0, 0)
    qc.h(0)
    assert device.estimate(qc, "X") == pytest.approx(0.0, abs=1e-9)  # without the measurement: 1
    assert device.estimate(qc, "Z") == pytest.approx(0.0, abs=1e-9)


def test_shot_estimate_within_five_sigma(device):
    state = asymmetric()
    labels = ["IIZ", "ZII", "XYZ", "YYI"]
    values = device.estimate(state, labels, shots=SHOTS)
    for label, value in zip(labels, values, strict=True):
        exact = exact_expectation(state, label)
        assert abs(value - exact) < 5 * pauli_sigma(exact, SHOTS), label


# -- errors -----------------------------------------------------------------------------------------
def test_too_many_qubits(device):
    wide = QuantumCircuit(device.num_qubits + 1, name="too_wide")
    wide.measure_all()
    with pytest.raises(TooManyQubitsError, match=f"'too_wide'.*{device.name}.*{device.num_qubits}"):
        device.sample(wide, shots=10)


def test_no_measurements(device):
    with pytest.raises(NoMeasurementsError, match="ghz3"):
        device.sample(ghz(3, measure=False), shots=10)


def test_observable_width_mismatch(device):
    with pytest.raises(ObservableError, match="ghz3"):
        device.estimate(ghz(3, measure=False), "ZZ")


def test_if_test_is_sampled(device):
    """H, measure into c, X on q1 if c: the final measurement reads 00 or 11, each half the time."""
    qc = QuantumCircuit(2, 1, name="feedforward")
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    qc.measure_all()
    counts = device.sample(qc, shots=SHOTS)
    assert set(counts) == {"00 0", "11 1"}
    assert tvd(counts, {"00 0": 0.5, "11 1": 0.5}) < 0.05


def test_unsupported_control_flow_is_named(device):
    looped = QuantumCircuit(1, 1, name="looped")
    with looped.while_loop((looped.clbits[0], 0)):
        looped.h(0)
        looped.measure(0, 0)
    looped.measure(0, 0)
    nested = QuantumCircuit(2, 1, name="nested")
    nested.h(0)
    nested.measure(0, 0)
    with nested.if_test((nested.clbits[0], 1)):
        nested.measure(1, 0)
    for qc, match in [(looped, "'looped'.*while_loop"), (nested, "'nested'.*'measure' inside an if_test")]:
        with pytest.raises(UnsupportedOperationError, match=match):
            device.sample(qc, shots=10)


def test_unknown_mcm_method():
    with pytest.raises(DeviceInputError, match="mcm_method"):
        LightningDevice("lightning.qubit", mcm_method="magic")


def test_missing_kokkos_package_is_named(monkeypatch):
    monkeypatch.setattr(lightning_module, "plugin_installed", lambda backend: False)
    with pytest.raises(BackendNotInstalledError, match="pip install pennylane-lightning-kokkos"):
        LightningDevice("lightning.kokkos")


# -- description ------------------------------------------------------------------------------------
def test_capabilities(device):
    caps = device.capabilities
    assert (caps.kind, caps.exact_expectation, caps.noisy, caps.method) == ("cpu", True, False, "statevector")
    assert caps.mid_circuit_measurement
    assert device.num_qubits == max_statevector_qubits(job_memory_bytes(), 16)


def test_pennylane_device(device):
    import pennylane as qml

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        analytic = device.pennylane(2)
        sampled = device.pennylane(2, shots=100)
    assert analytic.name == device.name and len(analytic.wires) == 2
    assert sampled.shots.total_shots == 100

    @qml.qnode(analytic)
    def bell():
        qml.Hadamard(0)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(0) @ qml.Z(1))

    assert bell() == pytest.approx(1.0)


# -- lightning.gpu ----------------------------------------------------------------------------------
def test_gpu_unavailable_names_the_cpu_backend(monkeypatch):
    monkeypatch.setattr(
        lightning_module, "detect_gpus", lambda: GPUInfo(0, 0, "no NVIDIA driver on this machine")
    )
    with pytest.raises(GPUUnavailableError, match="no NVIDIA driver") as info:
        LightningDevice("lightning.gpu")
    assert "'lightning.qubit'" in str(info.value)


def test_gpu_unavailable_here():
    reason = gpu_unavailable_reason()
    if reason is None:
        pytest.skip("lightning.gpu is usable on this machine")
    with pytest.raises(GPUUnavailableError, match="lightning.qubit") as info:
        get_device("lightning.gpu")
    assert reason in str(info.value)


@pytest.mark.gpu
def test_lightning_gpu_runs():
    reason = gpu_unavailable_reason()
    if reason is not None:
        pytest.skip(f"lightning.gpu unusable: {reason}")
    device = get_device("lightning.gpu", seed=11)
    assert device.kind == "gpu"
    assert tvd(device.sample(ghz(5), shots=SHOTS), exact_probabilities(ghz(5))) < 0.05
    state = asymmetric()
    np.testing.assert_allclose(
        device.estimate(state, OBSERVABLES), [exact_expectation(state, o) for o in OBSERVABLES], atol=1e-6
    )
