"""Motifs on a real DFK with the default local configuration, checked against exact values."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time

import numpy as np
import parsl
import pytest
from parsl import python_app

from parsl_quantum.configs import local_config
from parsl_quantum.devices import get_device
from parsl_quantum.executors.dfk_executors import INTERNAL_EXECUTOR
from parsl_quantum.motifs import EnsembleError, quantum_app
from parsl_quantum.motifs.circuit_cutting import circuit_cutting
from parsl_quantum.motifs.variational import CheckpointMismatchError
from parsl_quantum.q_dreamer.precision import allocate_shots, cut_shots
from tests import motif_apps as m
from tests import refs
from tests.refs import exact_expectation, ghz


@pytest.fixture(scope="module")
def dfk(tmp_path_factory):
    config = local_config(run_dir=str(tmp_path_factory.mktemp("motifs")))
    loaded = parsl.load(config)
    config.executors[0].wait_for_pilots()
    yield config.executors[0]
    loaded.cleanup()
    parsl.clear()


def executor_of(future) -> str:
    return future.task_record["executor"]


# -- quantum_app --------------------------------------------------------------------------------------


def test_requirement_functions_see_the_arguments(dfk):
    assert m.width_of_device(3).result() == (3, "aer")
    assert next(r for r in reversed(dfk.metrics()) if r.name == "width_of_device").qubits == 3


def test_requirement_functions_wait_for_future_arguments(dfk):
    upstream = python_app(lambda: 4, executors=["classical"])()
    assert m.width_of_device(upstream).result() == (4, "aer")
    assert next(r for r in reversed(dfk.metrics()) if r.name == "width_of_device").qubits == 4


def test_call_overrides_decorator_requirements(dfk):
    future = m.width_of_device(2, parsl_resource_specification={"kinds": ["qpu"]})
    assert future.result() == (2, "fake_torino")


def test_quantum_app_must_name_its_executors():
    with pytest.raises(TypeError, match="must name its executors"):
        quantum_app(lambda *, device: 1, executors=[])
    with pytest.raises(TypeError, match=r"unknown requirement\(s\) \['memory'\]"):
        from parsl_quantum.motifs.quantum_app import QuantumApp

        QuantumApp(lambda *, device: 1, ["quantum"], {"memory": 4})


# -- ensemble -----------------------------------------------------------------------------------------


def test_map_returns_results_in_input_order_and_batches_small_items(dfk):
    thetas = np.linspace(0, 2 * math.pi, 300)
    before = len(dfk.metrics())
    values = m.z0.map(thetas).result()
    assert np.allclose(values, np.cos(thetas), atol=1e-9)
    tasks = len(dfk.metrics()) - before
    assert tasks < 60  # 300 items in far fewer tasks
    assert m.z0.item_seconds is not None and m.z0.item_seconds < 0.1


def test_map_reduce(dfk):
    thetas = np.linspace(0, math.pi, 11)
    assert m.z0.map(thetas, reduce=sum).result() == pytest.approx(float(np.cos(thetas).sum()), abs=1e-9)


def test_failing_items_keep_the_others(dfk):
    with pytest.raises(EnsembleError) as info:
        m.fragile.map(range(12), batch_size=4).result()
    error = info.value
    assert "2 of 12 items failed" in str(error) and "item 3" in str(error)
    assert set(error.failures) == {3, 8}
    assert [r for i, r in enumerate(error.results) if i not in (3, 8)] == [
        i * i for i in range(12) if i not in (3, 8)
    ]


def test_circuit_items_travel_as_qpy_and_sample_correctly(dfk):
    circuits = [ghz(3) for _ in range(6)]
    counts = m.counts_of.map(circuits, 1000).result()
    assert all(set(c) <= {"000", "111"} and sum(c.values()) == 1000 for c in counts)


def test_each_items_requirements_are_honoured_in_batches_of_equal_requirements(dfk):
    since = max((r.done or 0.0 for r in dfk.metrics()), default=0.0)
    results = m.where_it_ran.map(range(12), batch_size=4).result()
    assert results == [(i, "qpu" if i % 3 == 0 else "cpu") for i in range(12)]  # input order, right kind
    batches = [r for r in dfk.metrics() if r.name == "where_it_ran_batch" and r.submit > since]
    # four groups of equal requirements: kind x width; 2, 2, 4 and 4 items, one batch each
    assert sorted((r.kind, r.qubits) for r in batches) == [("cpu", 1), ("cpu", 2), ("qpu", 1), ("qpu", 2)]


def test_requirements_are_one_value_checked_once():
    from parsl.executors.errors import InvalidResourceSpecification

    from parsl_quantum.executors.requirements import REQUIREMENT_KEYS
    from parsl_quantum.motifs import TaskRequirements

    assert {f.name for f in dataclasses.fields(TaskRequirements)} == REQUIREMENT_KEYS
    with pytest.raises(InvalidResourceSpecification, match="qubits"):
        quantum_app(lambda *, device: 1, executors=["quantum"], qubits=-1)
    requirements = TaskRequirements(qubits=lambda n, shots: n, kinds=["cpu"], walltime=30)
    assert requirements.specification((3,), {"shots": 10}, {"priority": 2}) == {
        "qubits": 3,
        "kinds": ["cpu"],
        "walltime": 30,
        "priority": 2,
    }
    assert m.width_of_device.requirements == TaskRequirements(
        qubits=m.width_of_device.requirements.qubits, kinds=["cpu"]
    )


# -- variational --------------------------------------------------------------------------------------


def exact_two_qubit(params) -> float:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

    qc = QuantumCircuit(2)
    qc.ry(params[0], 0)
    qc.ry(params[1], 1)
    qc.cx(0, 1)
    return exact_expectation(qc, SparsePauliOp(["ZZ", "XI"], [1.0, 0.5]))


def test_parameter_shift_gradient_is_exact(dfk):
    from parsl_quantum.motifs.variational import _Evaluator
    from parsl_quantum.motifs.variational_checkpoint import Checkpoint

    x = np.array([0.7, -0.4])
    evaluator = _Evaluator(m.two_qubit_energy, (), {}, True, Checkpoint(None, {}))
    value, gradient = evaluator.evaluate(x)
    h = 1e-6
    numeric = [
        (exact_two_qubit(x + h * np.eye(2)[k]) - exact_two_qubit(x - h * np.eye(2)[k])) / (2 * h)
        for k in range(2)
    ]
    assert value == pytest.approx(exact_two_qubit(x), abs=1e-9)
    assert np.allclose(gradient, numeric, atol=1e-6)
    assert evaluator.tasks == 5  # energy and 2 shifts per parameter, in parallel


def test_minimize_finds_the_minimum_with_history(dfk):
    from scipy.optimize import minimize

    grid = np.linspace(-math.pi, math.pi, 61)
    start = min(((a, b) for a in grid for b in grid), key=exact_two_qubit)
    best = minimize(exact_two_qubit, start, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-12}).fun
    result = m.two_qubit_energy.minimize([0.3, 0.2], method="BFGS", maxiter=50).result()
    assert result.fun == pytest.approx(best, abs=1e-3)
    assert result.nit == len(result.history) and result.history[-1].fun == pytest.approx(result.fun, abs=1e-9)
    cobyla = m.two_qubit_energy.minimize([0.3, 0.2], method="COBYLA", maxiter=80).result()
    assert cobyla.fun == pytest.approx(best, abs=1e-2)


def test_resume_from_checkpoint_replays_and_continues(dfk, tmp_path):
    path = str(tmp_path / "vqe.json")
    uninterrupted = m.two_qubit_energy.minimize([0.3, 0.2], method="BFGS", maxiter=8).result()
    first = m.two_qubit_energy.minimize([0.3, 0.2], method="BFGS", maxiter=3, checkpoint=path).result()
    resumed = m.two_qubit_energy.minimize([0.3, 0.2], method="BFGS", maxiter=8, checkpoint=path).result()
    assert resumed.replayed == first.nfev and resumed.tasks < uninterrupted.tasks
    assert np.allclose(resumed.x, uninterrupted.x) and resumed.fun == uninterrupted.fun
    assert [h.x for h in resumed.history] == [h.x for h in uninterrupted.history]
    with open(path) as f:
        assert len(json.load(f)["evaluations"]) == uninterrupted.nfev
    assert os.stat(path).st_mode & 0o777 == 0o600  # readable by its owner only
    with pytest.raises(CheckpointMismatchError, match="written for"):
        m.two_qubit_energy.minimize([1.0, 1.0], method="BFGS", checkpoint=path).result()


def test_32_concurrent_minimizations_hold_no_parsl_thread(dfk):
    """32 optimisations at once on the default internal thread pool (10 threads): each finds its exact
    optimum, and while they wait, the DataFlowKernel's internal executor stays free for other work."""
    assert parsl.dfk().config.internal_tasks_max_threads == 10  # the default
    offsets = np.random.default_rng(1).uniform(-1, 1, size=(32, 2))
    start = time.perf_counter()
    futures = [
        m.offset_energy.minimize(o + math.pi + np.array([0.7, -0.6]), o.tolist(), method="BFGS", maxiter=40)
        for o in offsets
    ]
    python_app(lambda: None, executors=[INTERNAL_EXECUTOR])().result(timeout=60)
    # that probe of the internal executor ran while more optimisations were under way than it has threads
    still_running = sum(not f.done() for f in futures)
    results = [f.result(timeout=600) for f in futures]
    wall = time.perf_counter() - start
    print(f"32 concurrent minimize calls: {wall:.1f} s, {sum(r.tasks for r in results)} tasks")
    assert still_running > 10
    for o, result in zip(offsets, results, strict=True):
        assert result.fun == pytest.approx(-2.0, abs=1e-9)
        assert np.abs(np.angle(np.exp(1j * (result.x - o - math.pi)))).max() < 1e-4
        assert result.nit == len(result.history) >= 1


