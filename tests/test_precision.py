r"""Precision: one target standard error, and one meaning of ``shots=``, on both roads.

First the pure functions of :mod:`parsl_quantum.q_dreamer.precision`; then both roads, the
``circuit_cutting`` motif without a planner and ``QDreamer.plan(...).submit()``, run the weighted
observable :math:`4 Z_0 + 3 Z_2 Z_3 - 3 X_4 X_5` (l1 norm 10) on a 6-qubit circuit at ``precision=0.05``.
Sized as if the observable had unit norm, the motif gave standard errors of 0.17-0.20.

How the checks are derived. A cut run computes its standard error from its counts (products of independent
subsystem means, :func:`~parsl_quantum.q_dreamer.planning.reconstruct.product_variance`); that estimate
varies from run to run by a few per cent (under 10 % in ``tests/test_q_dreamer_reconstruction.py``, against
the spread of 400 runs), so the pooled estimate of ``RUNS`` runs stands for the true standard error
:math:`\sigma` to within :data:`ESTIMATE_SLACK`. The sizing promises :math:`\sigma \le` target, so the
pooled estimate must be within the target times that slack; the unit-norm sizing (:math:`\sigma \approx
0.18`, more than three times the target) fails it every time. Each value's distance from the exact one is
then normal in units of the pooled estimate: beyond 5 with probability :math:`6 \cdot 10^{-7}`.
"""

from __future__ import annotations

import math

import numpy as np
import parsl
import pytest
from qiskit.circuit.library import efficient_su2
from qiskit.quantum_info import SparsePauliOp
from qiskit_addon_cutting.qpd import WeightType

from parsl_quantum.configs import local_config
from parsl_quantum.motifs import circuit_cutting
from parsl_quantum.q_dreamer import QDreamer
from parsl_quantum.q_dreamer.precision import (
    DEFAULT_SHOTS,
    Target,
    allocate_shots,
    cut_shots,
    cut_stderr,
    l1_norm,
    target_of,
    whole_shots,
    whole_stderr,
)
from tests.executor_helpers import cpu
from tests.refs import exact_expectation

PRECISION = 0.05
RUNS = 4
"""Independent runs of each road."""
ESTIMATE_SLACK = 1.1
"""How far above the true standard error the pooled estimate of ``RUNS`` runs may lie."""
WEIGHTED = SparsePauliOp.from_sparse_list([("Z", [0], 4.0), ("ZZ", [2, 3], 3.0), ("XX", [4, 5], -3.0)], 6)


def circuit6():
    """efficient_su2 on 6 qubits, linear: one CX cut splits it into two 3-qubit pieces."""
    qc = efficient_su2(6, entanglement="linear", reps=1)
    return qc.assign_parameters(np.random.default_rng(7).uniform(-np.pi, np.pi, qc.num_parameters))


def weighted_problem():
    return circuit6(), [WEIGHTED]


# -- the pure functions ------------------------------------------------------------------------------------


def test_l1_norm_sums_the_weights_of_non_identity_terms_of_the_widest_observable():
    assert l1_norm([WEIGHTED]) == pytest.approx(10.0)
    with_identity = SparsePauliOp(["II", "ZZ", "XI"], [5.0, -0.5, 0.25])
    assert l1_norm([with_identity, SparsePauliOp("ZI")]) == pytest.approx(1.0)  # 0.75 < 1
    assert l1_norm([SparsePauliOp("II", [2.0])]) == 1.0  # nothing to estimate: unit norm


def test_whole_stderr_adds_bases_in_quadrature_and_terms_of_a_basis_linearly():
    # all three terms act on different qubits: one basis, 4 + 3 + 3 = 10 per shot
    assert whole_stderr([WEIGHTED], 100) == pytest.approx(10 / 10)
    # Z0 and X0 need two bases: sqrt(4^2 + 3^2) = 5 per shot
    assert whole_stderr([SparsePauliOp(["IZ", "IX"], [4.0, 3.0])], 25) == pytest.approx(1.0)
    shots = whole_shots([WEIGHTED], PRECISION)
    assert shots == 40000
    assert whole_stderr([WEIGHTED], shots) <= PRECISION < whole_stderr([WEIGHTED], shots - 1)


def test_cut_shots_are_the_fewest_that_reach_the_precision_with_the_observables_weights():
    shots = cut_shots(3.0, [WEIGHTED], PRECISION)
    assert shots == (3 * 10 / PRECISION) ** 2 == 360000
    assert cut_stderr(3.0, [WEIGHTED], shots) <= PRECISION < cut_stderr(3.0, [WEIGHTED], shots - 1)
    assert cut_shots(3.0, [SparsePauliOp("Z")], PRECISION) == 3600  # unit norm: 100x fewer
    with pytest.raises(ValueError, match="precision must be finite"):
        cut_shots(3.0, [WEIGHTED], 0.0)


def test_shots_name_the_standard_error_of_running_whole():
    assert target_of([WEIGHTED], PRECISION, None) == Target(PRECISION, 40000)
    assert target_of([WEIGHTED], None, 40000) == Target(pytest.approx(PRECISION), 40000)
    assert target_of([WEIGHTED], None, None) == Target(pytest.approx(10 / 64), DEFAULT_SHOTS)
    identity = target_of([SparsePauliOp("II")], None, 100)
    assert identity.stderr == pytest.approx(0.1)  # no error to size: as for one unit term
    # a cut reaching the target of `shots` spends kappa^2 times as many on a unit-norm observable
    assert cut_shots(3.0, [SparsePauliOp("Z")], target_of([SparsePauliOp("Z")], None, 1000).stderr) == 9000
    assert whole_shots([SparsePauliOp("Z")], 1e-6) == 10**12  # round-off neither adds a shot nor drops one


