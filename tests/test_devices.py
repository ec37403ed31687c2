"""Devices against exact statevector results: Aer, the noisy QPU emulator, and every error case."""

from __future__ import annotations

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, qasm2, qasm3
from qiskit.quantum_info import SparsePauliOp

from parsl_quantum.devices import (
    CircuitParseError,
    GPUUnavailableError,
    NoMeasurementsError,
    ObservableError,
    ShotsRequiredError,
    TooManyQubitsError,
    UnknownBackendError,
    get_device,
)
from parsl_quantum.devices.aer import gpu_unavailable_reason
from parsl_quantum.devices.emulator import emulated_qubits
from parsl_quantum.devices.hardware import job_memory_bytes, max_statevector_qubits
from tests.refs import exact_expectation, exact_probabilities, ghz, pauli_sigma, tvd, w_state

SHOTS = 4000


@pytest.fixture(scope="module")
def aer():
    return get_device("aer", seed_simulator=11)


@pytest.fixture(scope="module")
def torino():
    return get_device("fake_torino", seed_simulator=5, seed_transpiler=5)


def vqe_like(n: int = 3) -> QuantumCircuit:
    qc = QuantumCircuit(n, name="ansatz")
    for q in range(n):
        qc.ry(0.3 + 0.4 * q, q)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    qc.rx(0.7, 0)
    qc.rz(-0.4, n - 1)
    return qc


# -- correctness on the CPU simulator -------------------------------------------------------------


@pytest.mark.parametrize("circuit", [ghz(5), w_state(4)], ids=["ghz5", "w4"])
def test_aer_counts_match_exact_distribution(aer, circuit):
    counts = aer.sample(circuit, shots=SHOTS)
    assert sum(counts.values()) == SHOTS
    assert tvd(counts, exact_probabilities(circuit)) < 0.05


def test_aer_exact_estimate(aer):
    qc = vqe_like()
    observables = ["ZII", "IIZ", "XYZ", SparsePauliOp(["ZZI", "IXX", "YIY"], [0.5, -1.2, 0.3])]
    values = aer.estimate(qc, observables)
    for value, obs in zip(values, observables, strict=True):
        assert value == pytest.approx(exact_expectation(qc, obs), abs=1e-6)
    assert isinstance(aer.estimate(qc, "ZZZ"), float)


def test_aer_shot_estimate_within_five_sigma(aer):
    qc = vqe_like()
    for obs in ["ZII", "IXI", "YZX"]:
        exact = exact_expectation(qc, obs)
        value = aer.estimate(qc, obs, shots=SHOTS)
        assert abs(value - exact) < 5 * pauli_sigma(exact, SHOTS)


def test_estimate_over_several_circuits(aer):
    circuits = [vqe_like(3), ghz(3, measure=False)]
    per_circuit = aer.estimate(circuits, "ZZZ")
    assert per_circuit.shape == (2,)
    matrix = aer.estimate(circuits, [["ZII", "IIZ"], ["ZZI", "XXX"]])
    assert matrix.shape == (2, 2)
    assert matrix[1, 1] == pytest.approx(1.0, abs=1e-6)
    assert matrix[0, 1] == pytest.approx(exact_expectation(circuits[0], "IIZ"), abs=1e-6)


def test_counts_keys_follow_qiskit_register_format(aer):
    a, c = ClassicalRegister(2, "a"), ClassicalRegister(1, "c")
    qc = QuantumCircuit(QuantumRegister(3), a, c)
    qc.x(0)
    qc.x(2)
    qc.measure(0, a[0])
    qc.measure(1, a[1])
    qc.measure(2, c[0])
    assert aer.sample(qc, shots=50) == {"1 01": 50}


def test_openqasm2_and_openqasm3_inputs(aer):
    circuit = ghz(3)
    for text in (qasm2.dumps(circuit), qasm3.dumps(circuit)):
        counts = aer.sample(text, shots=SHOTS)
        assert tvd(counts, exact_probabilities(circuit)) < 0.05


