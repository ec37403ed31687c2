"""Distributions of cut circuits as pure math: exact subexperiment probabilities reconstruct the exact
distribution (gate cuts, wire cuts, two and three fragments), and what a ``Distribution`` offers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp, Statevector

from parsl_quantum.q_dreamer.distribution import Distribution, simplex_projection
from parsl_quantum.q_dreamer.planning import reconstruct_distribution as rd
from parsl_quantum.q_dreamer.planning.decompose import decompose
from parsl_quantum.q_dreamer.precision import allocate_shots
from tests.refs import exact_midcircuit_distribution, ghz, hardware_efficient, qaoa_ring, star_with_a_wire_cut


def cut_exactly(circuit: QuantumCircuit, width: int):
    """The circuit cut into ``width``-qubit pieces, and the distribution reconstructed from the exact
    outcome probabilities of every subexperiment."""
    measured = rd.measured_bits(circuit)
    problem = decompose(circuit, measured.observables(circuit.num_qubits), width)
    layout = rd.bit_layout(problem, measured)
    exact = {
        label: [exact_midcircuit_distribution(qc) for qc in runs]
        for label, runs in problem.subexperiments.items()
    }
    return problem, rd.reconstruct_distribution(exact, problem.coefficients, layout, batches=0)


def exact_distribution(circuit: QuantumCircuit) -> dict[str, float]:
    """The circuit's exact distribution over its classical bits (its qubits when it measures none)."""
    if not circuit.num_clbits:
        probabilities = Statevector(circuit).probabilities_dict()
        return {k: float(v) for k, v in probabilities.items() if v > 1e-15}
    return {k.replace(" ", ""): v for k, v in exact_midcircuit_distribution(circuit).items() if v > 1e-15}


def worst_difference(distribution: Distribution, exact: dict[str, float]) -> float:
    keys = set(distribution) | set(exact)
    return max(abs(distribution[k] - exact.get(k, 0.0)) for k in keys)


@pytest.mark.parametrize(
    ("name", "circuit", "width", "kind", "pieces"),
    [
        ("ghz6 in three", ghz(6, measure=False), 2, "Gate Cut", 3),
        ("qaoa ring 6 in two", qaoa_ring(6), 3, "Gate Cut", 2),
        ("hea 6 in two", hardware_efficient(6, 2, seed=4), 3, "Gate Cut", 2),
        ("star with a wire cut", star_with_a_wire_cut(), 4, "Wire Cut", 2),
    ],
)
def test_exact_subexperiments_give_the_exact_distribution(name, circuit, width, kind, pieces):
    problem, distribution = cut_exactly(circuit, width)
    assert {k for k, _ in problem.cuts} == {kind}
    assert len(problem.subexperiments) == pieces
    exact = exact_distribution(circuit)
    assert worst_difference(distribution, exact) < 1e-9, name
    assert distribution.total == pytest.approx(1.0, abs=1e-9)
    assert distribution.max_stderr == 0.0 and distribution.batches == 0


def test_measured_bits_follow_the_circuits_classical_bits():
    """A circuit measuring three of its qubits into permuted bits: the distribution is over those bits."""
    qc = QuantumCircuit(6, 3, name="ghz_measured")
    qc.h(0)
    for q in range(5):
        qc.cx(q, q + 1)
    qc.ry(0.8, 4)
    qc.measure([0, 4, 2], [2, 0, 1])
    measured = rd.measured_bits(qc)
    assert measured == rd.MeasuredBits(3, {0: 2, 2: 1, 4: 0})
    _, distribution = cut_exactly(qc, 3)
    exact = exact_distribution(qc)
    assert set(exact) == {"000", "001", "110", "111"}  # bits 2 and 1 agree (qubits 0 and 2), bit 0 varies
    assert worst_difference(distribution, exact) < 1e-9


def test_mid_circuit_measurements_are_refused():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    qc.cx(0, 1)
    qc.measure(1, 1)
    with pytest.raises(ValueError, match="mid-circuit"):
        rd.measured_bits(qc)


