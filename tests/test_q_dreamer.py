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
from parsl_quantum.devices import get_device
from parsl_quantum.motifs import circuit_cutting
from parsl_quantum.providers import PilotDescription
from parsl_quantum.q_dreamer import PlanningError, Profile, QDreamer
from parsl_quantum.q_dreamer.model.calibrate import relative_errors
from parsl_quantum.q_dreamer.model.models import CircuitFeatures, PilotModel, SimulatorModel
from parsl_quantum.q_dreamer.model.schedule import schedule
from tests import refs
from tests.refs import ghz

# the module asserts planning times (milliseconds for a known structure): it runs alone
pytestmark = [pytest.mark.slow, pytest.mark.timing]


def su2(n: int, seed: int = 1):
    return refs.su2(n, seed)


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
    dreamer.calibrate(executor, max_width=18)
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
    # a measurement followed only by gates no later measurement sees costs no branching (a gate cut's
    # measurement near the end of a fragment); one whose qubit reaches a later measurement does
    dead = QuantumCircuit(3, 2)
    dead.cx(0, 1)
    dead.measure(1, 1)
    dead.rz(0.3, 1)
    dead.cx(1, 2)
    dead.measure(0, 0)
    assert CircuitFeatures.of(dead).mid_measurements == 0
    dead.cx(2, 0)
    dead.measure(0, 0)
    assert CircuitFeatures.of(dead).mid_measurements == 2  # qubit 1 reaches qubit 0 through 2; and 0 itself


def test_schedule_places_each_task_where_it_finishes_first():
    fast = PilotModel("fast", "cpu", "aer", workers=2, task_overhead=0.0, simulator=SimulatorModel())
    slow = PilotModel("slow", "qpu", "fake_torino", workers=1, task_overhead=0.0, simulator=SimulatorModel())
    tasks = [{"fast": 1.0, "slow": 3.0} for _ in range(5)]
    result = schedule(tasks, [fast, slow])
    # fast slots free at 0,0 -> 1,1 -> 2,2: five tasks end at 3 on fast, or the fifth on slow at 3
    assert result.makespan == pytest.approx(3.0)
    assert result.placement[:4] == ["fast"] * 4


def test_a_device_that_defers_measurements_runs_a_wider_circuit_without_branching():
    features = CircuitFeatures(13, 60, 12, 2, 1)
    defers = SimulatorModel(max_deferred=4, memory_bytes=16 * 2.0**14)
    assert defers.as_run(features, 6144) == CircuitFeatures(14, 61, 13, 2, 0)
    assert defers.seconds(features, 6144) < SimulatorModel(c4=20e-6).seconds(features, 6144)
    assert defers.as_run(features, 1) == features  # more outcomes than shots: branching is cheaper
    assert SimulatorModel(max_deferred=4, memory_bytes=16 * 2.0**13).as_run(features, 6144) == features
    assert SimulatorModel().as_run(features, 6144) == features  # a device that branches


def test_gate_cut_enumeration_finds_what_the_addons_search_finds():
    from parsl_quantum.q_dreamer.planning.decompose import find_gate_cuts, find_structure

    two_layers = efficient_su2(12, entanglement="linear", reps=2)
    two_layers = two_layers.assign_parameters(np.linspace(0.1, 2.0, two_layers.num_parameters))
    observable = ["Z" * 12]
    assert find_gate_cuts(two_layers, observable, 1, 11) is None  # every neighbour pair shares two CX
    ours = find_gate_cuts(two_layers, observable, 2, 11)
    addon = find_structure(two_layers, observable, ours.widest)
    assert sorted(ours.widths.values()) == sorted(addon.widths.values()) == [6, 6]
    assert ours.cuts == addon.cuts and ours.sampling_overhead == pytest.approx(addon.sampling_overhead)
    three = find_gate_cuts(ghz(12, measure=False), ["Z" * 12], 3, 11)
    assert sorted(three.widths.values()) == [3, 3, 3, 3] and three.sampling_overhead == pytest.approx(9**3)
    # a Toffoli (six CX between its three qubits once decomposed) is more than one cut can take apart:
    # the cut goes elsewhere, or nowhere
    joined = QuantumCircuit(4)
    joined.ccx(0, 1, 2)
    joined.cx(2, 3)
    assert sorted(find_gate_cuts(joined, ["ZZZZ"], 1, 3).widths.values()) == [1, 3]
    assert find_gate_cuts(joined, ["ZZZZ"], 1, 2) is None