def test_num_qubits_is_what_fits_in_memory(aer):
    assert aer.num_qubits == max_statevector_qubits(job_memory_bytes(), 16)
    assert 2**aer.num_qubits * 16 <= job_memory_bytes() < 2 ** (aer.num_qubits + 1) * 16
    assert get_device("aer", method="density_matrix").num_qubits == aer.num_qubits // 2


def test_devices_are_built_once_per_process():
    assert get_device("aer", seed_simulator=11) is get_device("aer", seed_simulator=11)
    assert get_device("aer", seed_simulator=12) is not get_device("aer", seed_simulator=11)


# -- the noisy QPU emulator -----------------------------------------------------------------------


def test_fake_backend_is_a_noisy_qpu(torino):
    assert torino.kind == "qpu"
    # the emulator's width is what its host simulates, not the device's 133 qubits
    assert (
        torino.num_qubits
        == min(133, emulated_qubits())
        == min(133, max_statevector_qubits(job_memory_bytes()))
    )
    assert torino.qiskit_backend.num_qubits == 133
    assert 0.9 < torino.fidelity < 1.0
    assert torino.capabilities.noisy and not torino.capabilities.exact_expectation


def test_fake_backend_ghz_is_plausibly_noisy(torino):
    n = 4
    counts = torino.sample(ghz(n), shots=SHOTS)
    assert sum(counts.values()) == SHOTS
    ghz_population = (counts.get("0" * n, 0) + counts.get("1" * n, 0)) / SHOTS
    assert 0.8 < ghz_population < 1.0
    parity = torino.estimate(ghz(n, measure=False), "X" * n, shots=SHOTS)
    assert 0.8 < parity < 1.0 - 3 * pauli_sigma(1.0 - 1e-3, SHOTS)


def test_fake_backend_counts_keep_register_format(torino):
    a, c = ClassicalRegister(2, "a"), ClassicalRegister(1, "c")
    qc = QuantumCircuit(QuantumRegister(3), a, c)
    qc.x(0)
    qc.measure(0, a[0])
    qc.measure(1, a[1])
    qc.measure(2, c[0])
    counts = torino.sample(qc, shots=1000)
    assert max(counts, key=counts.get) == "0 01"


def test_runtime_code_path_with_fake_backend():
    """The real-device path (runtime Sampler) run in the runtime's local mode on a fake backend."""
    device = get_device("fake_torino", emulation="runtime_local", seed_transpiler=3)
    a, c = ClassicalRegister(2, "a"), ClassicalRegister(1, "c")
    qc = QuantumCircuit(QuantumRegister(3), a, c)
    qc.h(0)
    qc.cx(0, 1)
    qc.cx(1, 2)
    qc.measure(0, a[0])
    qc.measure(1, a[1])
    qc.measure(2, c[0])
    counts = device.sample(qc, shots=2000)
    assert sum(counts.values()) == 2000
    assert all(len(k) == 4 and k[1] == " " for k in counts)
    assert (counts.get("0 00", 0) + counts.get("1 11", 0)) / 2000 > 0.8


# -- errors that name the problem -----------------------------------------------------------------


def test_too_many_qubits_names_both_numbers(aer):
    wide = QuantumCircuit(aer.num_qubits + 1, name="too_wide")
    with pytest.raises(
        TooManyQubitsError, match=rf"'too_wide' needs {aer.num_qubits + 1} qubits.*at most {aer.num_qubits}"
    ):
        aer.sample(wide, shots=10)


def test_too_many_qubits_on_a_qpu(torino):
    width = torino.num_qubits + 1
    match = (
        rf"needs {width} qubits; device 'fake_torino' has 133 but its emulator simulates at most {width - 1}"
    )
    with pytest.raises(TooManyQubitsError, match=match):
        torino.estimate(QuantumCircuit(width), "Z" * width, shots=10)


def test_small_device_keeps_its_own_width():
    """min(device qubits, simulable width): a 5-qubit device is 5 wide on any host."""
    assert get_device("fake_manila").num_qubits == 5