def test_dense_and_sparse_combinations_agree(monkeypatch):
    """The two ways of multiplying the subsystems' tallies give the same bit strings and values, on
    sampled counts with batches (three fragments)."""
    from parsl_quantum.devices import get_device

    circuit = hardware_efficient(6, 1, seed=2)
    measured = rd.measured_bits(circuit)
    problem = decompose(circuit, measured.observables(6), 2)
    layout = rd.bit_layout(problem, measured)
    assert len(problem.subexperiments) == 3
    device = get_device("aer", seed_simulator=5)
    counts = {label: device.sample(list(runs), shots=400) for label, runs in problem.subexperiments.items()}
    dense = rd.reconstruct_distribution(counts, problem.coefficients, layout, seed=3)
    monkeypatch.setattr(rd, "DENSE_LIMIT", 0)
    sparse = rd.reconstruct_distribution(counts, problem.coefficients, layout, seed=3)
    assert np.array_equal(dense.outcomes, sparse.outcomes)
    assert np.allclose(dense.estimates, sparse.estimates, atol=1e-12)
    assert np.allclose(dense.batch_estimates, sparse.batch_estimates, atol=1e-12)
    assert dense.batches == 8 and dense.max_stderr > 0
    assert dense.shots == 400 * problem.num_subexperiments


def test_signed_tallies_count_qpd_parity_and_split_the_shots():
    counts = {"0 01": 30, "1 01": 10, "0 10": 5, "1 11": 15}  # "qpd observable", two observable bits
    tallies = rd.process_outcomes(counts, positions=(3, -1), batches=4, rng=np.random.default_rng(0))
    # observable bit 0 goes to bit 3, bit 1 is dropped: 01 -> 0b1000, 10 -> 0, 11 -> 0b1000
    assert tallies.full == {0b1000: 30 - 10 - 15, 0: 5}
    assert tallies.shots == 60
    assert sum(tallies.batch_shots) == 60 and len(tallies.batches) == 4
    summed: dict[int, float] = {}
    for part in tallies.batches:
        for key, n in part.items():
            summed[key] = summed.get(key, 0) + n
    assert summed == tallies.full


def test_the_standard_error_bound_is_kappa_over_root_shots():
    problem = decompose(ghz(4, measure=False), ["IIIZ", "IIZI", "IZII", "ZIII"], 2)
    shots = allocate_shots(problem.coefficients, 10_000, minimum=1)
    bound = rd.distribution_stderr(problem.coefficients, shots)
    assert bound == pytest.approx(problem.kappa / np.sqrt(10_000), rel=0.02)


# -- Distribution ----------------------------------------------------------------------------------------


def small() -> Distribution:
    """Three bits, one negative quasi-probability, two batches."""
    outcomes = [0b000, 0b011, 0b101, 0b111]
    estimates = [0.55, 0.3, -0.05, 0.2]
    batches = np.array([[0.5, 0.35, -0.1, 0.25], [0.6, 0.25, 0.0, 0.15]])
    return Distribution(3, outcomes, estimates, batches, shots=1000)


def test_a_distribution_is_a_mapping_of_bit_strings():
    d = small()
    assert list(d) == ["000", "011", "101", "111"]
    assert d["011"] == 0.3 and d["110"] == 0.0 and d[0b101] == -0.05
    assert "011" in d and "110" not in d and "01" not in d
    assert d.total == pytest.approx(1.0) and d.negativity == pytest.approx(0.05)
    assert d.stderr["000"] == pytest.approx(np.std([0.5, 0.6], ddof=1) / np.sqrt(2))
    assert d.max_stderr == pytest.approx(0.05)
    assert "3 bits, 4 bit strings seen, shots=1000" in repr(d) and "'000': 0.55" in repr(d)


def test_most_likely_orders_by_quasi_probability():
    assert small().most_likely(2) == [("000", 0.55), ("011", 0.3)]
    assert [k for k, _ in small().most_likely(10)] == ["000", "011", "111", "101"]


def test_nearest_probability_is_the_closest_point_of_the_simplex():
    nearest = small().nearest_probability()
    assert set(nearest) == {"000", "011", "111"}
    assert sum(nearest.values()) == pytest.approx(1.0)
    # the negative mass taken evenly from the others: 0.05 / 3 each
    assert nearest["000"] == pytest.approx(0.55 - 0.05 / 3)
    # against every point of a grid on the simplex: none is closer
    values = np.array([0.55, 0.3, -0.05, 0.2])
    projected = simplex_projection(values)
    best = np.linalg.norm(projected - values)
    grid = np.linspace(0, 1, 41)
    for a, b, c in itertools.product(grid, grid, grid):
        if a + b + c <= 1:
            assert np.linalg.norm(np.array([a, b, c, 1 - a - b - c]) - values) >= best - 1e-12


