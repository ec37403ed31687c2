"""Expectation values of circuits with mid-circuit measurements and classical control, on every backend.

The exact values are worked out by hand in each circuit's docstring. Before the fix every device returned
0.00 for <Z0 Z1> of :func:`copy_circuit` (exact +1): the measurement feeding the ``if_test`` was stripped as
if it were final.
"""

from __future__ import annotations

import math

import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit.classical import expr

from parsl_quantum.circuits.deferred_measurement import defer_measurements, defer_to_end
from parsl_quantum.circuits.normalize import (
    count_measurements,
    drop_unobserved_gates,
    dynamic_operations,
    final_measurements,
    strip_measurements,
    terminal_measurements_last,
)
from parsl_quantum.devices import TooManyQubitsError, get_device
from parsl_quantum.errors import UnsupportedOperationError
from tests.refs import ghz, pauli_sigma

SHOTS = 20_000
THETA = 1.0
EXACT_BACKENDS = ("aer", "lightning.qubit", "lightning.kokkos")  # exact values where shots=None


def copy_circuit() -> QuantumCircuit:
    """H on q0, measure it, X on q1 if the outcome is 1: q1 copies q0, so <Z0 Z1> = +1, <Z0> = <Z1> = 0."""
    qc = QuantumCircuit(2, 1, name="copy")
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    return qc


