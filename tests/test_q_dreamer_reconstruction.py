"""Outcomes processed per fragment on the workers give the values of the addon's reconstruction."""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.quantum_info import SparsePauliOp

from parsl_quantum.circuits import QpyCircuits
from parsl_quantum.devices import get_device
from parsl_quantum.q_dreamer.planning.decompose import decompose
from parsl_quantum.q_dreamer.planning.reconstruct import (
    combine,
    outcome_groups,
    pauli_values,
    process_counts,
    process_fragment,
    quasi_distribution,
    reconstruct,
)
from parsl_quantum.q_dreamer.planning.rewrite import fragments, reconstruct_fragments, sample_circuits
from tests.refs import su2


@pytest.fixture(scope="module")
def sampled():
    """A 10-qubit circuit cut into two 5-qubit pieces, several observables (terms in X, Y and Z, some
    across the cut), and counts of every subexperiment sampled on Aer."""
    n = 10
    observables = [
        "Z" * n,
        SparsePauliOp.from_sparse_list([("ZZ", [4, 5], 0.7), ("XX", [3, 6], -0.4), ("Y", [0], 0.2)], n),
        SparsePauliOp.from_sparse_list([("X", [q], 1.0 / n) for q in range(n)], n),
    ]
    problem = decompose(su2(n, 3), observables, 5)
    device = get_device("aer")
    counts = {
        label: device.sample(list(circuits), shots=3000) for label, circuits in problem.subexperiments.items()
    }
    return problem, counts


def addon_values(problem, counts) -> np.ndarray:
    """The addon's ``reconstruct_expectation_values`` on the raw counts (one entry per outcome)."""
    quasi = {label: [quasi_distribution(c) for c in runs] for label, runs in counts.items()}
    return pauli_values(quasi, problem.coefficients, problem.subobservables)


def test_processed_outcomes_give_the_addons_values(sampled):
    problem, counts = sampled
    result = reconstruct(
        counts, problem.coefficients, problem.subobservables, problem.paulis, problem.observables, seed=1
    )
    expected = addon_values(problem, counts)
    assert np.allclose(list(result.pauli_values.values()), expected, rtol=0, atol=1e-12)
    assert len(expected) > 3 and np.any(np.abs(expected) > 0.05)  # the values say something


def observable_values(problem, per_pauli: np.ndarray) -> np.ndarray:
    """Each observable of ``problem`` from its Pauli terms' values."""
    index = dict(zip(problem.paulis.to_labels(), per_pauli, strict=True))
    return np.array(
        [
            sum(
                float(np.real(c)) * (1.0 if set(label) == {"I"} else index[label])
                for label, c in zip(op.paulis.to_labels(), op.coeffs, strict=True)
            )
            for op in problem.observables
        ]
    )


def test_values_and_standard_errors_are_the_addons_on_every_batch(sampled):
    """The vectorised combination against the addon called on the full counts and on each batch."""
    problem, counts = sampled
    groups = outcome_groups(problem.coefficients, problem.subobservables)
    rng = np.random.default_rng(5)
    processed = {
        label: [process_counts(c, g, 8, rng) for c, g in zip(runs, groups[label], strict=True)]
        for label, runs in counts.items()
    }
    result = combine(
        processed, problem.coefficients, problem.subobservables, problem.paulis, problem.observables
    )

    def addon(pick):
        quasi = {
            label: [{k: n / sum(pick(p).values()) for k, n in pick(p).items()} for p in runs]
            for label, runs in processed.items()
        }
        return observable_values(problem, pauli_values(quasi, problem.coefficients, problem.subobservables))

    batch_values = np.array([addon(lambda p, b=b: p.batches[b]) for b in range(8)])
    assert result.batches == 8
    assert np.allclose(result.values, addon(lambda p: p.full), rtol=0, atol=1e-12)
    assert np.allclose(result.batch_stderr, batch_values.std(axis=0, ddof=1) / np.sqrt(8), rtol=0, atol=1e-12)
    assert np.all(result.stderr > 0)


