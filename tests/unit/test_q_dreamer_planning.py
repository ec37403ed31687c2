"""Q-Dreamer's planning as pure functions: targets and shots, cut search by enumeration, lower bounds,
predictions whole and cut, and the enumeration of candidate plans.

Pilots have linear models (``fixed + per_shot * shots`` a circuit, no state-sized part), so that no probe
could matter: the prober is never asked to run anything, and every prediction can be worked out by hand.
The circuit is a 4-qubit GHZ chain, cut by one CX (``kappa`` 3) into two pairs.
"""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import QuantumCircuit
from qiskit.circuit.library import CXGate
from qiskit.quantum_info import SparsePauliOp
from qiskit_addon_cutting.qpd import qpdbasis_from_instruction

from parsl_quantum.q_dreamer.model.models import CircuitFeatures, QPUModel, ReconstructionModel
from parsl_quantum.q_dreamer.model.outcomes import distinct_outcomes, seen_outcomes
from parsl_quantum.q_dreamer.model.probe import Prober
from parsl_quantum.q_dreamer.planning.bounds import (
    _measuring_share,
    cut_kinds,
    cut_lower_bound,
    fewest_cut_terms,
    fewest_subexperiments,
)
from parsl_quantum.q_dreamer.planning.candidates import Limits, Prediction
from parsl_quantum.q_dreamer.planning.decompose import _components, expand, find_gate_cuts
from parsl_quantum.q_dreamer.planning.enumerate import enumerate_plans
from parsl_quantum.q_dreamer.planning.predict import expected_outcomes, predict_cut, predict_whole, support_of
from parsl_quantum.q_dreamer.planning.rewrite import fragment_count, fragments
from parsl_quantum.q_dreamer.planning.search import GATE_CUT_SECONDS_PER_ELEMENT, CutSearch
from parsl_quantum.q_dreamer.planning.template import fingerprint
from parsl_quantum.q_dreamer.precision import (
    DEFAULT_SHOTS,
    Target,
    allocate_shots,
    check_target,
    cut_shots,
    cut_stderr,
    target_of,
)
from tests.unit.helpers import linear_model

ZZZZ = SparsePauliOp("ZZZZ")
TARGET = target_of([ZZZZ], None, 1000)  # the standard error of 1000 shots whole: 1 / sqrt(1000)
CUT_SHOTS = 9 * 1000  # kappa 3 needs kappa**2 times the shots for the same error