def test_private_files_ignore_the_umask(tmp_path):
    from parsl_quantum.motifs.private_files import make_new_private_folder, make_private_folder, write_private

    old = os.umask(0)
    try:
        folder = make_private_folder(str(tmp_path / "a" / "b"))
        fresh = make_new_private_folder(os.path.join(folder, "c"))
        path = os.path.join(fresh, "f")
        with open(path, "w") as f:  # an existing file, readable by all
            f.write("old")
        write_private(path, b"new")
    finally:
        os.umask(old)
    assert [os.stat(p).st_mode & 0o777 for p in (folder, fresh, path)] == [0o700, 0o700, 0o600]
    assert open(path).read() == "new" and os.listdir(fresh) == ["f"]


# -- pipeline -----------------------------------------------------------------------------------------


def test_pipeline_stages_run_where_they_belong_and_overlap(dfk):
    futures = m.stages.map([0.0, 0.5, 1.0, 1.5], scale=2.0)
    results = [f.result() for f in futures]
    assert [v for v, _ in results] == pytest.approx([2 * math.cos(t) for t in (0.0, 0.5, 1.0, 1.5)], abs=1e-9)
    assert executor_of(futures[0]) == "classical"
    # each input moves on alone: the first input finished before the last one's quantum stage did
    finished_first = results[0][1]
    quantum_done = [r for r in dfk.metrics() if r.name == "run_stage"][-4:]
    assert finished_first < max(r.end for r in quantum_done)