def test_allocation_in_proportion_to_coefficients_reaches_kappa_squared_over_n():
    coefficients = [(0.5, WeightType.EXACT), (-1.0, WeightType.EXACT), (1.5, WeightType.EXACT)]
    kappa, total = 3.0, 30000
    shares = allocate_shots(coefficients, total)
    assert shares == [5000, 10000, 15000]
    variance = sum(c**2 / n for (c, _), n in zip(coefficients, shares, strict=True))
    assert variance == pytest.approx(kappa**2 / total)
    uniform = sum(c**2 / (total / 3) for c, _ in coefficients)
    assert uniform > variance
    assert allocate_shots(coefficients, 30) == [16, 16, 16]  # every term gets enough to be estimated


def test_the_motif_takes_shots_or_precision_not_both():
    with pytest.raises(ValueError, match="give shots or precision, not both"):
        circuit_cutting(weighted_problem, executors=["quantum"], subcircuit_size=3, shots=100, precision=0.1)
    with pytest.raises(ValueError, match="precision must be finite and above 0"):
        circuit_cutting(weighted_problem, executors=["quantum"], subcircuit_size=3, precision=-1.0)
    with pytest.raises(TypeError, match="give shots or a precision target"):
        circuit_cutting(weighted_problem, executors=["quantum"], subcircuit_size=3)


# -- both roads at precision 0.05 --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    config = local_config(
        pilots=[cpu(options={"max_parallel_threads": 1})],
        classical_workers=0,
        run_dir=str(tmp_path_factory.mktemp("precision")),
    )
    dfk = parsl.load(config)
    executor = config.executors[0]
    executor.wait_for_pilots()
    dreamer = QDreamer(max_cuts=1, prune=False)  # weigh the cut too, though whole is quicker
    dreamer.calibrate(executor, max_width=8)
    yield executor, dreamer
    dfk.cleanup()
    parsl.clear()


def check_runs(results, exact):
    """The pooled standard error within the target (and the estimate's slack), every value within 5 of it
    of exact; the pooled standard error."""
    pooled = math.sqrt(np.mean([r.stderr[0] ** 2 for r in results]))
    assert pooled <= PRECISION * ESTIMATE_SLACK, pooled
    values = np.array([r.values[0] for r in results])
    assert np.all(np.abs(values - exact) <= 5 * pooled), (values, exact, pooled)
    return pooled


def test_the_motif_reaches_the_precision_asked_for_with_a_weighted_observable(env):
    apps = [
        circuit_cutting(
            weighted_problem, executors=["quantum"], subcircuit_size=3, precision=PRECISION, seed=seed
        )
        for seed in range(RUNS)
    ]
    futures = [app.run() for app in apps]
    results = [f.result() for f in futures]
    # two subsystems, each sized for kappa 3 and l1 norm 10 (allocation rounds each share)
    assert all(r.shots == pytest.approx(2 * cut_shots(3.0, [WEIGHTED], PRECISION), rel=1e-3) for r in results)
    check_runs(results, exact_expectation(circuit6(), WEIGHTED))


def test_the_planner_reaches_the_precision_asked_for_whole_or_cut(env):
    executor, dreamer = env
    circuit, exact = circuit6(), exact_expectation(circuit6(), WEIGHTED)
    plan = dreamer.plan(circuit, [WEIGHTED], executor, precision=PRECISION)
    candidates = {p.label: p for p in [plan, *plan.alternatives]}
    assert set(candidates) == {"whole", "cut to 3 qubits"}
    whole, cut = candidates["whole"], candidates["cut to 3 qubits"]
    assert (whole.shots, cut.shots) == (40000, 360000)  # the same target, and the motif's cut shots
    assert all(p.target_stderr == PRECISION and p.predicted_stderr <= PRECISION for p in candidates.values())
    futures = [cut.submit_reconstruction(seed=seed) for seed in range(RUNS)]
    check_runs([f.result() for f in futures], exact)
    # whole: each term's error from its own shots, sqrt(sum a^2 (1 - m^2) / s) <= sqrt(34) / 200 < 0.05
    ran = whole.submit_reconstruction().result()
    assert ran.stderr[0] <= PRECISION and abs(ran.values[0] - exact) <= 5 * ran.stderr[0]
    values = plan.submit().result()  # the public road: the chosen plan's values
    assert abs(values[0] - exact) <= 5 * PRECISION


def test_each_plan_has_the_target_it_was_asked_for(env):
    """The planner keeps targets per observable and request: asking again with another precision, or with
    shots, gives that target, not the one before."""
    executor, dreamer = env
    circuit = circuit6()
    assert dreamer.plan(circuit, [WEIGHTED], executor, precision=0.05).target_stderr == 0.05
    assert dreamer.plan(circuit, [WEIGHTED], executor, precision=0.1).target_stderr == 0.1
    by_shots = dreamer.plan(circuit, [WEIGHTED], executor, shots=1000)
    assert by_shots.target_stderr == pytest.approx(whole_stderr([WEIGHTED], 1000))
    unit = dreamer.plan(circuit, ["Z" * 6], executor, shots=1000)
    assert unit.target_stderr == pytest.approx(whole_stderr([SparsePauliOp("Z" * 6)], 1000))