def smolin_gambetta_smith(values: np.ndarray) -> np.ndarray:
    """Their algorithm as the paper states it, for quasi-probabilities summing to 1: from the smallest
    up, an entry that the negative mass so far, spread over the entries left, would make negative is set
    to 0 and its value joins that mass; then the mass is spread evenly over the entries left."""
    order = np.argsort(values)[::-1]
    mu = values[order]
    out = np.zeros_like(mu)
    accumulated, i = 0.0, len(mu)
    while i > 0 and mu[i - 1] + accumulated / i < 0:
        accumulated += mu[i - 1]
        i -= 1
    out[:i] = mu[:i] + accumulated / i
    result = np.zeros_like(values)
    result[order] = out
    return result


def test_the_projection_is_smolin_gambetta_smiths_estimate():
    rng = np.random.default_rng(0)
    for _ in range(200):
        values = rng.normal(0.1, 0.2, size=rng.integers(2, 12))
        values[-1] += 1.0 - values.sum()
        assert np.allclose(simplex_projection(values), smolin_gambetta_smith(values), atol=1e-12)


def test_projection_of_quasi_probabilities_not_summing_to_one():
    projected = simplex_projection(np.array([0.7, 0.5, -0.1]))
    assert projected.sum() == pytest.approx(1.0) and np.all(projected >= 0)
    assert projected == pytest.approx([0.6, 0.4, 0.0])


def test_marginals_sum_over_the_other_bits():
    d = small()
    m = d.marginal([0, 2])  # bit 0 of the marginal is bit 0, bit 1 is bit 2
    assert dict(m.quasi_probabilities) == pytest.approx({"00": 0.55, "01": 0.3, "11": 0.15})
    assert m.batches == 2 and m.shots == 1000
    assert m.stderr["11"] == pytest.approx(np.std([0.15, 0.15], ddof=1) / np.sqrt(2))
    with pytest.raises(ValueError):
        d.marginal([0, 0])


def test_expectations_of_diagonal_observables():
    d = small()
    outcomes = [0b000, 0b011, 0b101, 0b111]

    def by_hand(values, mask):
        return sum(v * (-1) ** bin(x & mask).count("1") for x, v in zip(outcomes, values, strict=True))

    assert d.expectation("IIZ") == pytest.approx(0.55 - 0.3 + 0.05 - 0.2)
    op = SparsePauliOp(["IZZ", "III"], [0.5, 2.0])
    assert d.expectation(op) == pytest.approx(0.5 * by_hand(d.estimates, 0b011) + 2.0)
    per_batch = [0.5 * by_hand(row, 0b011) + 2.0 for row in d.batch_estimates]
    assert per_batch[0] != per_batch[1]
    assert d.expectation_stderr(op) == pytest.approx(np.std(per_batch, ddof=1) / np.sqrt(2))
    with pytest.raises(ValueError, match="not diagonal"):
        d.expectation("IXZ")


def test_expectation_from_an_exact_cut_distribution_is_the_exact_value():
    circuit = qaoa_ring(6)
    _, distribution = cut_exactly(circuit, 3)
    cost = SparsePauliOp.from_sparse_list([("ZZ", [i, (i + 1) % 6], 1.0) for i in range(6)], 6)
    exact = float(np.real(Statevector(circuit).expectation_value(cost)))
    assert distribution.expectation(cost) == pytest.approx(exact, abs=1e-9)


# -- planning for a distribution ---------------------------------------------------------------------


def test_a_distributions_target_is_the_largest_error_of_a_bit_string():
    from parsl_quantum.q_dreamer.precision import cut_shots, target_of, whole_stderr

    observables = [SparsePauliOp(label) for label in rd.MeasuredBits(3, {0: 0, 1: 1, 2: 2}).observables(3)]
    by_shots = target_of(observables, None, 2500, "distribution")
    assert by_shots.stderr == pytest.approx(0.01) and by_shots.whole_shots == 2500
    by_precision = target_of(observables, 0.01, None, "distribution")
    assert by_precision.whole_shots == 2500 and by_precision.output == "distribution"
    assert whole_stderr(observables, 2500, "distribution") == pytest.approx(0.01)
    # cut: kappa / sqrt(N), four kappa^2 times the shots of a whole run
    assert cut_shots(3.0, observables, 0.01) == 90_000 == 4 * 9 * by_precision.whole_shots
    with pytest.raises(ValueError, match="output"):
        target_of(observables, 0.01, None, "histogram")


