"""What a plan pays whatever its tasks do, in Q-Dreamer's model: sending each task, the slot it holds
beyond its work, its result's round trip, the reconstruction task's launch, turning counts into values on
the worker, and the work already ahead on the pilots.

Every expected value is the formula of :mod:`parsl_quantum.q_dreamer.model.models` worked out by hand.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import SparsePauliOp

from parsl_quantum.q_dreamer.dreamer import work_ahead
from parsl_quantum.q_dreamer.model.calibrate import PROFILE_VERSION, Profile, fit_estimation
from parsl_quantum.q_dreamer.model.models import PilotModel, ReconstructionModel, SimulatorModel
from parsl_quantum.q_dreamer.model.outcomes import distinct_outcomes, seen_outcomes
from parsl_quantum.q_dreamer.model.probe import Prober
from parsl_quantum.q_dreamer.model.schedule import backlog, schedule
from parsl_quantum.q_dreamer.planning.predict import predict_whole, support_of, whole_outcomes
from parsl_quantum.q_dreamer.planning.template import fingerprint
from tests.unit.helpers import linear_model
from tests.unit.test_q_dreamer_planning import TARGET, ZZZZ, chain


def measured(qc: QuantumCircuit) -> QuantumCircuit:
    out = qc.copy()
    out.measure_all()
    return out


# -- estimation on the worker -----------------------------------------------------------------------------


def test_estimation_costs_a_fixed_part_and_a_part_per_outcome_and_term():
    model = ReconstructionModel(estimate_per_basis=0.5, estimate_per_term_outcome=0.01)
    assert model.estimation(100.0, 3) == pytest.approx(0.5 + 0.01 * 100 * 3)
    assert ReconstructionModel().estimation(1e6, 50) == 0.0  # uncalibrated: nothing


def test_the_estimation_fit_recovers_exact_coefficients():
    samples = [
        {"outcomes": o, "terms": t, "seconds": 0.002 + 1e-6 * o * t} for o, t in ((16, 1), (16, 8), (4000, 1))
    ]
    e0, e1 = fit_estimation(samples)
    assert (e0, e1) == (pytest.approx(0.002), pytest.approx(1e-6))


def test_running_whole_adds_estimation_per_basis_for_the_outcomes_expected():
    pilot = linear_model("p", 1e-5)
    reconstruction = ReconstructionModel(estimate_per_basis=0.25, estimate_per_term_outcome=1e-3)
    observables = [ZZZZ, SparsePauliOp(["XXXX", "XXII"])]  # bases Z (1 term) and X (2 terms)
    whole = predict_whole(chain(4), observables, [pilot], TARGET, Prober(None), reconstruction=reconstruction)
    outcomes = distinct_outcomes(4, 1000)  # no probe: as if all 16 outcomes were equally likely
    sampling = 2 * (1.0 + 1e-5 * 1000)
    estimation = (0.25 + 1e-3 * outcomes * 1) + (0.25 + 1e-3 * outcomes * 2)
    assert whole.expected == [(("run_whole", 4, 1000), {"p": pytest.approx(sampling + estimation)})]
    assert whole.makespan == pytest.approx(sampling + estimation)


def test_outcomes_of_a_whole_run_come_from_its_probe_where_there_is_one():
    circuit = measured(chain(4))
    assert whole_outcomes(circuit, 1000, Prober(None)) == distinct_outcomes(4, 1000)
    prober = Prober(None, {f"outcomes|{fingerprint(circuit)}|1000": [2.0]})
    # the GHZ chain shows 2 outcomes in 1000 shots: 2 equally likely ones, all seen again in 1000
    expected = seen_outcomes(support_of(2, 1000, 16.0), 1000)
    assert whole_outcomes(circuit, 1000, prober) == pytest.approx(expected)
    assert expected == pytest.approx(2.0)


# -- dispatch, slot overhead and result latency ----------------------------------------------------------


def test_tasks_leave_one_dispatch_apart_hold_a_slot_and_come_back_a_latency_later():
    one = PilotModel("p", "cpu", "aer", workers=1, task_overhead=0.5, dispatch=0.25, latency=0.1)
    # first: leaves at 0.25, ends 0.25 + 0.5 + 1; second: waits for the slot, ends 1.75 + 1.5; back 0.1 later
    assert schedule([{"p": 1.0}, {"p": 1.0}], [one]).makespan == pytest.approx(3.25 + 0.1)
    two = PilotModel("p", "cpu", "aer", workers=2, task_overhead=0.5, dispatch=0.25, latency=0.1)
    # second: a free slot, but it leaves the host only at 2 * 0.25
    assert schedule([{"p": 1.0}, {"p": 1.0}], [two]).makespan == pytest.approx(0.5 + 1.5 + 0.1)


def test_a_task_goes_where_its_result_is_back_first():
    near = PilotModel("near", "cpu", "aer", workers=1, task_overhead=0.0)
    far = PilotModel("far", "cpu", "aer", workers=1, task_overhead=0.0, latency=1.0)
    # far would end at 1.0 but be back at 2.0; near ends and is back at 1.5
    result = schedule([{"far": 1.0, "near": 1.5}], [far, near])
    assert result.placement == ["near"] and result.makespan == pytest.approx(1.5)


def test_the_reconstruction_task_pays_its_launch():
    model = ReconstructionModel(fixed=1.0, per_circuit=0.1, per_class=0.01, launch=0.25)
    assert model.seconds(10, 100.0, 3) == pytest.approx(0.25 + 1.0 + 0.1 * 10 + 0.01 * 100 * 4)


# -- the work ahead on the pilots -------------------------------------------------------------------------


def test_an_idle_pilot_has_every_slot_free_now():
    assert backlog(3, 0, 0, 5.0) == [0.0, 0.0, 0.0]


def test_running_tasks_are_half_done_and_waiting_ones_take_the_slot_free_first():
    # slots at [1, 0]; three waiting tasks of 2 s: 0 -> 2, 1 -> 3, 2 -> 4
    assert backlog(2, 1, 3, 2.0) == [3.0, 4.0]
    # half a task waiting: half its time, on the slot free first
    assert backlog(2, 0, 0.5, 2.0) == [0.0, 1.0]
    # more running than workers: the others wait on the pilot and are counted as waiting by the caller
    assert backlog(1, 5, 0, 2.0) == [1.0]


def test_a_schedule_starts_after_the_work_ahead():
    pilot = PilotModel("p", "cpu", "aer", workers=2, task_overhead=0.0)
    # slots free at 1 and 3: the first task ends at 2, the second on the same slot at 3
    result = schedule([{"p": 1.0}, {"p": 1.0}], [pilot], {"p": [1.0, 3.0]})
    assert result.makespan == pytest.approx(3.0)
    assert schedule([{"p": 1.0}], [pilot], {}).makespan == pytest.approx(1.0)


def test_the_work_ahead_comes_from_the_executors_pilots_queue_and_estimator():
    a = PilotModel("a", "cpu", "aer", workers=2)
    b = PilotModel("b", "cpu", "aer", workers=2)
    means = {"a": 1.0}
    executor = SimpleNamespace(
        pilots={"a": SimpleNamespace(busy=3), "b": SimpleNamespace(busy=0)},
        outstanding=lambda: 7,
        estimator=SimpleNamespace(pilot_mean=means.get),
    )
    ahead = work_ahead(executor, [a, b])
    # 7 outstanding, 3 bound: 4 waiting, 2 for each pilot's 2 workers of 4; a runs 2, holds 1 more
    assert ahead["a"] == backlog(2, 2, 1 + 2, 1.0) == [1.5, 2.5]
    # b has run nothing yet: its work ahead has no known length
    assert ahead["b"] == [0.0, 0.0]


# -- the profile ------------------------------------------------------------------------------------------


def test_the_profile_keeps_the_fixed_costs_under_a_new_version():
    assert PROFILE_VERSION == 7
    pilot = PilotModel(
        "cpu",
        "cpu",
        "aer",
        2,
        task_overhead=0.001,
        latency=0.014,
        dispatch=7e-5,
        simulator=SimulatorModel(),
    )
    reconstruction = ReconstructionModel(
        launch=0.0011, estimate_per_basis=0.002, estimate_per_term_outcome=2.5e-7
    )
    profile = Profile(pilots={"cpu": pilot}, reconstruction=reconstruction)
    data = json.loads(profile.to_json())
    assert data["version"] == 7
    assert data["pilots"]["cpu"]["simulator"]["samples_marginals"] is False
    assert data["pilots"]["cpu"]["simulator"]["truncates"] is False
    assert (data["pilots"]["cpu"]["latency"], data["pilots"]["cpu"]["dispatch"]) == (0.014, 7e-5)
    assert (data["reconstruction"]["launch"], data["reconstruction"]["estimate_per_basis"]) == (0.0011, 0.002)
    assert Profile.from_json(profile.to_json()) == profile