def rotated_copy() -> QuantumCircuit:
    """RY(t) on q0 (P(1) = sin^2(t/2)), copied into q1, then H on q1 and final measurements of both.

    <Z0> = cos t; q1 is H|b>, so <X1> = P(0) - P(1) = cos t and <Z1> = 0.
    """
    qc = QuantumCircuit(2, 2, name="rotated_copy")
    qc.ry(THETA, 0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    qc.h(1)
    qc.measure([0, 1], [0, 1])
    return qc


def conditional_reset() -> QuantumCircuit:
    """RY(t), measure, X if the outcome is 1: the qubit always ends in |0>, so <Z> = +1."""
    qc = QuantumCircuit(1, 1, name="conditional_reset")
    qc.ry(THETA, 0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(0)
    return qc


def register_if_else() -> QuantumCircuit:
    """H on q0 and q1, both measured into a 2-bit register; if it reads 3 (P = 1/4) X on q2, else H on q2.

    <Z2> = 1/4 (-1) + 3/4 (0) = -1/4; <X2> = 1/4 (0) + 3/4 (+1) = 3/4.
    """
    qc = QuantumCircuit(QuantumRegister(3, "q"), ClassicalRegister(2, "m"), name="register_if_else")
    qc.h([0, 1])
    qc.measure([0, 1], [0, 1])
    with qc.if_test((qc.cregs[0], 3)) as orelse:
        qc.x(2)
    with orelse:
        qc.h(2)
    return qc


def measure_and_reuse() -> QuantumCircuit:
    """H, measure, H: the measurement collapses |+> to |0> or |1>, so <Z> = <X> = 0 (without it, <Z> = 1)."""
    qc = QuantumCircuit(1, 1, name="measure_and_reuse")
    qc.h(0)
    qc.measure(0, 0)
    qc.h(0)
    return qc


# (circuit, observable, exact value worked out by hand)
CASES = [
    (copy_circuit, "ZZ", 1.0),
    (copy_circuit, "IZ", 0.0),
    (rotated_copy, "XI", math.cos(THETA)),
    (rotated_copy, "IZ", math.cos(THETA)),
    (rotated_copy, "ZI", 0.0),
    (conditional_reset, "Z", 1.0),
    (register_if_else, "ZII", -0.25),
    (register_if_else, "XII", 0.75),
    (measure_and_reuse, "Z", 0.0),
    (measure_and_reuse, "X", 0.0),
]
CASE_IDS = [f"{make.__name__}-{obs}" for make, obs, _ in CASES]


@pytest.fixture(scope="module", params=EXACT_BACKENDS)
def simulator(request):
    return get_device(request.param, **({"seed_simulator": 3} if request.param == "aer" else {"seed": 3}))


@pytest.fixture(scope="module")
def emulator():
    return get_device("fake_torino", seed_simulator=5, seed_transpiler=5)


# -- which measurements are final -----------------------------------------------------------------
def test_measurement_feeding_a_condition_is_not_final():
    qc = copy_circuit()
    assert final_measurements(qc) == [False, False, False]
    assert count_measurements(strip_measurements(qc)) == 1
    assert dynamic_operations(strip_measurements(qc)) == {"measure", "if_else"}


def test_only_the_final_measurements_are_stripped():
    qc = rotated_copy()
    assert final_measurements(qc) == [False, False, False, False, True, True]
    stripped = strip_measurements(qc)
    assert count_measurements(stripped) == 1  # the one the condition reads
    assert stripped.num_clbits == 2


def test_final_measurements_only_are_all_stripped():
    qc = ghz(3)
    stripped = strip_measurements(qc)
    assert count_measurements(stripped) == 0
    assert stripped.num_clbits == 0  # no classical bits left, as Qiskit's remove_final_measurements does
    assert dynamic_operations(stripped) == set()


def test_overwritten_bit_is_final_when_nothing_reads_it():
    qc = QuantumCircuit(2, 1)
    qc.h(0)
    qc.measure(0, 0)
    qc.measure(1, 0)
    assert final_measurements(qc) == [False, True, True]


def test_store_reads_a_bit():
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    flag = qc.add_var("flag", False)
    qc.store(flag, qc.clbits[0])
    assert final_measurements(qc)[0] is False


# -- values against the hand-worked ones ------------------------------------------------------------
@pytest.mark.parametrize(("make", "observable", "exact"), CASES, ids=CASE_IDS)
def test_exact_estimate(simulator, make, observable, exact):
    assert simulator.estimate(make(), observable) == pytest.approx(exact, abs=1e-9)


@pytest.mark.parametrize(("make", "observable", "exact"), CASES, ids=CASE_IDS)
def test_aer_shot_estimate(make, observable, exact):
    aer = get_device("aer", seed_simulator=3)
    value = aer.estimate(make(), observable, shots=SHOTS)
    assert abs(value - exact) <= max(5 * pauli_sigma(exact, SHOTS), 1e-9)


@pytest.mark.parametrize(
    ("make", "observable", "exact"),
    [CASES[0], CASES[2], CASES[5], CASES[7]],
    ids=[CASE_IDS[0], CASE_IDS[2], CASE_IDS[5], CASE_IDS[7]],
)
def test_noisy_emulator_estimate_near_exact(emulator, make, observable, exact):
    """Device noise shifts the value by a few percent; the old bug gave 0 for the +1 cases."""
    value = emulator.estimate(make(), observable, shots=SHOTS)
    assert abs(value - exact) < 0.1


def test_batch_mixes_dynamic_and_unitary_circuits(simulator):
    values = simulator.estimate([copy_circuit(), ghz(2)], "ZZ")
    assert values == pytest.approx([1.0, 1.0], abs=1e-9)


def test_estimate_with_errors_keeps_the_condition(simulator):
    values, errors = simulator.estimate_with_errors(copy_circuit(), ["ZZ", "IZ"], shots=None)
    assert values == pytest.approx([1.0, 0.0], abs=1e-9)
    assert list(errors) == [0.0, 0.0]


def test_sample_keeps_mid_circuit_outcomes():
    qc = copy_circuit()
    qc.add_register(ClassicalRegister(2, "end"))
    qc.measure([0, 1], qc.cregs[-1])
    counts = get_device("aer", seed_simulator=3).sample(qc, shots=4000)
    assert set(counts) == {"00 0", "11 1"}
    assert abs(counts["11 1"] / 4000 - 0.5) < 5 * math.sqrt(0.25 / 4000)


def measure_twice_reset_and_overwrite() -> tuple[QuantumCircuit, dict[str, float]]:
    """Three mid-circuit operations and their exact outcome distribution.

    q0: RY(a), measured into c0, RY(b), measured into c1: c0 = 1 with p = sin^2(a/2), and c1 differs
    from c0 with q = sin^2(b/2). q1: X, reset, measured into c2: always 0. q2: X, measured into c3, X,
    measured into c3 again: the last write (0) wins.
    """
    a, b = 1.1, 0.7
    qc = QuantumCircuit(3, 4, name="three_mid")
    qc.ry(a, 0)
    qc.measure(0, 0)
    qc.ry(b, 0)
    qc.x(1)
    qc.reset(1)
    qc.x(2)
    qc.measure(2, 3)
    qc.x(2)
    qc.measure(0, 1)
    qc.measure(1, 2)
    qc.measure(2, 3)
    p, q = math.sin(a / 2) ** 2, math.sin(b / 2) ** 2
    exact = {}
    for c0 in (0, 1):
        for c1 in (0, 1):
            exact[f"00{c1}{c0}"] = (p if c0 else 1 - p) * (q if c1 != c0 else 1 - q)
    return qc, exact


def test_sampling_defers_mid_circuit_measurements_with_the_same_outcomes():
    qc, exact = measure_twice_reset_and_overwrite()
    aer = get_device("aer", seed_simulator=5)
    assert aer.deferred_ancillas(qc, SHOTS) == 3  # two measurements acted on later, one reset
    deferred = defer_to_end(qc)
    assert deferred.num_qubits == 6 and dynamic_operations(deferred) == {"measure"}
    assert [i.operation.name for i in deferred.data[-4:]] == ["measure"] * 4  # measured at the end only
    counts = aer.sample(qc, shots=SHOTS)
    assert set(counts) <= set(exact)
    for outcome, probability in exact.items():
        sigma = math.sqrt(probability * (1 - probability) / SHOTS)
        assert abs(counts.get(outcome, 0) / SHOTS - probability) < 5 * sigma, outcome
    # not deferred: more outcomes than shots, a noise model (it would act on other instructions), or
    # classical control (a condition reads the bit)
    assert aer.deferred_ancillas(qc, 4) == 0
    from qiskit_aer.noise import NoiseModel, depolarizing_error

    noise = NoiseModel()
    noise.add_all_qubit_quantum_error(depolarizing_error(0.01, 1), ["x"])
    assert get_device("aer", noise_model=noise).deferred_ancillas(qc, SHOTS) == 0
    assert aer.deferred_ancillas(rotated_copy(), SHOTS) == 0
    with pytest.raises(UnsupportedOperationError, match="'rotated_copy'.*'if_else'"):
        defer_to_end(rotated_copy())


def test_gates_no_measurement_observes_are_dropped_and_the_measurement_is_then_terminal():
    qc = QuantumCircuit(3, 2, name="dead_ends")
    qc.ry(0.4, 0)
    qc.cx(0, 1)
    qc.measure(1, 1)
    qc.rz(0.3, 1)  # after q1's last measurement, and q1 reaches no other
    qc.h(2)  # q2 is never measured
    qc.measure(0, 0)
    pruned = drop_unobserved_gates(qc)
    assert [i.operation.name for i in pruned.data] == ["ry", "cx", "measure", "measure"]
    assert get_device("aer").deferred_ancillas(qc, SHOTS) == 0  # nothing left to defer
    measured = ghz(3)
    assert drop_unobserved_gates(measured) is measured  # every gate observed: returned as is
    counts = get_device("aer", seed_simulator=2).sample(qc, shots=SHOTS)
    both_one = math.sin(0.2) ** 2  # q0 and q1 agree after the CX: "11" with sin^2(0.4 / 2)
    assert set(counts) == {"00", "11"}
    assert abs(counts["11"] / SHOTS - both_one) < 5 * math.sqrt(both_one * (1 - both_one) / SHOTS)


def test_a_noiseless_aer_device_runs_only_the_gates_its_measurements_observe():
    from qiskit_aer.noise import NoiseModel, depolarizing_error

    qc = QuantumCircuit(4, 1, name="one_of_four")
    qc.ry(0.7, range(4))
    qc.cx(0, 1)
    qc.cx(2, 3)  # neither q2 nor q3 reaches the measured q1
    qc.rz(0.2, 3)
    qc.measure(1, 0)
    aer = get_device("aer", seed_simulator=4)
    (ready,) = aer._ready([qc], SHOTS)
    assert [i.operation.name for i in ready.data] == ["ry", "ry", "cx", "measure"]
    noise = NoiseModel()
    noise.add_all_qubit_quantum_error(depolarizing_error(0.01, 1), ["ry"])
    (kept,) = get_device("aer", noise_model=noise)._ready([qc], SHOTS)
    assert len(kept.data) == len(qc.data)  # noise may act where nothing is observed: all kept
    counts = aer.sample(qc, shots=SHOTS)
    one = (math.sin(0.35) ** 2 * math.cos(0.35) ** 2) * 2  # q1 ends |1> when exactly one of q0, q1 is
    assert abs(counts.get("1", 0) / SHOTS - one) < 5 * math.sqrt(one * (1 - one) / SHOTS)


def test_rebuilt_circuits_do_not_share_parametrised_operations_with_the_original():
    from qiskit.circuit import Parameter

    theta = Parameter("theta")
    dead_end = QuantumCircuit(2, 2)
    dead_end.ry(theta, 0)
    dead_end.cx(0, 1)
    dead_end.measure(0, 0)
    dead_end.rz(theta, 0)  # after q0's measurement: dropped
    dead_end.measure(1, 1)
    early = QuantumCircuit(2, 2)
    early.ry(theta, 0)
    early.measure(0, 0)  # terminal, but not last
    early.ry(theta, 1)
    early.measure(1, 1)
    rebuilt = [drop_unobserved_gates(dead_end), defer_to_end(dead_end), terminal_measurements_last(early)]
    for out, original in zip(rebuilt, [dead_end, dead_end, early], strict=True):
        assert out is not original and out.parameters == original.parameters
        assert out.data[0].operation is not original.data[0].operation  # as QuantumCircuit.append copies
        assert not out.assign_parameters({theta: 0.5}).parameters and original.parameters == {theta}
    assert [i.operation.name for i in rebuilt[2].data] == ["ry", "ry", "measure", "measure"]


# -- what cannot be done exactly says so ------------------------------------------------------------
@pytest.mark.parametrize("backend", ["lightning.qubit", "lightning.kokkos"])
@pytest.mark.parametrize(("make", "observable", "exact"), CASES, ids=CASE_IDS)
def test_lightning_shot_estimate(backend, make, observable, exact):
    device = get_device(backend, seed=3)
    value = device.estimate(make(), observable, shots=SHOTS)
    assert abs(value - exact) <= max(5 * pauli_sigma(exact, SHOTS), 1e-9)


def test_expression_condition_is_named():
    qc = QuantumCircuit(2, 2, name="expr_condition")
    qc.h([0, 1])
    qc.measure([0, 1], [0, 1])
    with qc.if_test(expr.logic_and(qc.clbits[0], qc.clbits[1])):
        qc.x(0)
    with pytest.raises(UnsupportedOperationError, match="'expr_condition'.*expression.*shots="):
        get_device("aer").estimate(qc, "IZ")
    with pytest.raises(UnsupportedOperationError, match="'expr_condition'.*expression"):
        get_device("lightning.qubit").estimate(qc, "IZ")
    # by sampling, Aer runs it: q0 ends in 1 only for outcome (q0, q1) = (1, 0), so <Z0> = 3/4 - 1/4 = 1/2
    value = get_device("aer", seed_simulator=3).estimate(qc, "IZ", shots=SHOTS)
    assert abs(value - 0.5) < 5 * pauli_sigma(0.5, SHOTS)


def test_deferral_too_wide_is_named():
    aer = get_device("aer")
    n = aer.num_qubits
    qc = QuantumCircuit(n, n, name="wide_dynamic")
    qc.measure(range(n), range(n))
    qc.x(range(n))
    with pytest.raises(TooManyQubitsError, match=f"'wide_dynamic'.*{n} extra qubits.*shots="):
        aer.estimate(qc, "Z" * n)


def test_deferred_circuit_is_unitary():
    deferred = defer_measurements(strip_measurements(register_if_else()))
    assert deferred.num_qubits == 3 + 3  # two measurements and one flag for the multi-bit else
    assert deferred.num_clbits == 0
    assert dynamic_operations(deferred) == set()
