r"""Distributions of cut circuits on real pilots: total variation distance to the exact distribution
within the bound the shot count gives, GHZ, QAOA on a ring and a random hardware-efficient ansatz of up
to 16 measured bits, cut into two and three pieces (gate cuts) and by a wire cut.

**The bound.** Each subexperiment :math:`(i, A)` is sampled :math:`n_i` times, independently of the
others, and :math:`\hat p(x) = \sum_i c_i \prod_A \hat q_{i,A}(x_A)` is unbiased. From the exact outcome
probabilities of every subexperiment (:math:`q_{i,A}` signed by the QPD parity, :math:`P_{i,A}`
unsigned), its variance is exactly

.. math:: \mathrm{Var}\,\hat p(x) = \sum_i c_i^2 \Big[\prod_A \big(q_{i,A}^2 + (P_{i,A} - q_{i,A}^2)/n_i\big)
          - \prod_A q_{i,A}^2\Big],

so :math:`E[\mathrm{TVD}] \le \tfrac12 \sum_x \sqrt{\mathrm{Var}\,\hat p(x)}` (Jensen). One shot of
subexperiment :math:`(i, A)` moves the TVD by at most :math:`|c_i| / n_i` (it moves :math:`\hat q_{i,A}`
by :math:`2/n_i` in the 1-norm, the other factors have 1-norm at most 1), so by McDiarmid's inequality
:math:`\mathrm{TVD} \le E[\mathrm{TVD}] + \sqrt{F \sum_i (c_i^2 / n_i) \ln(1/\delta) / 2}` with probability
at least :math:`1 - \delta` for :math:`F` pieces. The tests take :math:`\delta = 10^{-6}`.
"""

from __future__ import annotations

import math

import numpy as np
import parsl
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector

from parsl_quantum.configs import local_config
from parsl_quantum.motifs import circuit_cutting
from parsl_quantum.providers import PilotDescription
from parsl_quantum.q_dreamer import Distribution, QDreamer
from parsl_quantum.q_dreamer.planning import reconstruct_distribution as rd
from parsl_quantum.q_dreamer.planning.decompose import decompose
from parsl_quantum.q_dreamer.precision import allocate_shots, cut_shots, target_of
from tests.refs import (
    exact_expectation,
    exact_midcircuit_distribution,
    ghz,
    hardware_efficient,
    qaoa_ring,
    star_with_a_wire_cut,
)

pytestmark = pytest.mark.slow

SHOTS = 2000  # the target: every bit string's standard error at most 1 / (2 sqrt(2000)) = 0.0112
DELTA = 1e-6  # the bound fails with probability at most this


@pytest.fixture(scope="module")
def dfk(tmp_path_factory):
    """One CPU pilot of two workers, 8 qubits wide: a 16-qubit circuit must be cut."""
    pilots = [
        PilotDescription(
            name="half", kind="cpu", backend="aer", workers=2, qubits=8, options={"max_parallel_threads": 1}
        )
    ]
    config = local_config(
        pilots=pilots, classical_workers=0, run_dir=str(tmp_path_factory.mktemp("distributions"))
    )
    loaded = parsl.load(config)
    config.executors[0].wait_for_pilots()
    yield config.executors[0]
    loaded.cleanup()
    parsl.clear()


def exact_distribution(circuit: QuantumCircuit) -> dict[str, float]:
    probabilities = Statevector(circuit).probabilities_dict()
    return {k: float(v) for k, v in probabilities.items() if v > 1e-14}


def tvd_bound(problem, layout: rd.BitLayout, allocation: list[int]) -> tuple[float, float]:
    """``(bound on E[TVD], deviation at DELTA)`` for ``problem`` sampled with ``allocation`` shots per
    subexperiment index (see the module's docstring), from every subexperiment's exact outcomes."""
    second_moment, squared_mean = {}, {}
    for label, runs in problem.subexperiments.items():
        positions = layout.positions[label]
        mask = (1 << len(positions)) - 1
        moments, squares = [], []
        for qc, n in zip(runs, allocation, strict=True):
            outcomes = exact_midcircuit_distribution(qc)
            signed = rd.process_outcomes(outcomes, positions).full
            unsigned: dict[str, float] = {}
            for key, probability in outcomes.items():
                bits = format(int(key.replace(" ", ""), 2) & mask, f"0{len(positions)}b")
                unsigned[bits] = unsigned.get(bits, 0.0) + probability
            total = rd.process_outcomes(unsigned, positions).full
            moments.append(
                rd.SignedTallies({k: signed[k] ** 2 + (p - signed[k] ** 2) / n for k, p in total.items()}, 1)
            )
            squares.append(rd.SignedTallies({k: signed[k] ** 2 for k in total}, 1))
        second_moment[label], squared_mean[label] = moments, squares
    weights = [(float(c) ** 2, w) for c, w in problem.coefficients]
    first = rd.combine_distribution(second_moment, weights, layout.num_bits)
    second = rd.combine_distribution(squared_mean, weights, layout.num_bits)
    variance = np.clip([first[int(o)] - second[int(o)] for o in first.outcomes], 0.0, None)
    spread = sum(float(c) ** 2 / n for (c, _), n in zip(problem.coefficients, allocation, strict=True))
    deviation = math.sqrt(len(problem.subexperiments) * spread * math.log(1 / DELTA) / 2)
    return 0.5 * float(np.sqrt(variance).sum()), deviation