def test_statevector_memory_decides_what_fits():
    model = SimulatorModel(memory_bytes=16 * 2.0**20)
    assert model.fits(20) and not model.fits(21)


# -- calibration ------------------------------------------------------------------------------------


def test_calibration_is_quick_accurate_and_saves_as_json(env, tmp_path):
    executor, dreamer, calibration_s = env
    assert calibration_s < 120  # under a minute on a quiet 2-core machine; tests share it with others
    profile = dreamer.profile
    assert set(profile.pilots) == {"cpu", "narrow"}
    cpu = profile.pilots["cpu"]
    assert cpu.simulator.c1 > 0 and cpu.task_overhead > 0 and profile.reconstruction.serialise_per_circuit > 0
    recon = profile.reconstruction
    assert recon.fixed + recon.per_circuit + recon.per_class > 0  # nonnegative fit, not all zero
    assert profile.pilots["narrow"].max_qubits == 10
    # Aer defers the benchmark circuits' mid-circuit measurements; the fit sees the circuits it ran
    assert cpu.simulator.max_deferred == 4
    assert [s["ancillas"] for s in profile.samples["cpu"] if s["mid_measurements"]] == [
        s["mid_measurements"] for s in profile.samples["cpu"] if s["mid_measurements"]
    ]
    timed = [s for s in profile.samples["cpu"] if s["seconds"] > 0.05]
    errors = np.abs(relative_errors(cpu.simulator, timed))
    print("calibration fit errors", np.round(errors, 3))
    # a fit that is wrong misses by several times; a right one by 0.02-0.2 alone on this 2-core machine, by
    # up to 0.32 (median) in a CI run and 0.43 beside another test's pilots, from the machine's timing noise
    assert np.median(errors) < 0.6, errors
    path = tmp_path / "profile.json"
    profile.save(str(path))
    assert path.read_text().lstrip().startswith("{")
    loaded = Profile.load(str(path))
    assert loaded.pilots["cpu"].simulator == cpu.simulator and loaded.reconstruction == profile.reconstruction


# -- planning ---------------------------------------------------------------------------------------


def test_plan_weighs_candidates_at_equal_precision_and_picks_the_quickest(env):
    executor, dreamer, _ = env
    plan = dreamer.plan(su2(20), "Z" * 20, executor, shots=4096)
    everything = [plan, *plan.alternatives]
    # once weighed, every candidate's planning is spent: the one that finishes first is chosen
    assert plan.predicted_makespan_s == min(p.predicted_makespan_s for p in everything)
    # every count of cuts up to max_cuts is either weighed or pruned by its lower bound
    assert {0, 1} <= {p.num_cuts for p in everything}
    assert len(everything) - 1 + plan.pruned >= dreamer.max_cuts
    whole = next(p for p in everything if not p.cut)
    one_cut = next(p for p in everything if p.num_cuts == 1)
    assert whole.shots == 4096 and whole.predicted_speedup == pytest.approx(1.0)
    assert one_cut.subcircuit_size == 10 and one_cut.num_subexperiments == 12
    # the same target standard error: a CX cut (kappa 3) needs 9x the shots
    for p in everything:
        assert p.predicted_stderr <= plan.target_stderr * (1 + 1e-9)
        assert p.predicted_stderr >= 0.95 * plan.target_stderr
        assert p.predicted_speedup == pytest.approx(whole.predicted_makespan_s / p.predicted_makespan_s)
    assert one_cut.shots == 9 * 4096
    assert plan.planning_s < 10
    table = plan.table()
    assert "*" in table and "cut to 10 qubits" in table and "planning s" in table and "stderr" in table


def test_a_circuit_wider_than_its_pilot_is_cut_and_correct(env):
    executor, dreamer, _ = env
    circuit = su2(14, seed=4)
    observables = ["Z" * 14, "I" * 6 + "ZZ" + "I" * 6]
    plan = dreamer.plan(circuit, observables, executor, shots=2000, pilot="narrow")
    assert all(p.cut for p in [plan, *plan.alternatives])  # 14 qubits do not fit a 10-qubit pilot
    assert math.isinf(plan.predicted_speedup)
    result = plan.submit_reconstruction().result()
    assert {r.pilot for r in executor.metrics()[-3:]} == {"narrow"}
    truth = [exact(circuit, o) for o in observables]
    assert np.all(np.abs(result.values - truth) <= 5 * np.maximum(result.stderr, 1e-3))