def test_isa_circuit_counts_the_qubits_it_uses(torino):
    """A circuit already laid out on all 133 qubits runs when it acts on few of them."""
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure_all()
    isa = torino.transpile([qc])[0]
    assert isa.num_qubits == 133 > torino.num_qubits
    counts = torino.sample(isa, shots=500)
    assert sum(counts.values()) == 500


def test_gpu_backend_without_gpu_names_the_cpu_alternative():
    reason = gpu_unavailable_reason()
    if reason is None:
        pytest.skip("a usable GPU is present; the no-GPU error cannot be provoked here")
    with pytest.raises(GPUUnavailableError, match=r"aer_gpu.*Use backend 'aer'"):
        get_device("aer_gpu")


def test_unknown_backend_lists_known_ones():
    with pytest.raises(
        UnknownBackendError, match=r"unknown backend 'qsim'.*aer, aer_gpu, lightning.qubit.*fake_torino|fake_"
    ):
        get_device("qsim")
    with pytest.raises(UnknownBackendError, match="fake_torino"):
        get_device("fake_nowhere")


def test_malformed_qasm_reports_parser_message(aer):
    with pytest.raises(CircuitParseError, match="malformed OpenQASM 2"):
        aer.sample('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncx q[0] q[1];\n', shots=10)
    with pytest.raises(CircuitParseError, match="malformed OpenQASM 3"):
        aer.sample("OPENQASM 3.0;\nqubit[2] q;\nh q[0]\n", shots=10)


def test_sample_without_measurements(aer):
    with pytest.raises(NoMeasurementsError, match="'ghz3' has no measurements"):
        aer.sample(ghz(3, measure=False), shots=10)


def test_observable_width_mismatch(aer):
    with pytest.raises(ObservableError, match="acts on 2 qubits but circuit 'ghz3' has 3"):
        aer.estimate(ghz(3, measure=False), "ZZ")


def test_qpu_estimate_needs_shots(torino):
    with pytest.raises(ShotsRequiredError, match="fake_torino.*QPU.*shots"):
        torino.estimate(ghz(2, measure=False), "ZZ")


def midcircuit_circuit() -> QuantumCircuit:
    """Measure, keep computing on the measured qubit, measure again: branches that must not be mixed."""
    qc = QuantumCircuit(QuantumRegister(3), ClassicalRegister(1, "mid"), ClassicalRegister(2, "end"))
    qc.h(0)
    qc.ry(0.4, 2)
    qc.measure(0, 0)
    qc.cx(0, 1)
    qc.ry(0.7, 1)
    qc.h(0)
    qc.cx(2, 0)
    qc.measure(0, 1)
    qc.measure(1, 2)
    return qc


def test_aer_midcircuit_measurement_matches_exact_branching(aer):
    from tests.refs import exact_midcircuit_distribution

    circuit = midcircuit_circuit()
    counts = aer.sample(circuit, shots=20000)
    exact = exact_midcircuit_distribution(circuit)
    assert set(counts) <= set(exact)
    assert tvd(counts, exact) < 0.02  # 16 outcomes at 20,000 shots: the expected distance is ~0.01
    assert (
        aer.simulator.options.shot_branching_enable and aer.simulator.options.shot_branching_sampling_enable
    )


def test_terminal_measurements_move_last_and_the_distribution_is_unchanged(aer):
    from parsl_quantum.circuits.normalize import terminal_measurements_last
    from tests.refs import exact_midcircuit_distribution

    qc = QuantumCircuit(QuantumRegister(3), ClassicalRegister(1, "mid"), ClassicalRegister(3, "end"))
    qc.h(0)
    qc.measure(0, 0)  # mid-circuit: qubit 0 is used again
    qc.cx(0, 1)
    qc.h(1)
    qc.measure(1, 2)  # terminal, but followed by gates on other qubits
    qc.ry(0.9, 2)
    qc.h(0)
    qc.measure(2, 3)
    qc.measure(0, 1)
    moved = terminal_measurements_last(qc)
    names = [inst.operation.name for inst in moved.data]
    assert names == ["h", "measure", "cx", "h", "ry", "h", "measure", "measure", "measure"]
    last = [moved.find_bit(inst.qubits[0]).index for inst in moved.data[-3:]]
    assert last == [1, 2, 0]  # the terminal measurements, in their original order
    exact = exact_midcircuit_distribution(qc)
    assert exact == pytest.approx(exact_midcircuit_distribution(moved))
    assert tvd(aer.sample(qc, shots=20000), exact) < 0.03
    already = ghz(3)
    assert terminal_measurements_last(already) is already