def chain(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    qc.h(0)
    for i in range(n - 1):
        qc.cx(i, i + 1)
    return qc


def plans(pilots, *, search=True, **kwargs):
    """``enumerate_plans`` of the 4-qubit chain and ``ZZZZ`` at :data:`TARGET`, fragments for 2 slots."""
    circuit = chain(4)
    cuts = CutSearch(circuit, [ZZZZ], seed=1, found={}) if search else None
    return enumerate_plans(
        circuit, [ZZZZ], pilots, ReconstructionModel(), 2, TARGET, [], cuts, Prober(None), **kwargs
    )


# -- targets and shots ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("precision", "shots", "message"),
    [
        (0.1, 100, "give shots or precision, not both"),
        (True, None, "precision must be a number, got True"),
        ("0.1", None, "precision must be a number"),
        (math.nan, None, "precision must be finite and above 0, got nan"),
        (0.0, None, "precision must be finite and above 0, got 0.0"),
        (None, 0, "shots must be a positive integer, got 0"),
        (None, 10.0, "shots must be a positive integer, got 10.0"),
        (None, True, "shots must be a positive integer, got True"),
    ],
)
def test_a_malformed_target_is_refused_naming_it(precision, shots, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_target(precision, shots)


def test_a_target_from_precision_from_shots_or_from_neither():
    assert TARGET == Target(1 / math.sqrt(1000), 1000)
    assert target_of([ZZZZ], 0.01, None) == Target(0.01, 10_000)
    assert target_of([ZZZZ], None, None) == Target(1 / math.sqrt(DEFAULT_SHOTS), DEFAULT_SHOTS)
    # observables of identities alone have no error: the target is that of a single unit term
    assert target_of([SparsePauliOp("II")], None, 400) == Target(0.05, 400)


@settings(max_examples=100, deadline=None)
@given(kappa=st.floats(1.0, 30.0), weight=st.floats(0.1, 10.0), precision=st.floats(1e-3, 1.0))
def test_cut_shots_are_the_fewest_that_reach_the_precision(kappa, weight, precision):
    observables = [SparsePauliOp(["ZI", "IZ"], [weight, -weight])]
    shots = cut_shots(kappa, observables, precision)
    assert cut_stderr(kappa, observables, shots) <= precision * (1 + 1e-12)
    if shots > 1:
        assert cut_stderr(kappa, observables, shots - 1) > precision


def test_allocation_gives_every_subexperiment_at_least_the_minimum():
    coefficients = [(0.5, None), (-0.25, None), (0.0001, None)]
    assert allocate_shots(coefficients, 1000) == [round(1000 * 0.5 / 0.7501), round(1000 * 0.25 / 0.7501), 16]
    assert allocate_shots(coefficients, 1000, minimum=1) == [667, 333, 1]


# -- cut search and cut kinds -----------------------------------------------------------------------------


def test_components_of_a_union_find():
    assert _components(5, [(0, 1), (3, 4), (1, 2)]) == [2, 2, 2, 4, 4]
    assert _components(3, []) == [0, 1, 2]


def test_gate_cuts_of_a_chain_are_found_by_enumeration():
    one = find_gate_cuts(chain(4), [ZZZZ], 1, 3)
    # cutting the middle CX (instruction 2: h, cx01, cx12, cx23) leaves two pairs, overhead 3**2
    assert (one.cuts, one.widths, one.sampling_overhead, one.kappa) == (
        [("Gate Cut", 2)],
        {0: 2, 1: 2},
        9.0,
        3.0,
    )
    assert (one.subcircuit_size, one.widest, one.num_cuts, one.minimum_reached) == (2, 2, 1, True)
    three = find_gate_cuts(chain(4), [ZZZZ], 3, 3)
    assert sorted(three.widths.values()) == [1, 1, 1, 1] and three.sampling_overhead == 9.0**3
    assert find_gate_cuts(chain(4), [ZZZZ], 1, 1) is None  # one cut cannot leave single qubits


def test_a_cut_search_prefers_gate_cuts_and_keeps_what_it_found():
    search = CutSearch(chain(6), [SparsePauliOp("Z" * 6)], seed=1, found={})
    assert search.two_qubit_gates == 5
    assert search.narrowest(1, 5).widest == 3
    assert search.narrowest(2, 5).widest == 2
    assert search.found == {} and set(search.gate_cuts) == {1, 2}  # the addon's search never ran


def test_the_addons_search_runs_only_where_it_could_save_more_than_it_costs():
    doubled = QuantumCircuit(4)
    for i in range(3):
        doubled.cx(i, i + 1)
        doubled.cx(i, i + 1)
    search = CutSearch(doubled, [ZZZZ], seed=1, found={})
    # every pair shares two CX: one gate cut separates nothing, so only the addon's search could; it
    # would cost 0.02 s a gate * 6 gates * 2 widths (2 and 3), more than the 0.1 s it could save
    assert search.narrowest(1, 3, budget=0.1) is None
    assert search.gate_cuts == {1: None} and search.found == {}


def test_gate_cuts_are_enumerated_only_where_it_could_save_more_than_it_costs():
    search = CutSearch(chain(6), [SparsePauliOp("Z" * 6)], seed=1, found={})
    assert search.pairs == 5
    # every set of up to 2 of the 5 pairs (16 sets), each a union-find over 6 qubits and 5 pairs
    assert search.gate_cut_seconds(2) == pytest.approx(GATE_CUT_SECONDS_PER_ELEMENT * (6 + 5) * 16)
    assert search.narrowest(2, 5, budget=1e-5) is None
    assert search.gate_cuts == {}  # nothing enumerated, nothing remembered as impossible
    assert search.narrowest(2, 5).widest == 2
    assert search.gate_cut_seconds(2) == 0.0  # done: free from now on


def test_cut_kinds_are_the_cheapest_cut_and_the_least_mid_circuit_measuring():
    assert cut_kinds(chain(4)) == (3.0, 0.0)  # the last CX: neither qubit is used after it
    control_again = QuantumCircuit(2)
    control_again.cx(0, 1)
    control_again.h(0)
    # 2 of the CX decomposition's 6 terms (|c| = 1/2 each, kappa 3) measure the control
    basis = qpdbasis_from_instruction(CXGate())
    assert _measuring_share(basis, 0) == pytest.approx(1 / 3)
    assert cut_kinds(control_again) == (3.0, pytest.approx(1 / 3))
    rzz = QuantumCircuit(2)
    rzz.rzz(0.3, 0, 1)
    assert cut_kinds(rzz)[0] == pytest.approx(1 + 2 * math.sin(0.3))  # kappa of RZZ(theta)


# -- lower bounds and outcomes ------------------------------------------------------------------------------


def test_the_lower_bound_spreads_the_cheapest_pilots_shots_over_every_slot():
    cheap = linear_model("cheap", 1e-5, workers=2, c4=1e-4, c5=1e-6)
    cheap.scale = 2.0
    dear = linear_model("dear", 1e-3)
    qpu = linear_model("qpu", 0.0, workers=4)
    qpu.qpu = QPUModel(1e-8, 1e-7, 1e-6, 1e-6)  # a QPU's time is not the simulator's: it bounds nothing
    bound = cut_lower_bound(3.0, [ZZZZ], TARGET, 2, [cheap, dear, qpu], 0.5)
    # 9000 shots a subsystem: 2 * ((1e-5 + 1e-6) * 9000 * 2 + 1e-4 * 9000 * 0.5), over 2 + 1 + 4 slots
    assert bound == pytest.approx(2 * (1.1e-5 * CUT_SHOTS * 2 + 1e-4 * CUT_SHOTS * 0.5) / 7)
    assert cut_lower_bound(3.0, [ZZZZ], TARGET, 2, [qpu], 0.5) == 0.0


@pytest.mark.parametrize(("qubits", "cuts", "size"), [(4, 1, 3), (6, 2, 2), (5, 1, 4)])
def test_the_subexperiments_a_cut_makes_are_known_before_they_are_generated(qubits, cuts, size):
    structure = find_gate_cuts(chain(qubits), [SparsePauliOp("Z" * qubits)], cuts, size)
    subsystems = len(structure.widths)
    assert fewest_subexperiments(structure.cut_circuit, subsystems) == expand(structure).num_subexperiments


def test_the_lower_bound_counts_each_subexperiments_fixed_costs_and_never_exceeds_the_prediction():
    structure = find_gate_cuts(chain(6), [SparsePauliOp("ZZZZII")], 2, 2)
    problem = expand(structure)
    reconstruction = ReconstructionModel(
        fixed=0.05, per_circuit=0.01, serialise_per_circuit=0.02, process_per_circuit=0.03
    )
    pilot = linear_model("cpu", 1e-6, fixed=0.004, workers=2, c5=1e-7)
    subsystems = len(structure.widths)
    circuits = fewest_subexperiments(structure.cut_circuit, subsystems)
    shots = cut_shots(problem.kappa, problem.observables, TARGET.stderr)
    bare = cut_lower_bound(problem.kappa, problem.observables, TARGET, subsystems, [pilot], 0.0)
    bound = cut_lower_bound(
        problem.kappa, problem.observables, TARGET, subsystems, [pilot], 0.0, circuits, reconstruction
    )
    fixed = (0.004 + 0.03) * circuits / 2 + 0.02 * circuits + 0.05 + 0.01 * circuits
    assert bound == pytest.approx(bare + fixed)
    cut = predict_cut(problem, [pilot], shots, reconstruction, 2, Prober(None))
    assert bound <= cut.makespan


def test_on_a_pilot_drawing_from_the_marginal_the_bound_counts_circuits_not_shots():
    structure = find_gate_cuts(chain(6), [SparsePauliOp("ZZZZII")], 2, 2)
    problem = expand(structure)
    pilot = linear_model("cpu", 1e-6, fixed=0.004, workers=2, c5=1e-7, c4=1e-5, samples_marginals=True)
    subsystems = len(structure.widths)
    circuits = fewest_subexperiments(structure.cut_circuit, subsystems)
    shots = cut_shots(problem.kappa, problem.observables, TARGET.stderr)
    bound = cut_lower_bound(problem.kappa, problem.observables, TARGET, subsystems, [pilot], 0.5, circuits)
    # at least one outcome per circuit, and no branching: the device defers and draws
    assert bound == pytest.approx(((1e-6 + 1e-7) * circuits + 0.004 * circuits) / 2)
    cut = predict_cut(problem, [pilot], shots, ReconstructionModel(), 2, Prober(None))
    assert bound <= cut.makespan


def ring(n: int) -> QuantumCircuit:
    qc = chain(n)
    qc.cx(n - 1, 0)
    return qc


def test_the_fewest_terms_of_a_cut_bound_the_subexperiments_before_the_search():
    assert fewest_cut_terms(chain(4)) == 6  # a CX decomposes into 6 terms; a wire cut into more
    rzz = QuantumCircuit(2)
    rzz.rzz(0.3, 0, 1)
    rzz.cx(0, 1)
    assert fewest_cut_terms(rzz) == min(
        6, sum(1 for c in qpdbasis_from_instruction(rzz.data[0].operation).coeffs if c)
    )
    # a ring cut twice makes two pieces, not three: the bound before the search assumes two
    for qc, cuts in ((chain(6), 1), (chain(6), 2), (ring(6), 2)):
        structure = find_gate_cuts(qc, [SparsePauliOp("Z" * 6)], cuts, 5)
        assert structure.num_cuts == cuts
        pieces = min(cuts + 1, 2)
        assert pieces * fewest_cut_terms(qc) ** cuts <= fewest_subexperiments(
            structure.cut_circuit, len(structure.widths)
        )
    assert len(find_gate_cuts(ring(6), [SparsePauliOp("Z" * 6)], 2, 5).widths) == 2


def test_the_bound_before_the_search_never_exceeds_the_bound_after_it():
    """On a pilot drawing from the marginal the bound before the search counts circuits: it sets aside
    two cuts of a chain without enumerating them, and never more than the found cut's own bound."""
    pilot = linear_model("cpu", 1e-6, fixed=0.004, workers=2, c5=1e-7, c4=1e-5, samples_marginals=True)
    reconstruction = ReconstructionModel(fixed=0.05, per_circuit=0.01, process_per_circuit=0.03)
    qc = chain(6)
    kappa, branching = cut_kinds(qc)
    for cuts in (1, 2):
        structure = find_gate_cuts(qc, [SparsePauliOp("ZZZZII")], cuts, 5)
        subsystems = len(structure.widths)
        before = cut_lower_bound(
            kappa**cuts,
            [SparsePauliOp("ZZZZII")],
            TARGET,
            min(cuts + 1, 2),
            [pilot],
            branching,
            min(cuts + 1, 2) * fewest_cut_terms(qc) ** cuts,
            reconstruction,
        )
        after = cut_lower_bound(
            structure.kappa,
            [SparsePauliOp("ZZZZII")],
            TARGET,
            subsystems,
            [pilot],
            branching,
            fewest_subexperiments(structure.cut_circuit, subsystems),
            reconstruction,
        )
        assert 0 < before <= after


def test_support_of_is_at_most_the_space_of_outcomes():
    assert support_of(1024, 1024, 2.0**20) == 2.0**20  # every shot differed: as wide as possible
    assert support_of(4, 1024, 4.0) == 4.0  # 4 equally likely outcomes show 4 in 1024 shots
    assert support_of(90, 100, 64.0) == 64.0  # 64 outcomes cannot show 90: the space it is


@settings(max_examples=60, deadline=None)
@given(shots=st.integers(2, 10_000), share=st.floats(0.01, 0.95))
def test_support_of_inverts_seen_outcomes(shots, share):
    seen = max(1, int(share * shots))
    support = support_of(seen, shots, 1e12)
    assert seen <= support <= 1e12
    assert seen_outcomes(support, shots) == pytest.approx(seen, rel=1e-6)


def test_expected_outcomes_scale_a_probes_count_to_each_subexperiment():
    probe = QuantumCircuit(2, 2)
    probe.measure([0, 1], [0, 1])
    wider = QuantumCircuit(3, 3)
    wider.measure([0, 1, 2], [0, 1, 2])
    features = {id(probe): CircuitFeatures.of(probe), id(wider): CircuitFeatures.of(wider)}
    work = [("A", 0, probe, 50), ("A", 1, wider, 100), ("B", 0, wider, 100)]
    prober = Prober(None, measured={f"outcomes|{fingerprint(probe)}|1024": [4]})
    out = expected_outcomes(work, features, {"A": probe}, prober, 1024)
    # the probe saw all 4 of its outcomes: a support of 4; one more measurement doubles it to 8
    assert out == [
        pytest.approx(seen_outcomes(4.0, 50)),
        pytest.approx(seen_outcomes(8.0, 100)),
        distinct_outcomes(3, 100),  # subsystem B was not probed: as if every outcome were equally likely
    ]


# -- predictions ---------------------------------------------------------------------------------------------


def test_running_whole_costs_one_task_sampling_each_basis_on_the_pilot_that_finishes_first():
    fast, slow = linear_model("fast", 1e-5), linear_model("slow", 1e-3)
    fast.task_overhead = 0.5
    observables = [ZZZZ, SparsePauliOp(["XXXX", "XXII"])]  # two bases: Z and X
    whole = predict_whole(chain(4), observables, [fast, slow], TARGET, Prober(None))
    per_basis = {"fast": 1.0 + 1e-5 * 1000, "slow": 1.0 + 1e-3 * 1000}
    assert whole.expected == [(("run_whole", 4, 1000), {p: 2 * s for p, s in per_basis.items()})]
    assert whole.makespan == pytest.approx(0.5 + 2 * per_basis["fast"])
    assert (whole.cut, whole.subcircuit_size, whole.shots, whole.label) == (False, 4, 1000, "whole")
    # the second observable's two terms share a basis: their errors add up, (1 + 1) / sqrt(1000)
    assert whole.stderr == pytest.approx(2 * TARGET.stderr)
    assert (whole.num_cuts, whole.num_subexperiments, whole.problem) == (0, 1, None)
    narrow = linear_model("narrow", 1e-5)
    narrow.max_qubits = 3
    assert predict_whole(chain(4), [ZZZZ], [narrow], TARGET, Prober(None)) is None


def test_a_cut_costs_packing_its_fragments_scheduled_and_reconstruction():
    structure = find_gate_cuts(chain(4), [ZZZZ], 1, 3)
    problem = expand(structure)
    assert problem.num_subexperiments == 12 and problem.kappa == pytest.approx(3.0)
    reconstruction = ReconstructionModel(
        fixed=0.5,
        per_circuit=0.01,
        per_class=0.0,
        serialise_per_circuit=0.1,
        process_per_circuit=0.0,
        process_per_outcome=0.0,
        process_per_shot=0.0,
    )
    one_slot = linear_model("one", 1e-5, fixed=0.01)
    cut = predict_cut(problem, [one_slot], CUT_SHOTS, reconstruction, 1, Prober(None))
    assert cut.allocation == allocate_shots(problem.coefficients, CUT_SHOTS)
    # one slot runs every subexperiment of both subsystems in turn
    circuits = 12 * 0.01 + 1e-5 * 2 * sum(cut.allocation)
    assert cut.parts["serialising"] == pytest.approx(12 * 0.1)
    assert cut.parts["circuits"] == pytest.approx(circuits)
    assert cut.parts["reconstruction"] == pytest.approx(0.5 + 0.01 * 12)
    assert cut.makespan == pytest.approx(12 * 0.1 + circuits + 0.5 + 0.01 * 12)
    assert len(cut.expected) == 1  # one slot: a second fragment would only cost it another task overhead
    assert sum(sum(per_pilot.values()) for _, per_pilot in cut.expected) == pytest.approx(circuits)
    assert cut.stderr == pytest.approx(TARGET.stderr)
    assert (cut.cut, cut.subcircuit_size, cut.shots) == (True, 2, CUT_SHOTS)
    too_narrow = linear_model("tiny", 1e-5)
    too_narrow.max_qubits = 1
    assert predict_cut(problem, [too_narrow], CUT_SHOTS, reconstruction, 1, Prober(None)) is None


def test_a_predictions_objective_counts_its_planning():
    prediction = Prediction(cut=False, subcircuit_size=4, makespan=2.0, stderr=0.1, shots=10, planning_s=0.25)
    assert prediction.objective == 2.25


# -- enumerating plans -------------------------------------------------------------------------------------


def test_every_candidate_is_sized_to_the_same_precision_and_ranked_by_makespan():
    predictions, rejected, pruned = plans([linear_model("cpu", 1e-5, fixed=0.01, workers=2)], prune=False)
    # two cuts reach no narrower pieces than one; three cut every qubit apart, 3**3 = 27 times the error
    assert [(p.label, p.shots, p.num_cuts) for p in predictions] == [
        ("whole", 1000, 0),
        ("cut to 2 qubits", CUT_SHOTS, 1),
        ("cut to 1 qubits", 27**2 * 1000, 3),
    ]
    assert predictions[0].makespan == pytest.approx(0.01 + 1e-5 * 1000)
    assert [p.makespan for p in predictions] == sorted(p.makespan for p in predictions)
    assert all(p.stderr == pytest.approx(TARGET.stderr) for p in predictions)
    assert (rejected, pruned) == ([], 0)


def test_cuts_whose_lower_bound_loses_to_running_whole_are_never_searched():
    predictions, rejected, pruned = plans([linear_model("cpu", 1e-5, fixed=0.01, workers=2)])
    # one cut needs 9000 shots a subsystem: 1e-5 * 9000 * 2 / 2 slots = 0.09 s at least, against 0.02 s
    assert [p.label for p in predictions] == ["whole"]
    assert (rejected, pruned) == ([], 3)


def test_a_circuit_no_pilot_can_hold_whole_is_only_cut():
    narrow = linear_model("narrow", 1e-5, fixed=0.01, workers=2)
    narrow.max_qubits = 3
    predictions, _, _ = plans([narrow], max_cuts=1)
    assert [(p.label, p.shots, p.subcircuit_size) for p in predictions] == [("cut to 2 qubits", CUT_SHOTS, 2)]
    assert plans([narrow], search=False)[0] == []


def test_limits_set_candidates_aside_saying_why():
    pilots = [linear_model("cpu", 1e-5, fixed=0.01, workers=2)]
    _, rejected, _ = plans(pilots, max_cuts=1, limits=Limits(shots=5000), prune=False)
    assert [(r.label, r.shots, r.reason) for r in rejected] == [
        ("cut to 2 qubits", 9000, "more than 5000 shots")
    ]
    predictions, rejected, _ = plans(pilots, max_cuts=1, limits=Limits(seconds=0.05), prune=False)
    assert [p.label for p in predictions] == ["whole"]
    assert [r.label for r in rejected] == ["cut to 2 qubits"]
    assert rejected[0].reason.startswith("predicted ") and rejected[0].reason.endswith(" s, more than 0.05 s")
    _, rejected, _ = plans(pilots, limits=Limits(shots=500), max_cuts=1)
    assert ("whole", 1000, "more than 500 shots") in [(r.label, r.shots, r.reason) for r in rejected]


def test_a_cut_with_more_subexperiments_than_allowed_is_not_generated():
    pilots = [linear_model("cpu", 1e-5, fixed=0.01, workers=2)]
    predictions, _, _ = plans(pilots, max_subexperiments=11, prune=False)
    assert [p.label for p in predictions] == ["whole"]  # one cut has 12


# -- fragments ------------------------------------------------------------------------------------------


def test_fragments_are_two_per_slot_at_most_one_per_subexperiment():
    assert [fragment_count(n, slots) for n, slots in [(3, 5), (100, 2), (10, 0)]] == [3, 4, 2]


def test_fragments_balance_cost_costliest_first_keeping_each_ones_order():
    work = [("A", i, f"c{i}", shots) for i, shots in enumerate([5, 4, 3, 3, 1])]
    groups = fragments(work, 2)
    # by cost, each to the lightest fragment: 5 | 4, 4+3 | 5+3, 7+1: both end at 8 (four fragments would
    # end at 8 too, with more tasks)
    assert [[w[1] for w in group] for group in groups] == [[0, 3], [1, 2, 4]]
    assert fragments([], 4) == []


def test_two_fragments_per_worker_only_where_they_finish_sooner_than_one():
    work = [("A", i, f"c{i}", shots) for i, shots in enumerate([3, 3, 2, 2, 2])]
    # two per worker: 3 | 3 | 2 | 2+2 end at 6 on two workers; one per worker: 3+2+2 | 3+2 end at 7
    assert len(fragments(work, 2)) == 4
    # a task overhead of 1 s makes them equal (8 s), and then fewer tasks
    assert len(fragments(work, 2, overhead=1.0)) == 2
    even = [("A", i, f"c{i}", 100) for i in range(8)]
    assert len(fragments(even, 2, overhead=0.01)) == 2


@settings(max_examples=60, deadline=None)
@given(shots=st.lists(st.integers(1, 1000), max_size=40), slots=st.integers(0, 6))
def test_fragments_partition_the_work(shots, slots):
    work = [("A", i, f"c{i}", n) for i, n in enumerate(shots)]
    groups = fragments(work, slots)
    assert sorted(w for group in groups for w in group) == sorted(work)
    assert all(group == sorted(group) for group in groups)
    fewest = min(len(work), max(slots, 1))
    assert len(groups) in ({fewest, fragment_count(len(work), slots)} if work else {0})
    totals = [sum(w[3] for w in group) for group in groups]
    assert totals == sorted(totals, reverse=True)
