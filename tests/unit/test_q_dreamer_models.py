"""Q-Dreamer's performance models as pure functions over dataclasses, and a profile's JSON round trip.

Every expected value is the module documentation's formula worked out by hand for small numbers.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qiskit import ClassicalRegister, QuantumCircuit

from parsl_quantum.q_dreamer.model.calibrate import PROFILE_VERSION, Profile, fit_simulator, relative_errors
from parsl_quantum.q_dreamer.model.models import (
    CircuitFeatures,
    PilotModel,
    QPUModel,
    ReconstructionModel,
    SimulatorModel,
)
from parsl_quantum.q_dreamer.model.outcomes import batch_outcomes, distinct_outcomes, seen_outcomes
from parsl_quantum.q_dreamer.model.schedule import contention, schedule

# 3 qubits, 4 gates (1 two-qubit), 3 measurements of which 1 mid-circuit
FEATURES = CircuitFeatures(qubits=3, gates=4, two_qubit_gates=1, measurements=3, mid_measurements=1)
SIMULATOR = SimulatorModel(c0=1.0, c1=1e-3, c2=1e-2, c3=1e-4, c4=0.5, c5=0.25)
QPU = QPUModel(
    one_qubit_gate=1.0,
    two_qubit_gate=4.0,
    readout=2.0,
    repetition_delay=3.0,
    queue_wait=10.0,
    job_overhead=5.0,
)


# -- circuit features ------------------------------------------------------------------------------------


def test_a_reset_ends_what_a_measurement_before_it_could_reach():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    qc.reset(0)
    qc.h(0)
    qc.barrier()
    qc.measure(0, 1)
    assert CircuitFeatures.of(qc) == CircuitFeatures(2, 2, 0, 2, 0, 1, 2)  # qubit 1 idle: outside the cone


def _aer_active_qubits(qc: QuantumCircuit) -> int:
    """How many qubits Aer simulates of ``qc`` (after its truncation pass), from its own metadata."""
    from qiskit import transpile
    from qiskit_aer import AerSimulator

    simulator = AerSimulator(method="statevector")
    result = simulator.run(transpile(qc, simulator, optimization_level=0), shots=1).result()
    return len(result.results[0].metadata["active_input_qubits"])


def _measuring(qc: QuantumCircuit, qubits: list[int]) -> QuantumCircuit:
    out = qc.copy()
    out.add_register(ClassicalRegister(len(qubits), "end"))
    out.measure(qubits, out.cregs[-1])
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("measured", [[0], [2, 5], [0, 3, 7], list(range(9))])
def test_the_light_cone_has_the_qubits_aer_simulates(seed, measured):
    from qiskit.circuit.random import random_circuit

    qc = _measuring(random_circuit(9, 3, max_operands=2, seed=seed), measured)
    features = CircuitFeatures.of(qc)
    qubits, gates = features.simulated(truncates=True)
    assert qubits == _aer_active_qubits(qc)
    assert features.simulated(truncates=False) == (features.qubits, features.gates)
    assert gates <= features.gates


def test_a_chain_measured_at_its_start_is_simulated_on_few_qubits():
    from parsl_quantum.q_dreamer.model.calibrate import benchmark_circuit

    qc = benchmark_circuit(12, 2, 0, 1)  # RY RZ per qubit and a CX chain, twice; qubit 0 measured
    features = CircuitFeatures.of(qc)
    assert (features.cone_qubits, features.cone_gates) == (3, 13) == (_aer_active_qubits(qc), 13)
    # backwards from the measurement: CX(0,1), RY RZ on q0 q1, then CX(1,2), CX(0,1), RY RZ on q0-q2
    whole = benchmark_circuit(12, 2, 0)
    assert CircuitFeatures.of(whole).cone_qubits is None  # every qubit measured: the whole circuit


def test_a_truncating_model_pays_the_state_terms_for_the_cone_only():
    cone = CircuitFeatures(20, 100, 19, 1, 0, 3, 13)
    plain = SimulatorModel(c0=0.0, c1=1.0, c2=0.0, c5=0.0)
    truncating = SimulatorModel(c0=0.0, c1=1.0, c2=0.0, c5=0.0, truncates=True)
    assert plain.seconds(cone, 10) == 100 * 2.0**20
    assert truncating.seconds(cone, 10) == 13 * 2.0**3
    assert truncating.state_seconds(cone, 10) == 13 * 2.0**3
    deferred = CircuitFeatures(20, 100, 19, 2, 1, 3, 13).deferred(1)
    assert (deferred.cone_qubits, deferred.cone_gates) == (4, 14)


def test_the_fit_recovers_a_truncating_device():
    truth = SimulatorModel(c0=1e-3, c1=2e-9, c2=3e-7, c5=1.5e-7, truncates=True)
    shapes = [
        CircuitFeatures(q, 6 * q - 2, 2 * q - 2, m, 0, *((None, None) if m >= q else (m + 2, 6 * m + 7)))
        for q in (8, 12, 16, 20)
        for m in (1, 2, q)
    ]
    samples = [
        {
            **{k: getattr(f, k) for k in f.__dataclass_fields__},
            "shots": shots,
            "seconds": truth.seconds(f, shots),
            "truncates": True,
        }
        for f in shapes
        for shots in (1000, 16000)
    ]
    fitted = fit_simulator(samples, memory_bytes=8e9)
    assert fitted.truncates
    assert max(abs(e) for e in relative_errors(fitted, samples)) < 0.01
    assert fitted.c2 == pytest.approx(3e-7, rel=0.05)


def test_a_measurement_before_a_classically_controlled_block_is_mid_circuit():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    qc.measure(1, 1)
    # the if_else block counts as one gate; the first measurement decides it
    assert CircuitFeatures.of(qc) == CircuitFeatures(2, 2, 0, 2, 1)


def test_deferring_onto_ancillas_widens_the_circuit_by_one_qubit_and_cx_each():
    assert FEATURES.deferred(0) is FEATURES
    assert FEATURES.deferred(2) == CircuitFeatures(5, 6, 3, 3, 0)


def test_branches_are_one_per_mid_circuit_outcome_at_most_one_per_shot():
    assert [FEATURES.branches(shots) for shots in (0, 1, 2, 100)] == [1, 1, 2, 2]
    many = CircuitFeatures(2, 2, 0, 40, 40)
    assert many.branches(10**12) == 2**30  # capped, not 2**40
    assert CircuitFeatures(2, 2, 0, 2, 0).branches(100) == 1


# -- simulator, QPU and pilot models ---------------------------------------------------------------------


def test_simulator_seconds_follow_the_documented_formula():
    # volume G 2^n = 4 * 8 = 32, B = min(10, 2^1) = 2:
    # c0 + c1 G 2^n B + c2 s + c3 s G 2^n + c4 s [m > 0] + c5 s M
    expected = 1.0 + 1e-3 * 32 * 2 + 1e-2 * 10 + 1e-4 * 10 * 32 + 0.5 * 10 + 0.25 * 10 * 3
    assert SIMULATOR.seconds(FEATURES, 10) == pytest.approx(expected)
    assert SIMULATOR.state_seconds(FEATURES, 10) == pytest.approx(1e-3 * 32 * 2 + 1e-4 * 10 * 32)
    gateless = CircuitFeatures(2, 0, 0, 2, 0)  # a circuit of measurements alone still costs one pass
    assert SimulatorModel(c0=0, c1=1.0, c2=0).seconds(gateless, 1) == 4.0


def test_a_device_drawing_from_the_marginal_pays_per_outcome_where_it_draws_from_it():
    marginal = SimulatorModel(c0=0, c1=0, c2=1.0, c5=0.5, samples_marginals=True)
    fragment = CircuitFeatures(13, 30, 12, 2, 0)  # two measured qubits: 4 outcomes
    assert marginal.sampled(fragment, 6144) == 4
    assert marginal.seconds(fragment, 6144) == pytest.approx(4 * (1.0 + 0.5 * 2))
    assert SimulatorModel(c0=0, c1=0, c2=1.0, c5=0.5).seconds(fragment, 6144) == pytest.approx(6144 * 2)
    wide = CircuitFeatures(13, 30, 12, 13, 0)  # 8192 outcomes, more than the shots: sampled shot by shot
    assert marginal.sampled(wide, 6144) == 6144
    branching = CircuitFeatures(13, 30, 12, 2, 1)  # not deferred (max_deferred 0): branches, shot by shot
    assert marginal.sampled(marginal.as_run(branching, 6144), 6144) == 6144
    deferring = SimulatorModel(max_deferred=1, samples_marginals=True)
    assert deferring.sampled(deferring.as_run(branching, 6144), 6144) == 4  # deferred, then drawn


def test_the_fit_recovers_a_marginal_device_from_samples_of_both_kinds():
    truth = SimulatorModel(c0=1e-3, c1=2e-9, c2=4e-7, c5=1e-7, samples_marginals=True)
    shapes = [(12, 2, 16000), (16, 2, 16000), (12, 12, 1000), (16, 16, 1000), (8, 1, 4000), (20, 20, 1000)]
    samples = []
    for qubits, measured, shots in shapes:
        features = CircuitFeatures(qubits, 3 * qubits, qubits - 1, measured, 0)
        samples.append(
            {
                **{k: getattr(features, k) for k in features.__dataclass_fields__},
                "shots": shots,
                "seconds": truth.seconds(features, shots),
                "samples_marginals": True,
            }
        )
    fitted = fit_simulator(samples, memory_bytes=8e9)
    assert fitted.samples_marginals
    assert max(abs(e) for e in relative_errors(fitted, samples)) < 0.01


def test_statevector_memory_is_sixteen_bytes_an_amplitude():
    model = SimulatorModel(memory_bytes=16 * 2.0**10)
    assert model.memory(10) == 16 * 1024
    assert model.fits(10) and not model.fits(11)


def test_a_device_defers_only_what_fits_and_what_shots_would_branch_on():
    defers = SimulatorModel(max_deferred=1, memory_bytes=16 * 2.0**4)
    assert defers.as_run(FEATURES, 2) == FEATURES.deferred(1)  # 2 outcomes, 2 shots: deferred
    assert defers.as_run(FEATURES, 1) == FEATURES  # 2 outcomes, 1 shot: branching is cheaper
    assert SimulatorModel(max_deferred=1, memory_bytes=16 * 2.0**3).as_run(FEATURES, 8) == FEATURES
    two_mid = CircuitFeatures(3, 4, 1, 3, 2)
    assert defers.as_run(two_mid, 8) == two_mid  # more than max_deferred
    # deferred, the run has no branching and no per-shot branching cost
    deferred = SimulatorModel(c0=0, c1=1.0, c2=0, c4=1.0, max_deferred=1)
    assert deferred.seconds(FEATURES, 4) == 5 * 2**4


def test_qpu_seconds_are_queue_overhead_and_every_shots_circuit_and_delay():
    # 2 two-qubit and 4 one-qubit gates over 2 qubits: (2 * 4 + 4 * 1) / 2 = 6 s deep, + 2 s readout
    features = CircuitFeatures(qubits=2, gates=6, two_qubit_gates=2, measurements=2, mid_measurements=0)
    assert QPU.seconds(features, 2) == 10.0 + 5.0 + 2 * (3.0 + 6.0 + 2.0)


def test_a_pilot_scales_its_device_model_and_a_qpu_model_comes_first():
    sim = PilotModel("sim", "cpu", "aer", workers=1, simulator=SIMULATOR, scale=2.0)
    assert sim.circuit_seconds(FEATURES, 10) == pytest.approx(2.0 * SIMULATOR.seconds(FEATURES, 10))
    qpu = PilotModel("qpu", "qpu", "ibm_torino", workers=1, simulator=SIMULATOR, qpu=QPU)
    assert qpu.circuit_seconds(FEATURES, 1) == QPU.seconds(FEATURES, 1)
    with pytest.raises(ValueError, match="pilot 'bare' has no model: calibrate it first"):
        PilotModel("bare", "cpu", "aer", workers=1).circuit_seconds(FEATURES, 1)


def test_a_probes_factor_scales_only_the_state_sized_part():
    sim = PilotModel("sim", "cpu", "aer", workers=1, simulator=SIMULATOR, scale=2.0)
    state = SIMULATOR.state_seconds(FEATURES, 10)
    assert sim.anchored_seconds(FEATURES, 10, 3.0) == pytest.approx(
        2.0 * (SIMULATOR.seconds(FEATURES, 10) + 2.0 * state)
    )
    assert sim.anchored_seconds(FEATURES, 10, 1.0) == pytest.approx(sim.circuit_seconds(FEATURES, 10))
    qpu = PilotModel("qpu", "qpu", "ibm_torino", workers=1, qpu=QPU)
    assert qpu.anchored_seconds(FEATURES, 1, 5.0) == qpu.circuit_seconds(FEATURES, 1)


def test_what_a_pilot_can_run_is_its_width_and_for_a_simulator_its_memory():
    small = SimulatorModel(memory_bytes=16 * 2.0**5)
    assert PilotModel("s", "cpu", "aer", 1, simulator=small, max_qubits=30).can_run(5)
    assert not PilotModel("s", "cpu", "aer", 1, simulator=small, max_qubits=30).can_run(6)
    assert not PilotModel("s", "cpu", "aer", 1, simulator=SIMULATOR, max_qubits=4).can_run(5)
    # a QPU's width is its limit, whatever the emulator's memory
    assert PilotModel("q", "qpu", "ibm_x", 1, simulator=small, qpu=QPU, max_qubits=127).can_run(100)


def test_a_pilot_model_survives_a_dict_round_trip():
    for model in (
        PilotModel("sim", "gpu", "aer_gpu", 4, simulator=SIMULATOR, host="n1", host_cores=8),
        PilotModel("qpu", "qpu", "ibm_torino", 1, qpu=QPU, scale=1.3),
        PilotModel("bare", "cpu", "aer", 1),
    ):
        assert PilotModel.from_dict(json.loads(json.dumps(model.to_dict()))) == model


# -- contention and schedules ---------------------------------------------------------------------------


def test_pilots_sharing_a_host_slow_down_when_busy_workers_outnumber_its_cores():
    a = PilotModel("a", "cpu", "aer", workers=3, host="n1", host_cores=4, parallel_slowdown=1.3)
    b = PilotModel("b", "cpu", "aer", workers=3, host="n1", host_cores=4)
    elsewhere = PilotModel("c", "cpu", "aer", workers=1, host="n2", host_cores=4)
    unknown = PilotModel("d", "cpu", "aer", workers=2, parallel_slowdown=1.2)
    pilots = [a, b, elsewhere, unknown]
    # 6 workers on n1's 4 cores: min(6, tasks) / 4, never below 1 or a's measured 1.3
    assert contention(pilots, 10) == {"a": 1.5, "b": 1.5, "c": 1.0, "d": 1.2}
    assert contention(pilots, 5) == {"a": 1.3, "b": 1.25, "c": 1.0, "d": 1.2}
    assert contention(pilots, 1) == {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}


def test_a_schedule_places_each_task_on_the_slot_where_it_finishes_first():
    two = PilotModel("two", "cpu", "aer", workers=2, task_overhead=0.5)
    one = PilotModel("one", "cpu", "aer", workers=1, task_overhead=0.0)
    tasks = [{"two": 2.0, "one": 3.0}, {"two": 2.0, "one": 3.0}, {"two": 2.0, "one": 3.0}, {"one": 1.0}]
    result = schedule(tasks, [two, one])
    # 2.5 on two, 2.5 on two's second slot, 3.0 on one (two's next would end at 5.0), then 4.0 on one
    assert result.placement == ["two", "two", "one", "one"]
    assert result.makespan == 4.0
    assert schedule([{"elsewhere": 1.0, "one": 2.0}], [one]).placement == ["one"]
    with pytest.raises(ValueError, match="a task that no pilot can run"):
        schedule([{"elsewhere": 1.0}], [one])
    assert schedule([], [one]).makespan == 0.0


# -- reconstruction and outcomes ------------------------------------------------------------------------


def test_reconstruction_processing_and_serialising_follow_their_formulas():
    model = ReconstructionModel(
        fixed=1.0,
        per_circuit=0.1,
        per_class=0.01,
        serialise_per_circuit=0.2,
        process_per_outcome=0.001,
        process_per_shot=1e-5,
        process_per_circuit=0.5,
    )
    assert model.seconds(10, 100.0, 3) == pytest.approx(1.0 + 0.1 * 10 + 0.01 * 100 * 4)
    assert model.processing(50.0, 1000) == pytest.approx(0.5 + 0.001 * 50 + 1e-5 * 1000)
    assert model.serialising(10) == pytest.approx(2.0)


def test_a_profile_saved_before_the_rename_loads_its_qpy_cost():
    data = json.loads(Profile(pilots={}).to_json())
    data["reconstruction"]["pack_per_circuit"] = data["reconstruction"].pop("serialise_per_circuit")
    data["reconstruction"]["pack_per_circuit"] = 0.125
    assert Profile.from_json(json.dumps(data)).reconstruction.serialise_per_circuit == 0.125


def test_expected_distinct_outcomes():
    assert distinct_outcomes(1, 1) == 1.0
    assert distinct_outcomes(1, 2) == 2 * (1 - 0.5**2)
    assert distinct_outcomes(50, 1000) == 1000.0  # a space beyond 10^12: every shot differs
    assert seen_outcomes(4.0, 0.0) == 0.0
    assert seen_outcomes(4.0, 8.0) == pytest.approx(4.0 * (1 - math.exp(-2.0)))
    assert batch_outcomes(10.0, 100, 4) == seen_outcomes(10.0, 25.0)
    assert batch_outcomes(0.0, 100, 4) == 0.0 and batch_outcomes(10.0, 0, 4) == 0.0


@settings(max_examples=100, deadline=None)
@given(bits=st.integers(0, 60), shots=st.integers(1, 10**6))
def test_distinct_outcomes_never_exceed_the_shots_or_the_space(bits, shots):
    seen = distinct_outcomes(bits, shots)
    assert 1.0 - 1e-9 <= seen <= min(float(shots), 2.0**bits) * (1 + 1e-9)


# -- profile ------------------------------------------------------------------------------------------


def profile() -> Profile:
    return Profile(
        pilots={
            "cpu": PilotModel("cpu", "cpu", "aer", 2, simulator=SIMULATOR, calibrated_qubits=18),
            "qpu": PilotModel("qpu", "qpu", "fake_torino", 1, qpu=QPU),
        },
        reconstruction=ReconstructionModel(fixed=0.25),
        host="login1",
        created="2026-01-02T03:04:05",
        samples={"cpu": [{"qubits": 4.0, "seconds": 0.01}]},
        measured={"probe|cpu|aer|abc|1024": [1.5], "outcomes|abc|1024": [12.0]},
    )


def test_a_profile_round_trips_through_json_text_and_files(tmp_path):
    original = profile()
    text = original.to_json()
    assert json.loads(text)["version"] == PROFILE_VERSION  # plain JSON, never pickle
    assert Profile.from_json(text) == original
    path = str(tmp_path / "profile.json")
    original.save(path)
    assert Profile.load(path) == original


def test_a_profile_of_another_version_asks_to_calibrate_again():
    data = json.loads(profile().to_json())
    data["version"] = PROFILE_VERSION - 1
    with pytest.raises(ValueError, match=f"profile version {PROFILE_VERSION - 1} is not {PROFILE_VERSION}"):
        Profile.from_json(json.dumps(data))


def test_a_profile_without_samples_or_measurements_reads_them_as_empty():
    data = json.loads(profile().to_json())
    del data["samples"], data["measured"]
    loaded = Profile.from_json(json.dumps(data))
    assert (loaded.samples, loaded.measured) == ({}, {})
    assert loaded.pilots == profile().pilots