# -- circuit cutting ----------------------------------------------------------------------------------


def test_shots_spread_in_proportion_to_coefficients():
    from qiskit.quantum_info import SparsePauliOp
    from qiskit_addon_cutting.qpd import WeightType

    coefficients = [(0.5, WeightType.EXACT), (-0.25, WeightType.EXACT), (0.25, WeightType.EXACT)]
    assert allocate_shots(coefficients, 1000) == [500, 250, 250]
    assert allocate_shots(coefficients, 20) == [16, 16, 16]  # every term gets enough to be estimated
    assert cut_shots(3.0, [SparsePauliOp("Z")], 0.01) == 90000


def ghz_chain(n: int):
    return ghz(n, measure=False)


@circuit_cutting(
    executors=["quantum"], subcircuit_size=3, shots=30000, kinds=["cpu"], classical_executors=["classical"]
)
def ghz_problem(n):
    return ghz_chain(n), ["Z" * n, "ZZ" + "I" * (n - 2), "X" * n]


@circuit_cutting(executors=["quantum"], subcircuit_size=4, shots=30000, kinds=["cpu"])
def su2_problem(n, seed):
    qc = refs.su2(n, seed)
    return qc, ["Z" + "I" * (n - 1), "I" * (n // 2 - 1) + "ZZ" + "I" * (n // 2 - 1)]


@pytest.mark.parametrize("n", [6])
def test_cut_ghz_chain_within_five_sigma(dfk, n):
    result = ghz_problem.run(n).result()
    exact = [exact_expectation(ghz_chain(n), o) for o in ["Z" * n, "ZZ" + "I" * (n - 2), "X" * n]]
    assert np.all(np.abs(result.values - exact) <= 5 * np.maximum(result.stderr, 1e-3))
    assert np.all(result.stderr < 0.1)


def test_cut_efficient_su2_within_five_sigma_and_call_returns_values(dfk):
    result = su2_problem.run(8, 3).result()
    circuit, observables = su2_problem.func(8, 3)
    exact = get_device("aer").estimate(circuit, observables)
    assert np.all(np.abs(result.values - exact) <= 5 * np.maximum(result.stderr, 1e-3))
    values = su2_problem(8, 3).result()
    assert isinstance(values, np.ndarray) and values.shape == (2,)
    assert np.all(np.abs(values - exact) < 0.1)