# -- layout and caches ----------------------------------------------------------------------------


def test_resource_layers_import_downward_only_and_without_cycles():
    """Every import among the resource layers, lazy ones included: circuits never import devices or
    providers, devices never import providers, and no module reaches itself."""
    import ast
    from pathlib import Path

    import parsl_quantum

    root = Path(parsl_quantum.__file__).parent
    layers = {"errors": 0, "circuits": 1, "devices": 2, "providers": 3}
    paths = [
        root / "errors.py",
        *(p for layer in ("circuits", "devices", "providers") for p in (root / layer).glob("*.py")),
    ]
    graph = {}
    for path in paths:
        name = "errors" if path.name == "errors.py" else f"{path.parent.name}.{path.stem}"
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("parsl_quantum."):
                target = node.module.split(".", 1)[1]
                if target.split(".")[0] in layers:
                    deps.add(target)
        graph[name] = deps - {name}
    for module, deps in graph.items():
        for dep in deps:
            assert layers[dep.split(".")[0]] <= layers[module.split(".")[0]], f"{module} imports {dep}"

    def reaches(start, goal, seen):
        return any(
            d == goal or (d not in seen and reaches(d, goal, seen | {d})) for d in graph.get(start, ())
        )

    cyclic = sorted(m for m in graph if reaches(m, m, {m}))
    assert cyclic == []
    assert graph["devices.backend_names"] <= {"errors"}  # the leaf every adapter may import


def test_device_cache_keys_on_equality_not_repr():
    from qiskit_aer.noise import NoiseModel, depolarizing_error

    def noise(p):
        model = NoiseModel()
        model.add_all_qubit_quantum_error(depolarizing_error(p, 2), ["cx"])
        return model

    # the same repr ("<NoiseModel on ['cx']>") once made these one device
    assert repr(noise(0.01)) == repr(noise(0.2))
    weak, strong = get_device("aer", noise_model=noise(0.01)), get_device("aer", noise_model=noise(0.2))
    assert weak is not strong
    assert get_device("aer", noise_model=noise(0.01)) is weak
    bell = ghz(2)
    assert sum(v for k, v in strong.sample(bell, shots=2000).items() if k in ("01", "10")) > 100
    # options given in any order are equal
    assert get_device("aer", seed_simulator=4, precision="double") is get_device(
        "aer", precision="double", seed_simulator=4
    )


def test_unhashable_option_is_named():
    from parsl_quantum.devices import DeviceInputError
    from parsl_quantum.devices.registry import freeze_options

    class Opaque:  # unhashable, and == is identity: copies are never equal
        __hash__ = None

    with pytest.raises(DeviceInputError, match=r"option options\['blob'\]=Opaque.*build_device"):
        get_device("aer", blob=Opaque())
    assert freeze_options({"a": [1]}) != freeze_options({"a": (1,)})
    import numpy as np

    assert freeze_options({"x": np.arange(3)}) == freeze_options({"x": np.arange(3)})
    assert freeze_options({"x": np.arange(3)}) != freeze_options({"x": np.arange(3.0)})


def test_emulator_cache_is_safe_across_threads(torino):
    from concurrent.futures import ThreadPoolExecutor

    from parsl_quantum.devices.emulator import CompactNoiseEmulator

    emulator = CompactNoiseEmulator(torino.qiskit_backend, cache_size=3)
    keys = [(0,), (1,), (2,), (3,), (4,), (0, 1)] * 4
    with ThreadPoolExecutor(8) as pool:
        sims = list(pool.map(emulator.simulator_for, keys))
    assert len(emulator._simulators) == 3
    assert all(s is not None for s in sims)
    assert emulator.simulator_for((0, 1)) is emulator.simulator_for((0, 1))
