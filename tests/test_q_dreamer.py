"""Q-Dreamer on real pilots: calibration, planning, the DAG rewrite, and correctness of cut results."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time

import networkx as nx
import numpy as np
import parsl
import pytest
from qiskit import QuantumCircuit, qasm2
from qiskit.circuit.library import efficient_su2
from qiskit.quantum_info import SparsePauliOp

from parsl_quantum.configs import local_config
from parsl_quantum.motifs import circuit_cutting
from parsl_quantum.providers import PilotDescription, get_device
from parsl_quantum.q_dreamer import PlanningError, Profile, QDreamer
from parsl_quantum.q_dreamer.calibrate import relative_errors
from parsl_quantum.q_dreamer.models import CircuitFeatures, PilotModel, SimulatorModel, schedule
from tests.refs import ghz

pytestmark = pytest.mark.slow


def su2(n: int, seed: int = 1) -> QuantumCircuit:
    qc = efficient_su2(n, entanglement="linear", reps=1)
    return qc.assign_parameters(np.random.default_rng(seed).uniform(-np.pi, np.pi, qc.num_parameters))


def qaoa_two_communities(n: int, seed: int = 2) -> tuple[QuantumCircuit, SparsePauliOp]:
    """p=1 QAOA on two random 3-regular communities joined by one edge (a sparse graph)."""
    half = n // 2
    graph = nx.disjoint_union(
        nx.random_regular_graph(3, half, seed=seed), nx.random_regular_graph(3, half, seed=seed + 1)
    )
    graph.add_edge(half - 1, half)
    qc = QuantumCircuit(n, name="qaoa")
    qc.h(range(n))
    for i, j in graph.edges:
        qc.rzz(0.8, i, j)
    qc.rx(0.6, range(n))
    cost = SparsePauliOp.from_sparse_list([("ZZ", [i, j], 1.0) for i, j in graph.edges], n)
    return qc, cost


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    threads = {"max_parallel_threads": 1}
    pilots = [
        PilotDescription(name="cpu", kind="cpu", backend="aer", workers=2, options=threads),
        PilotDescription(name="narrow", kind="cpu", backend="aer", workers=1, qubits=10, options=threads),
    ]
    config = local_config(pilots=pilots, classical_workers=0, run_dir=str(tmp_path_factory.mktemp("dreamer")))
    dfk = parsl.load(config)
    executor = config.executors[0]
    executor.wait_for_pilots()
    dreamer = QDreamer()
    start = time.time()
    dreamer.calibrate(executor)
    calibration_s = time.time() - start
    warm = dreamer.plan(su2(8), "Z" * 8, executor, shots=200)  # workers import the fragment code once
    warm.submit().result()
    for alt in warm.alternatives:
        alt.submit().result()
    yield executor, dreamer, calibration_s
    dfk.cleanup()
    parsl.clear()


def exact(circuit: QuantumCircuit, observable) -> float:
    return float(get_device("aer").estimate(circuit, observable))


# -- models ---------------------------------------------------------------------------------------


def test_features_count_mid_circuit_measurements():
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    features = CircuitFeatures.of(qc)
    assert (features.qubits, features.gates, features.two_qubit_gates) == (2, 2, 1)
    assert features.measurements == 3 and features.mid_measurements == 1
    assert features.branches(4096) == 2 and CircuitFeatures.of(ghz(3)).branches(4096) == 1


def test_schedule_places_each_task_where_it_finishes_first():
    fast = PilotModel("fast", "cpu", "aer", workers=2, task_overhead=0.0, simulator=SimulatorModel())
    slow = PilotModel("slow", "qpu", "fake_torino", workers=1, task_overhead=0.0, simulator=SimulatorModel())
    tasks = [{"fast": 1.0, "slow": 3.0} for _ in range(5)]
    result = schedule(tasks, [fast, slow])
    # fast slots free at 0,0 -> 1,1 -> 2,2: five tasks end at 3 on fast, or the fifth on slow at 3
    assert result.makespan == pytest.approx(3.0)
    assert result.placement[:4] == ["fast"] * 4


def test_statevector_memory_decides_what_fits():
    model = SimulatorModel(memory_bytes=16 * 2.0**20)
    assert model.fits(20) and not model.fits(21)


# -- calibration ------------------------------------------------------------------------------------


def test_calibration_is_quick_accurate_and_saves_as_json(env, tmp_path):
    executor, dreamer, calibration_s = env
    assert calibration_s < 60
    profile = dreamer.profile
    assert set(profile.pilots) == {"cpu", "narrow"}
    cpu = profile.pilots["cpu"]
    assert cpu.simulator.c1 > 0 and cpu.task_overhead > 0 and profile.reconstruction.pack_per_circuit > 0
    recon = profile.reconstruction
    assert recon.fixed + recon.per_circuit + recon.per_shot > 0  # nonnegative fit, not all zero
    assert profile.pilots["narrow"].max_qubits == 10
    timed = [s for s in profile.samples["cpu"] if s["seconds"] > 0.05]
    errors = np.abs(relative_errors(cpu.simulator, timed))
    assert np.median(errors) < 0.3
    path = tmp_path / "profile.json"
    profile.save(str(path))
    assert path.read_text().lstrip().startswith("{")
    loaded = Profile.load(str(path))
    assert loaded.pilots["cpu"].simulator == cpu.simulator and loaded.reconstruction == profile.reconstruction


# -- planning ---------------------------------------------------------------------------------------


def test_plan_weighs_whole_and_every_cut_count_and_picks_the_fastest(env):
    executor, dreamer, _ = env
    plan = dreamer.plan(su2(20), "Z" * 20, executor, shots=4096)
    everything = [plan, *plan.alternatives]
    assert plan.predicted_makespan_s == min(p.predicted_makespan_s for p in everything)
    assert {p.num_cuts for p in everything} == {0, 1, 2, 3}
    whole = next(p for p in everything if not p.cut)
    assert whole.predicted_speedup == pytest.approx(1.0)
    for p in everything:
        assert p.predicted_speedup == pytest.approx(whole.predicted_makespan_s / p.predicted_makespan_s)
    one_cut = next(p for p in everything if p.num_cuts == 1)
    assert one_cut.subcircuit_size == 10 and one_cut.num_subexperiments == 12
    assert plan.planning_s < 5
    assert "*" in plan.table() and "cut to 10 qubits" in plan.table()


def test_a_circuit_wider_than_its_pilot_is_cut_and_correct(env):
    executor, dreamer, _ = env
    circuit = su2(14, seed=4)
    observables = ["Z" * 14, "I" * 6 + "ZZ" + "I" * 6]
    plan = dreamer.plan(circuit, observables, executor, shots=20000, pilot="narrow")
    assert all(p.cut for p in [plan, *plan.alternatives])  # 14 qubits do not fit a 10-qubit pilot
    assert math.isinf(plan.predicted_speedup)
    result = plan.submit_reconstruction().result()
    assert {r.pilot for r in executor.metrics()[-3:]} == {"narrow"}
    truth = [exact(circuit, o) for o in observables]
    assert np.all(np.abs(result.values - truth) <= 5 * np.maximum(result.stderr, 1e-3))


@pytest.mark.parametrize("family", ["efficient_su2", "qaoa", "ghz"])
def test_reconstruction_within_five_sigma(env, family):
    executor, dreamer, _ = env
    n = 12
    if family == "efficient_su2":
        circuit, observables = su2(n, seed=9), ["Z" + "I" * (n - 1), "I" * 5 + "ZZ" + "I" * 5]
    elif family == "qaoa":
        circuit, cost = qaoa_two_communities(n)
        observables = [cost]
    else:
        circuit, observables = ghz(n, measure=False), ["Z" * n, "X" * n]
    plan = dreamer.plan(circuit, observables, executor, shots=30000)
    cut = next(p for p in [plan, *plan.alternatives] if p.num_cuts == 1)
    result = cut.submit_reconstruction().result()
    truth = [exact(circuit, o) for o in observables]
    assert np.all(np.abs(result.values - truth) <= 5 * np.maximum(result.stderr, 1e-3)), (
        result.values,
        truth,
    )


def test_shots_chosen_for_a_precision_meet_it_over_repeated_runs(env):
    executor, dreamer, _ = env
    circuit, target = su2(10, seed=6), 0.03
    plan = dreamer.plan(circuit, ["Z" * 10], executor, precision=target)
    cut = next(p for p in [plan, *plan.alternatives] if p.num_cuts == 1)
    assert cut.predicted_stderr <= target + 1e-9
    runs = [cut.submit_reconstruction(seed=i).result() for i in range(8)]
    values = np.array([r.values[0] for r in runs])
    stderrs = np.array([r.stderr[0] for r in runs])
    assert values.std(ddof=1) <= 1.6 * target  # 8 runs: the sample spread is itself uncertain by ~25%
    assert np.median(stderrs) <= target
    assert abs(values.mean() - exact(circuit, "Z" * 10)) < 3 * target / math.sqrt(8) + 0.01


def test_planner_predictions_feed_earliest_finish_and_refine_online(env):
    import copy

    from parsl_quantum.executors.runtime_estimates import signature_of
    from parsl_quantum.q_dreamer.dreamer import MIN_REFINING_S, SCALE_LIMITS

    executor, dreamer, _ = env
    fresh = QDreamer(copy.deepcopy(dreamer.profile))
    fresh.profile.pilots["cpu"].scale = 1.0
    fresh.refine(executor)  # start from now: earlier tasks are not this dreamer's
    fresh.profile.pilots["cpu"].scale = 1.0
    plan = fresh.plan(su2(20), "Z" * 20, executor, shots=40000, pilot="cpu")
    assert executor.estimator.prior is not None
    cut = next(p for p in [plan, *plan.alternatives] if p.num_cuts == 1)
    since = time.time()
    cut.submit_reconstruction().result()
    (name, qubits, shots), per_pilot = cut._prediction.expected[0]
    assert fresh.prior(signature_of(name, qubits, shots), "cpu") == pytest.approx(per_pilot["cpu"])
    time.sleep(0.2)
    records = [r for r in executor.metrics() if r.submit >= since and r.name == "sample_fragment"]
    predictions = [fresh._predicted[r.task_id]["cpu"][0] for r in records]
    ratios = [r.run_time / p for r, p in zip(records, predictions, strict=True)]
    assert 0.5 < float(np.median(ratios)) < 2.0  # the models predict each fragment within a factor of 2
    # the correction is the median of the ratios of tasks long enough to say something about the model
    informative = [q for q, p in zip(ratios, predictions, strict=True) if p >= MIN_REFINING_S]
    assert informative
    expected = min(max(float(np.median(informative)), SCALE_LIMITS[0]), SCALE_LIMITS[1])
    assert fresh.refine(executor) == len(informative)
    assert fresh.profile.pilots["cpu"].scale == pytest.approx(expected)


def test_circuit_cutting_motif_with_the_planner(env):
    executor, dreamer, _ = env

    @circuit_cutting(executors=["quantum"], planner=dreamer, shots=20000)
    def problem(n):
        return su2(n, seed=3), ["Z" + "I" * (n - 1)]

    values = problem(14).result()
    assert abs(values[0] - exact(su2(14, seed=3), "Z" + "I" * 13)) < 0.1


def test_no_plan_when_nothing_fits(env):
    executor, _, _ = env
    limited = QDreamer(env[1].profile, max_cuts=1)
    with pytest.raises(PlanningError, match="no pilot holds it whole.*widest 10"):
        limited.plan(su2(24), "Z" * 24, executor, pilot="narrow")


def test_plan_command_prints_the_table(env, tmp_path):
    _, dreamer, _ = env
    profile = tmp_path / "profile.json"
    dreamer.profile.save(str(profile))
    circuit_file = tmp_path / "su2.qasm"
    circuit_file.write_text(qasm2.dumps(su2(16).decompose()))
    exe = os.path.join(os.path.dirname(sys.executable), "parsl-quantum")
    done = subprocess.run(
        [exe, "plan", str(circuit_file), "--profile", str(profile), "--shots", "2048"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert any(line.startswith("*") for line in lines) and any("whole" in line for line in lines)
    assert "16 qubits" in done.stdout