def test_pieces_no_gate_joins_run_apart_without_a_cut(env):
    from parsl_quantum.q_dreamer.planning.decompose import find_gate_cuts

    executor, dreamer, _ = env
    circuit = QuantumCircuit(15)  # two 7-qubit chains and a qubit no gate acts on
    for first in (0, 7):
        for q in range(first, first + 7):
            circuit.ry(0.2 + 0.1 * q, q)
        for q in range(first, first + 6):
            circuit.cx(q, q + 1)
    observables = ["Z" * 15, "I" * 7 + "ZZ" + "I" * 6]
    assert sorted(find_gate_cuts(circuit, observables, 0, 14).widths.values()) == [1, 7, 7]
    plan = dreamer.plan(circuit, observables, executor, shots=2000, pilot="narrow")
    assert plan.cut and plan.num_cuts == 0 and plan.subcircuit_size == 7
    result = plan.submit_reconstruction().result()
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
    plan = dreamer.plan(circuit, observables, executor, shots=3000, pilot="narrow")  # too wide to run whole
    cut = next(p for p in [plan, *plan.alternatives] if p.num_cuts == 1)
    result = cut.submit_reconstruction().result()
    truth = [exact(circuit, o) for o in observables]
    assert np.all(np.abs(result.values - truth) <= 5 * np.maximum(result.stderr, 1e-3)), (
        result.values,
        truth,
    )


def test_shots_chosen_for_a_precision_meet_it_over_repeated_runs(env):
    executor, dreamer, _ = env
    circuit, target = su2(12, seed=6), 0.03
    plan = dreamer.plan(circuit, ["Z" * 12], executor, precision=target, pilot="narrow")
    cut = next(p for p in [plan, *plan.alternatives] if p.num_cuts == 1)
    assert cut.predicted_stderr <= target + 1e-9
    runs = [cut.submit_reconstruction(seed=i).result() for i in range(8)]
    values = np.array([r.values[0] for r in runs])
    stderrs = np.array([r.stderr[0] for r in runs])
    assert values.std(ddof=1) <= 1.6 * target  # 8 runs: the sample spread is itself uncertain by ~25%
    assert np.median(stderrs) <= target
    assert abs(values.mean() - exact(circuit, "Z" * 12)) < 3 * target / math.sqrt(8) + 0.01


def test_planner_predictions_feed_earliest_finish_and_refine_online(env):
    import copy

    from parsl_quantum.executors.durations import signature_of
    from parsl_quantum.q_dreamer.dreamer import MIN_REFINING_S, SCALE_LIMITS

    executor, dreamer, _ = env
    fresh = QDreamer(copy.deepcopy(dreamer.profile))
    fresh.profile.pilots["cpu"].scale = 1.0
    # the precision of 65,536 shots whole: fragment tasks long enough to refine the model
    plan = fresh.plan(su2(20), "Z" * 20, executor, pilot="cpu", shots=65536)
    cut = next(p for p in [plan, *plan.alternatives] if p.num_cuts == 1)
    future = cut.submit_reconstruction()
    (name, qubits, shots), _ = cut._prediction.expected[0]
    # fragments of the same width and shots share a signature: its prior is the latest prediction of one
    same = [p for key, p in cut._prediction.expected if key == (name, qubits, shots)]
    assert fresh.prior(signature_of(name, qubits, shots), "cpu") == pytest.approx(same[-1]["cpu"])
    future.result()
    run = _run_record(executor, cut.plan_id)
    assert len(run["tasks"]) == len(cut._prediction.expected)
    ratios = [t["measured_s"] / t["predicted_s"] for t in run["tasks"]]
    # a sanity bound only: prediction accuracy is measured by benchmarks/bench_planner.py on a quiet
    # machine; tests share theirs with other work, and a loaded host slows tasks many times over
    assert 0.1 < float(np.median(ratios)) < 10
    informative = [r for r, t in zip(ratios, run["tasks"], strict=True) if t["predicted_s"] >= MIN_REFINING_S]
    assert informative, [t["predicted_s"] for t in run["tasks"]]
    expected = min(max(float(np.median(informative)), SCALE_LIMITS[0]), SCALE_LIMITS[1])
    assert fresh.profile.pilots["cpu"].scale == pytest.approx(expected)
    assert not fresh._pending  # per-task state is dropped once observed