def test_standard_errors_from_the_counts_are_the_spread_of_repeated_runs(sampled):
    """The formula against the spread of 400 independent runs: each subexperiment's 3,000 shots drawn
    afresh from its distribution (estimated from 400,000 shots on Aer). The spread of 400 values is known
    to about 3.5 %; the formula's estimate varies from run to run by 5 % at most here, batch means by
    about a quarter."""
    problem, _ = sampled
    device = get_device("aer", seed_simulator=11)
    probabilities = {
        label: [
            (list(c), np.array(list(c.values()), dtype=float) / sum(c.values()))
            for c in device.sample(list(circuits), shots=400_000)
        ]
        for label, circuits in problem.subexperiments.items()
    }
    rng = np.random.default_rng(3)
    values, stderrs, batch_stderrs = [], [], []
    for repeat in range(400):
        counts = {
            label: [
                {k: int(n) for k, n in zip(keys, rng.multinomial(3000, p), strict=True) if n}
                for keys, p in runs
            ]
            for label, runs in probabilities.items()
        }
        result = reconstruct(
            counts,
            problem.coefficients,
            problem.subobservables,
            problem.paulis,
            problem.observables,
            seed=repeat,
        )
        values.append(result.values)
        stderrs.append(result.stderr)
        batch_stderrs.append(result.batch_stderr)
    spread = np.std(values, axis=0, ddof=1)
    stderrs, batch_stderrs = np.array(stderrs), np.array(batch_stderrs)
    assert np.all(np.abs(stderrs.mean(axis=0) / spread - 1) < 0.12), (stderrs.mean(axis=0), spread)
    assert np.all(stderrs.std(axis=0) / stderrs.mean(axis=0) < 0.1)
    assert np.all(batch_stderrs.std(axis=0) / batch_stderrs.mean(axis=0) > 0.15)  # chi with 7 dof: 0.26


def test_processing_merges_outcomes_into_a_few_classes():
    problem = decompose(su2(12, 4), ["Z" * 12], 6)  # every qubit measured: up to 2^7 outcomes each
    counts = {
        label: get_device("aer").sample(list(circuits), shots=3000)
        for label, circuits in problem.subexperiments.items()
    }
    groups = outcome_groups(problem.coefficients, problem.subobservables)
    rng = np.random.default_rng(0)
    outcomes = classes = 0
    for label, runs in counts.items():
        for raw, group in zip(runs, groups[label], strict=True):
            processed = process_counts(raw, group, 8, rng)
            assert len(processed.full) <= 2 ** (1 + len(group.masks)) == 4  # QPD parity, Z...Z parity
            assert processed.shots == sum(raw.values()) == 3000
            assert sum(sum(b.values()) for b in processed.batches) == 3000
            outcomes, classes = outcomes + len(raw), classes + len(processed.full)
    assert classes < outcomes / 10, (classes, outcomes)
    result = reconstruct(
        counts, problem.coefficients, problem.subobservables, problem.paulis, problem.observables, seed=2
    )
    assert np.allclose(list(result.pauli_values.values()), addon_values(problem, counts), rtol=0, atol=1e-12)


def test_fragments_processed_on_workers_reconstruct_to_the_addons_values(sampled):
    """The worker functions themselves: fragments of subexperiments sampled and processed as a fragment
    task does, then put back in order and combined as the reconstruction task does."""
    problem, counts = sampled
    groups = outcome_groups(problem.coefficients, problem.subobservables)
    work = [
        (label, i, qc, 2000)
        for label, circuits in problem.subexperiments.items()
        for i, qc in enumerate(circuits)
    ]
    device = get_device("aer")
    index, results, raw = [], [], {label: [None] * len(c) for label, c in problem.subexperiments.items()}
    for number, group in enumerate(fragments(work, slots=2)):
        fragment_counts = sample_circuits(
            QpyCircuits([qc for *_, qc, _ in group]), [n for *_, n in group], device=device
        )
        for (label, i, _, _), c in zip(group, fragment_counts, strict=True):
            raw[label][i] = c
        results.append(
            process_fragment(fragment_counts, [groups[label][i] for label, i, _, _ in group], 8, number)
        )
        index.append([(label, i) for label, i, _, _ in group])
    assert len(results) == 2  # even work: one fragment per worker slot
    layout = {label: len(c) for label, c in problem.subexperiments.items()}
    result = reconstruct_fragments(
        layout,
        problem.coefficients,
        problem.subobservables,
        problem.paulis,
        problem.observables,
        index,
        *results,
    )
    assert np.allclose(list(result.pauli_values.values()), addon_values(problem, raw), rtol=0, atol=1e-12)
    assert result.shots == 2000 * len(work) and np.all(result.stderr > 0)