def test_the_reconstruction_is_costed_for_the_bit_strings_it_holds():
    from parsl_quantum.q_dreamer.model.models import ReconstructionModel
    from parsl_quantum.q_dreamer.planning.predict import distribution_work
    from parsl_quantum.q_dreamer.planning.reconstruct import OutcomeGroup

    # two subsystems of 3 and 2 measured bits, two QPD terms
    groups = {"A": [OutcomeGroup(3, (7,))] * 2, "B": [OutcomeGroup(2, (3,))] * 2}
    work = [("A", 0, None, 100), ("A", 1, None, 100), ("B", 0, None, 100), ("B", 1, None, 100)]
    outcomes = [20.0, 5.0, 3.0, 16.0]  # A's first is capped at 2**3 = 8, B's second at 2**2 = 4
    tallies, products, bit_strings = distribution_work(work, outcomes, groups, 2)
    assert tallies == 8 + 5 + 3 + 4
    assert products == 8 * 3 + 5 * 4
    assert bit_strings == 2**5  # at most every 5-bit string
    model = ReconstructionModel(
        fixed=1.0, per_circuit=0.0, per_class=0.0, per_product=0.5, per_bit_string=0.25
    )
    assert model.distribution_seconds(4, tallies, products, bit_strings, 8) == 1.0 + (22 + 8) * 9


def instructions(qc: QuantumCircuit) -> list[tuple]:
    """A circuit's instructions by name, parameters, qubit and bit positions (register names aside)."""
    return [
        (
            inst.operation.name,
            tuple(float(p) for p in inst.operation.params if isinstance(p, (int, float))),
            tuple(qc.find_bit(q).index for q in inst.qubits),
            tuple(qc.find_bit(c).index for c in inst.clbits),
        )
        for inst in qc.data
    ]


@pytest.mark.parametrize(
    ("circuit", "width", "extra"),
    [
        (ghz(8, measure=False), 4, ["ZIIIZIII", "IIIZZIII", "ZZZZZZZZ"]),
        (ghz(6, measure=False), 2, ["IIIIZZ", "IIZZII", "ZIIIIZ", "ZZZZZZ"]),  # three pieces
        (hardware_efficient(6, 2, seed=4), 3, ["IIZZII", "ZIIIIZ", "ZZZIII"]),
        (star_with_a_wire_cut(), 4, ["IIIZIIZ", "ZIIIIIZ", "ZZZZZZZ"]),
    ],
)
def test_expectations_from_the_distribution_are_the_addons_on_the_same_counts(circuit, width, extra):
    """The addon's ``reconstruct_expectation_values`` on the very counts the distribution came from, its
    subobservables holding diagonal terms across the cut: the same values, to round-off. (Summed over the
    bit strings, the distribution's products of tallies are the products of the subsystems' signed
    parities the addon multiplies.)"""
    from parsl_quantum.devices import get_device
    from parsl_quantum.q_dreamer.planning.reconstruct import pauli_values, quasi_distribution

    measured = rd.measured_bits(circuit)
    bits = measured.observables(circuit.num_qubits)
    problem = decompose(circuit, bits, width)
    with_extra = decompose(circuit, bits + extra, width)  # the same cut, subexperiments and measurements
    assert with_extra.cuts == problem.cuts and with_extra.coefficients == problem.coefficients
    for label, runs in problem.subexperiments.items():
        assert [instructions(qc) for qc in with_extra.subexperiments[label]] == [
            instructions(qc) for qc in runs
        ]
    device = get_device("aer")
    counts = {label: device.sample(list(runs), shots=1000) for label, runs in problem.subexperiments.items()}
    distribution = rd.reconstruct_distribution(
        counts, problem.coefficients, rd.bit_layout(problem, measured), seed=0
    )
    quasi = {label: [quasi_distribution(c) for c in runs] for label, runs in counts.items()}
    addon = pauli_values(quasi, with_extra.coefficients, with_extra.subobservables)
    labels = with_extra.paulis.to_labels()
    assert set(extra) <= set(labels)
    for label, value in zip(labels, addon, strict=True):
        assert distribution.expectation(label) == pytest.approx(value, abs=1e-10), label


def test_more_than_63_bits_are_refused_before_anything_runs():
    with pytest.raises(ValueError, match="63 bits"):
        rd.measured_bits(QuantumCircuit(64))
    with pytest.raises(ValueError, match="63 bits"):
        Distribution(64, [0], [1.0])