def _run_record(executor, plan_id, timeout=10.0):
    """The run record of a plan in the run directory's plans.jsonl (written once its tasks are in)."""
    import json

    path = os.path.join(executor.run_dir, "q_dreamer", "plans.jsonl")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    record = json.loads(line)
                    if record["kind"] == "run" and record["plan_id"] == plan_id:
                        return record
        time.sleep(0.05)
    raise AssertionError(f"no run record for plan {plan_id} in {path}")


def test_circuit_cutting_motif_with_the_planner(env):
    executor, dreamer, _ = env

    @circuit_cutting(executors=["quantum"], planner=dreamer, shots=4000)
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


# -- precision, validation and limits ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("precision", "shots", "message"),
    [
        (0, None, "precision must be finite and above 0"),
        (-0.1, None, "precision must be finite and above 0"),
        (math.nan, None, "precision must be finite and above 0"),
        (math.inf, None, "precision must be finite and above 0"),
        ("0.1", None, "precision must be a number"),
        (None, 0, "shots must be a positive integer"),
        (None, -5, "shots must be a positive integer"),
        (None, 2.5, "shots must be a positive integer"),
        (None, True, "shots must be a positive integer"),
        (0.01, 1000, "give shots or precision, not both"),
    ],
)
def test_plan_rejects_bad_precision_and_shots(precision, shots, message):
    with pytest.raises(ValueError, match=message):
        QDreamer().plan(su2(6), "Z" * 6, executor=None, precision=precision, shots=shots)


def test_a_precision_beyond_the_limits_names_the_shots_needed(env):
    executor, dreamer, _ = env
    with pytest.raises(PlanningError, match=r"whole needs 1000000000000 shots"):
        dreamer.plan(su2(8), "Z" * 8, executor, precision=1e-6)
    limited = QDreamer(dreamer.profile, time_limit_s=1.0)
    with pytest.raises(PlanningError, match=r"needs \d+ shots \(predicted .* s, more than 1 s\)"):
        limited.plan(su2(16), "Z" * 16, executor, precision=2e-4)


def test_default_target_is_the_whole_circuit_at_4096_shots(env):
    executor, dreamer, _ = env
    plan = dreamer.plan(su2(12), ["Z" * 12, "I" * 11 + "X"], executor)
    whole = next(p for p in [plan, *plan.alternatives] if not p.cut)
    assert whole.shots == 4096
    assert plan.target_stderr == pytest.approx(whole.predicted_stderr)


# -- planning that pays for itself ---------------------------------------------------------------------


def test_a_known_structure_with_new_angles_is_replanned_in_milliseconds_and_right(env):
    executor, dreamer, _ = env
    first = dreamer.plan(su2(16, seed=20), "Z" + "I" * 15, executor, pilot="narrow")
    assert first.cut
    times, errors = [], []
    for seed in (21, 22, 23):
        circuit = su2(16, seed=seed)
        start = time.perf_counter()
        plan = dreamer.plan(circuit, "Z" + "I" * 15, executor, pilot="narrow")
        times.append(time.perf_counter() - start)
        assert (plan.label, plan.shots) == (first.label, first.shots)
        result = plan.submit_reconstruction(seed=seed).result()
        errors.append(abs(result.values[0] - exact(circuit, "Z" + "I" * 15)) / max(result.stderr[0], 1e-3))
    assert float(np.median(times)) < 0.05, times
    assert max(errors) < 5, errors