# name, circuit, widest piece, pieces, kind of cut, a diagonal observable across the cut
CASES = [
    ("ghz16", ghz(16, measure=False), 8, 2, "Gate Cut", "ZIIIIIIIIIIIIIIZ"),
    ("ghz12", ghz(12, measure=False), 4, 3, "Gate Cut", "IIIIIIIZZIII"),
    ("qaoa_ring16", qaoa_ring(16), 8, 2, "Gate Cut", "IIIIIIIZZIIIIIII"),
    ("hea10", hardware_efficient(10, 1, seed=7), 5, 2, "Gate Cut", "IIIIZZIIII"),
    ("hea9", hardware_efficient(9, 1, seed=7), 3, 3, "Gate Cut", "IIIZZZIII"),
    ("star7", star_with_a_wire_cut(), 4, 2, "Wire Cut", "ZIIIIIZ"),
]


@pytest.mark.parametrize(
    ("name", "circuit", "width", "pieces", "kind", "observable"), CASES, ids=[c[0] for c in CASES]
)
def test_cut_distribution_is_within_the_shot_noise_bound(dfk, name, circuit, width, pieces, kind, observable):
    @circuit_cutting(executors=["quantum"], subcircuit_size=width, shots=SHOTS, output="distribution")
    def cut(qc):
        return qc

    distribution = cut(circuit).result()
    assert isinstance(distribution, Distribution)
    # the same cut and shots the motif made, for the bound
    measured = rd.measured_bits(circuit)
    problem = decompose(circuit, measured.observables(circuit.num_qubits), width)
    layout = rd.bit_layout(problem, measured)
    target = target_of(problem.observables, None, SHOTS, "distribution")
    allocation = allocate_shots(
        problem.coefficients, cut_shots(problem.kappa, problem.observables, target.stderr)
    )
    assert distribution.shots == len(problem.subexperiments) * sum(allocation)
    assert {k for k, _ in problem.cuts} == {kind} and len(problem.subexperiments) == pieces

    exact = exact_distribution(circuit)
    tvd = distribution.total_variation_distance(exact)
    projected = distribution.nearest_probability()
    nearest = 0.5 * sum(abs(projected.get(k, 0.0) - exact.get(k, 0.0)) for k in set(exact) | set(projected))
    expected, deviation = tvd_bound(problem, layout, allocation)
    print(
        f"\n{name}: kappa {problem.kappa:.2f}, {sum(allocation)} shots per piece, {len(distribution)} bit "
        f"strings seen of {len(exact)}: TVD {tvd:.4f} (nearest probability {nearest:.4f}); bound "
        f"{expected + deviation:.4f} = E[TVD] <= {expected:.4f} + {deviation:.4f}; max stderr "
        f"{distribution.max_stderr:.4f} (target {target.stderr:.4f})"
    )
    assert tvd <= expected + deviation
    assert distribution.total == pytest.approx(
        1.0, abs=10 * distribution.max_stderr * math.sqrt(len(distribution))
    )

    value, error = distribution.expectation(observable), distribution.expectation_stderr(observable)
    exact_value = exact_expectation(circuit, observable)
    assert abs(value - exact_value) <= 5 * max(error, 1e-3), (value, exact_value, error)


def test_planned_distribution_cut_and_whole(dfk):
    """Q-Dreamer plans for a distribution: a 12-qubit GHZ state on the 8-qubit pilot is cut, sized for
    the largest standard error of a bit string; a 6-qubit one may run whole, and every alternative it
    weighed gives the distribution too. The motif takes the same planner."""
    dreamer = QDreamer()
    dreamer.calibrate(dfk, max_width=8)
    circuit = ghz(12)
    plan = dreamer.plan(circuit, None, dfk, shots=SHOTS, output="distribution")
    assert plan.cut and plan.output == "distribution"
    assert plan.predicted_stderr <= plan.target_stderr * (1 + 1e-9)
    assert plan.target_stderr == pytest.approx(0.5 / math.sqrt(SHOTS))
    assert "of every bit string" in plan.table()
    with pytest.raises(ValueError, match="made for distribution"):
        plan.submit(output="values")
    distribution = plan.submit(output="distribution").result()
    exact = exact_distribution(ghz(12, measure=False))
    assert {k for k, _ in distribution.most_likely(2)} == {"0" * 12, "1" * 12}
    assert distribution.total_variation_distance(exact) < 0.05
    assert distribution.max_stderr <= 2 * plan.target_stderr

    every = QDreamer(dreamer.profile, prune=False)  # weighs the cuts too, where whole is sure to win
    small = every.plan(ghz(6), None, dfk, shots=SHOTS, output="distribution")
    for candidate in [small, *small.alternatives]:
        result = candidate.submit().result()
        assert isinstance(result, Distribution) and result.num_bits == 6
        assert result.total_variation_distance(exact_distribution(ghz(6, measure=False))) < 0.1, (
            candidate.label
        )
    assert {c.cut for c in [small, *small.alternatives]} == {False, True}

    @circuit_cutting(executors=["quantum"], planner=dreamer, shots=SHOTS, output="distribution")
    def planned(n):
        return ghz(n)

    assert planned(10).result().most_likely(1)[0][0] in ("0" * 10, "1" * 10)
