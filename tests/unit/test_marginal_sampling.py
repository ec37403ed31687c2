"""Counts drawn from the measured qubits' marginal must be keyed as Aer keys them and distributed as the
exact probabilities say; circuits it cannot serve go to Aer's own sampler."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import Clbit
from qiskit.circuit.library import efficient_su2
from qiskit.quantum_info import Statevector
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel, depolarizing_error

from parsl_quantum.devices.aer import AerDevice
from parsl_quantum.devices.marginal_sampling import MarginalForm, marginal_form

SHOTS = 20_000


def deterministic() -> QuantumCircuit:
    """Two registers, a qubit measured into two bits, a bit written twice, a bit never written."""
    q = QuantumRegister(4, "q")
    a, b = ClassicalRegister(2, "a"), ClassicalRegister(3, "b")
    qc = QuantumCircuit(q, a, b)
    qc.x([0, 2])
    qc.measure(0, a[1])
    qc.measure(2, b[0])
    qc.barrier()
    qc.measure(1, b[2])
    qc.measure(0, b[1])
    qc.measure(3, b[2])  # written again: the later measurement's outcome (0) is what the bit holds
    return qc


def su2_measuring(n: int, measured: list[int], seed: int) -> QuantumCircuit:
    qc = efficient_su2(n, entanglement="linear", reps=2)
    qc = qc.assign_parameters(np.random.default_rng(seed).uniform(-np.pi, np.pi, qc.num_parameters))
    out = QuantumCircuit(n, len(measured))
    out.compose(qc, inplace=True)
    out.measure(measured, range(len(measured)))
    return out


def exact_marginal(qc: QuantumCircuit, measured: list[int]) -> dict[str, float]:
    """Exact probabilities of the measured qubits' outcomes, keyed as counts are (bit 0 rightmost)."""
    state = Statevector(qc.remove_final_measurements(inplace=False))
    return state.probabilities_dict(qargs=measured)


def assert_within_5_sigma(counts: dict[str, int], exact: dict[str, float], shots: int) -> None:
    assert sum(counts.values()) == shots
    for outcome in set(counts) | set(exact):
        p = exact.get(outcome, 0.0)
        sigma = math.sqrt(max(p * (1 - p), 1.0 / shots) / shots)
        assert abs(counts.get(outcome, 0) / shots - p) <= 5 * sigma, (outcome, counts, exact)


def test_counts_are_keyed_exactly_as_aer_keys_them():
    qc = deterministic()
    assert isinstance(
        AerDevice(marginal_sampling=True)._ready([qc], 64)[0], MarginalForm
    )  # the path under test
    assert not AerDevice().samples_marginals  # off unless asked for
    assert AerDevice(marginal_sampling=True).sample(qc, shots=64) == dict(
        AerSimulator().run(qc, shots=64).result().get_counts()
    )
    assert AerDevice(marginal_sampling=True).sample(qc, shots=64) == {"011 10": 64}


@pytest.mark.parametrize(("n", "measured", "seed"), [(8, [0, 7], 1), (10, [3, 1, 8], 2), (6, [5], 3)])
def test_counts_follow_the_exact_marginal(n, measured, seed):
    qc = su2_measuring(n, measured, seed)
    device = AerDevice(marginal_sampling=True)
    assert isinstance(device._ready([qc], SHOTS)[0], MarginalForm)
    counts = device.sample(qc, shots=SHOTS)
    assert_within_5_sigma(counts, exact_marginal(qc, measured), SHOTS)


def test_the_check_can_tell_two_distributions_apart():
    qc, other = su2_measuring(8, [0, 7], 1), su2_measuring(8, [0, 7], 5)
    counts = AerDevice(marginal_sampling=True).sample(qc, shots=SHOTS)
    with pytest.raises(AssertionError):
        assert_within_5_sigma(counts, exact_marginal(other, [0, 7]), SHOTS)


def test_a_parametrised_fragment_bound_at_each_call_follows_the_new_angles():
    template = efficient_su2(7, entanglement="linear", reps=1)
    measured = QuantumCircuit(7, 2)
    measured.compose(template, inplace=True)
    measured.measure([0, 6], [0, 1])
    device = AerDevice(marginal_sampling=True)
    for seed in (1, 2):
        values = np.random.default_rng(seed).uniform(-np.pi, np.pi, template.num_parameters)
        assignment = {p.name: float(v) for p, v in zip(measured.parameters, values, strict=True)}
        counts = device.sample_assigned([measured], assignment, shots=SHOTS, key="fragment")[0]
        assert_within_5_sigma(counts, exact_marginal(measured.assign_parameters(assignment), [0, 6]), SHOTS)
    assert isinstance(device._prepared[("fragment", SHOTS)][0], MarginalForm)


def test_a_batch_mixing_both_paths_keeps_each_circuit_in_its_place():
    wide = su2_measuring(6, list(range(6)), 4)  # 64 outcomes for 16 shots: Aer samples it
    narrow = su2_measuring(6, [2], 4)
    device = AerDevice(seed_simulator=3, marginal_sampling=True)
    ready = device._ready([wide, narrow, wide], 16)
    assert [isinstance(r, MarginalForm) for r in ready] == [False, True, False]
    counts = device.sample([wide, narrow, wide], shots=16)
    assert [len(next(iter(c))) for c in counts] == [6, 1, 6]
    assert all(sum(c.values()) == 16 for c in counts)


def test_a_seeded_device_draws_the_same_counts_again():
    qc = su2_measuring(8, [0, 7], 1)
    assert AerDevice(seed_simulator=9, marginal_sampling=True).sample(qc, shots=1000) == AerDevice(
        seed_simulator=9, marginal_sampling=True
    ).sample(qc, shots=1000)


def test_circuits_whose_counts_a_marginal_cannot_give_are_left_to_aer():
    mid = QuantumCircuit(2, 2)
    mid.h(0)
    mid.measure(0, 0)
    mid.cx(0, 1)  # acts on the measured qubit afterwards
    mid.measure(1, 1)
    reset = QuantumCircuit(2, 1)
    reset.h(0)
    reset.reset(1)
    reset.measure(0, 0)
    conditional = QuantumCircuit(2, 2)
    conditional.h(0)
    conditional.measure(0, 0)
    with conditional.if_test((conditional.clbits[0], 1)):
        conditional.x(1)
    conditional.measure(1, 1)
    loose = QuantumCircuit(QuantumRegister(1), [Clbit()])
    loose.h(0)
    loose.measure(0, 0)
    unmeasured = QuantumCircuit(1, 1)
    unmeasured.h(0)
    for qc in (mid, reset, conditional, loose, unmeasured):
        assert marginal_form(qc, 1000) is None, qc
    assert marginal_form(su2_measuring(6, list(range(6)), 1), 63) is None  # more outcomes than shots
    assert marginal_form(su2_measuring(6, list(range(6)), 1), 64) is not None


def test_a_noisy_device_samples_shot_by_shot_as_its_noise_requires():
    noise = NoiseModel()
    noise.add_all_qubit_quantum_error(depolarizing_error(0.1, 1), ["h"])
    device = AerDevice(noise_model=noise, marginal_sampling=True)
    qc = QuantumCircuit(1, 1)
    qc.h(0)
    qc.measure(0, 0)
    assert not device.samples_marginals
    assert not any(isinstance(r, MarginalForm) for r in device._ready([qc], 1000))