def test_the_same_profile_gives_the_same_predictions(env):
    executor, dreamer, _ = env
    first = QDreamer(Profile.from_json(dreamer.profile.to_json()))
    first.plan(su2(18, seed=30), "Z" * 18, executor)  # measures what it needs, and keeps it in the profile
    saved = first.profile.to_json()
    one = QDreamer(Profile.from_json(saved)).plan(su2(18, seed=31), "Z" * 18, executor)
    two = QDreamer(Profile.from_json(saved)).plan(su2(18, seed=32), "Z" * 18, executor)
    assert [p.label for p in [one, *one.alternatives]] == [p.label for p in [two, *two.alternatives]]
    for a, b in zip([one, *one.alternatives], [two, *two.alternatives], strict=True):
        assert b.predicted_makespan_s == pytest.approx(a.predicted_makespan_s, rel=0.10)


def test_calibration_and_probes_run_on_the_pilots_workers_never_the_submitting_host(env, monkeypatch):
    """Q-Dreamer measures a pilot only through tasks bound to it: the planning process builds no device."""
    from parsl_quantum.devices import registry

    executor, dreamer, _ = env

    def refuse(backend, **options):
        raise AssertionError(f"the submitting host built a {backend} device")

    monkeypatch.setattr(registry, "_CACHE", registry.DeviceCache())
    monkeypatch.setattr(registry, "build_device", refuse)
    before = time.time()
    # every candidate weighed (no pruning), so the whole 20-qubit circuit is probed
    fresh = QDreamer(Profile.from_json(dreamer.profile.to_json()), prune=False)
    fresh.profile.measured.clear()  # nothing probed yet: every probe this plan needs runs now
    plan = fresh.plan(su2(20, seed=41), "Z" * 20, executor)
    probes = [r for r in executor.metrics() if r.name == "time_probe" and r.submit >= before]
    assert probes and all(r.outcome == "success" and r.pilot in ("cpu", "narrow") for r in probes)
    assert all(r.worker and r.worker.split(":")[1] != str(os.getpid()) for r in probes)
    calibration = {r.name: r.pilot for r in executor.metrics() if r.submit < before}
    assert {"time_circuits", "noop", "worker_host"} <= set(calibration)
    assert plan.predicted_makespan_s > 0


def test_a_cut_is_weighed_unbound_and_its_probes_run_bound(env, monkeypatch):
    """The planner weighs a cut on its template's parametrised subexperiments (no binding to predict);
    a subexperiment it probes runs bound to the circuit's angles, and its measurement is kept."""
    from parsl_quantum.q_dreamer.model import probe as probe_module

    executor, dreamer, _ = env
    launched = []
    launch = probe_module.Prober._launch

    def spy(self, pilot, circuit, *args):
        launched.append(circuit)
        return launch(self, pilot, circuit, *args)

    monkeypatch.setattr(probe_module.Prober, "_launch", spy)
    fresh = QDreamer(Profile.from_json(dreamer.profile.to_json()), prune=False)
    fresh.profile.measured.clear()
    before = time.time()
    plan = fresh.plan(su2(24, seed=5), "Z" * 24, executor, precision=0.004)
    cut = [p for p in [plan, *plan.alternatives] if p.cut]
    assert cut and all(p._prediction._problem is None for p in cut)  # nothing bound to be weighed
    subsystems = [c for c in launched if c.num_qubits <= max(p.subcircuit_size for p in cut)]
    assert subsystems and all(not circuit.parameters for circuit in launched)
    records = [r for r in executor.metrics() if r.name == "time_probe" and r.submit >= before]
    assert len(records) == len(launched) and all(r.outcome == "success" for r in records)
    probed = [k for k in fresh.profile.measured if k.startswith("probe|")]
    assert len(probed) >= len(subsystems)  # each probe's measurement is kept


def test_planning_a_circuit_gate_cuts_can_split_never_runs_the_addons_search(env, monkeypatch):
    from parsl_quantum.q_dreamer.planning import search

    def refuse(*args, **kwargs):
        raise AssertionError("the addon's cut search ran")

    monkeypatch.setattr(search, "find_structure", refuse)
    executor, dreamer, _ = env
    plan = QDreamer(Profile.from_json(dreamer.profile.to_json()), prune=False).plan(
        su2(16, 5), "Z" * 16, executor
    )
    assert sorted(p.num_cuts for p in [plan, *plan.alternatives]) == [0, 1, 2, 3]


def test_plans_and_runs_are_recorded_in_the_run_directory(env):
    import json

    executor, dreamer, _ = env
    plan = dreamer.plan(su2(12, seed=40), "Z" * 12, executor, shots=1000)
    plan.submit().result()
    run = _run_record(executor, plan.plan_id)
    folder = os.path.join(executor.run_dir, "q_dreamer")
    assert os.stat(folder).st_mode & 0o777 == 0o700
    with open(os.path.join(folder, "plans.jsonl")) as f:
        records = [json.loads(line) for line in f]
    planned = next(r for r in records if r["kind"] == "plan" and r["plan_id"] == plan.plan_id)
    assert planned["qubits"] == 12 and planned["planning_s"] > 0
    assert planned["chosen"]["label"] == plan.label and planned["chosen"]["shots"] == plan.shots
    assert {
        "num_cuts",
        "subcircuit_size",
        "num_subexperiments",
        "predicted_stderr",
        "predicted_makespan_s",
    } <= set(planned["chosen"])
    assert len(planned["alternatives"]) == len(plan.alternatives)
    assert run["predicted_makespan_s"] == pytest.approx(plan.predicted_makespan_s)
    assert run["measured_makespan_s"] > 0
    assert all(t["executor_task_id"] is not None and t["measured_s"] > 0 for t in run["tasks"])


def test_reconstruction_runs_as_a_parsl_task_off_the_result_threads(env):
    executor, dreamer, _ = env
    plan = dreamer.plan(su2(14, seed=41), "Z" * 14, executor, shots=1000, pilot="narrow")
    future = plan.submit_reconstruction()
    future.result()
    record = future.task_record
    assert record["func_name"] == "reconstruct_fragments"
    assert record["executor"] == "_parsl_internal"


# -- circuits that cannot be cut, and circuits beyond memory -------------------------------------------


def test_mid_circuit_measurement_and_if_test_give_the_right_value_or_name_the_feature(env):
    from parsl_quantum.q_dreamer.planning.template import has_classical_control

    executor, dreamer, _ = env
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(1)
    qc.cx(1, 2)
    qc.measure([0, 1, 2], [0, 1, 2])
    # by hand: q0 is 0 or 1 with probability 1/2 each, and q1 = q2 = q0 afterwards
    observables = ["ZZI", "IZZ", "ZII"]  # <Z2 Z1> = 1, <Z1 Z0> = 1, <Z2> = 0
    assert has_classical_control(qc.remove_final_measurements(inplace=False)) is not None
    plan = dreamer.plan(qc, observables, executor, shots=4000, pilot="cpu")
    assert not plan.cut and not plan.alternatives  # such a circuit is never cut
    result = plan.submit_reconstruction().result()
    assert np.allclose(result.values[:2], [1.0, 1.0], atol=1e-9)
    assert abs(result.values[2]) < 5 / math.sqrt(4000)
    wide = QuantumCircuit(14, 1)
    wide.h(0)
    wide.measure(0, 0)
    with wide.if_test((wide.clbits[0], 1)):
        wide.x(1)
    for q in range(1, 13):
        wide.cx(q, q + 1)
    with pytest.raises(PlanningError, match="cannot be cut.*if_else"):
        dreamer.plan(wide, "Z" * 14, executor, pilot="narrow")


def test_a_34_qubit_circuit_beyond_memory_is_cut_and_matches_matrix_product_states(env):
    from qiskit_aer.primitives import EstimatorV2

    executor, dreamer, _ = env
    n = 34
    circuit = su2(n, seed=50)
    observables = [
        SparsePauliOp.from_sparse_list([("ZZ", [n // 2 - 1, n // 2], 1.0)], n),
        SparsePauliOp.from_sparse_list([("Z", [q], 1.0 / n) for q in range(n)], n),
    ]
    assert 16 * 2.0**n > 200 * 2**30  # 256 GiB: no statevector of it fits this machine
    plan = dreamer.plan(circuit, observables, executor, precision=0.02, pilot="cpu")
    assert plan.cut and all(p.cut for p in plan.alternatives) and math.isinf(plan.predicted_speedup)
    result = plan.submit_reconstruction(seed=5).result()
    mps = EstimatorV2(options={"backend_options": {"method": "matrix_product_state"}})
    truth = mps.run([(circuit, observables)]).result()[0].data.evs
    assert np.all(np.abs(result.values - truth) <= 5 * np.maximum(result.stderr, 2e-3)), (
        result.values,
        truth,
    )
