"""Parsl app caching and checkpointing of quantum apps on a real DataFlowKernel and real pilots.

An aer pilot ("sim") and a noisy fake_torino pilot ("noisy") serve one QuantumPilotExecutor. Cache hits
are read from Parsl's own task record (``from_memo``), not from timing.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import parsl
import pytest
from parsl import python_app
from parsl.dataflow.memoization import BasicMemoizer, id_for_memo
from parsl.utils import get_all_checkpoints
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.quantum_info import Pauli, SparsePauliOp, Statevector

from parsl_quantum.caching import memo_key_types, register_memo_keys
from parsl_quantum.circuits import QpyCircuits
from parsl_quantum.executors import QuantumPilotExecutor
from parsl_quantum.motifs import quantum_app
from tests.executor_helpers import cpu, qpu, wait_active

NOISY_REQUEST = {"kinds": ["qpu"]}  # allows (here: demands) the noisy QPU emulator
NOISELESS_REQUESTS = [{"kinds": ["cpu"]}, {"min_fidelity": 1.0}, {"pilot": "sim"}]


@pytest.fixture(autouse=True, scope="module")
def memo_keys():
    register_memo_keys()  # QuantumPilotExecutor.start also calls it once its owner wires it in


def ansatz() -> QuantumCircuit:
    theta = Parameter("theta")
    qc = QuantumCircuit(2)
    qc.ry(theta, 0)
    qc.cx(0, 1)
    return qc


def energy(circuit, observable, values, *, device):
    """<observable> of ``circuit`` with its parameters bound to ``values``; where it ran, and the value."""
    bound = circuit.assign_parameters(values)
    shots = None if device.capabilities.exact_expectation else 4000
    return device.name, float(device.estimate(bound, observable, shots=shots))


cached_energy = python_app(energy, executors=["quantum"], cache=True)
noiseless_energy = quantum_app(energy, executors=["quantum"], cache=True, kinds=["cpu"])
OBSERVABLE = SparsePauliOp(["ZZ", "XX"], [1.0, 0.5])
STARTUP_S = 300  # the noisy pilot's workers build fake_torino before it is active; CI's cores are shared


def exact(theta):
    """ry(t)|0> then CX gives cos(t/2)|00> + sin(t/2)|11>: <ZZ> = 1, <XX> = sin t."""
    return 1.0 + 0.5 * np.sin(theta)


def executor() -> QuantumPilotExecutor:
    return QuantumPilotExecutor(
        label="quantum", pilots=[cpu(name="sim", workers=1), qpu(name="noisy")], policy="round_robin"
    )


def call(request, theta=0.7):
    future = cached_energy(
        ansatz(), OBSERVABLE, np.array([theta]), parsl_resource_specification=dict(request)
    )
    return future.result(timeout=300), future.task_record["from_memo"]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One DFK, checkpointing at every task exit, for every test of the first run: ``(dfk, executor)``."""
    qex = executor()
    run_dir = str(tmp_path_factory.mktemp("runs") / "runinfo")
    memoizer = BasicMemoizer(checkpoint_mode="task_exit")
    dfk = parsl.load(parsl.config.Config(executors=[qex], run_dir=run_dir, memoizer=memoizer))
    wait_active(qex, "sim", "noisy", timeout=STARTUP_S)
    yield dfk, qex
    if not dfk.cleanup_called:
        dfk.cleanup()
        parsl.clear()


def object_array(*items):
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


# -- keys -------------------------------------------------------------------------------------------
def test_equal_values_built_twice_share_a_key():
    assert id_for_memo(ansatz()) == id_for_memo(ansatz())  # fresh parameter UUIDs, automatic names
    assert id_for_memo(ansatz()) != id_for_memo(ansatz().assign_parameters([0.1]))
    assert id_for_memo(ansatz().assign_parameters([0.1])) != id_for_memo(ansatz().assign_parameters([0.2]))
    assert id_for_memo(SparsePauliOp("ZZ")) != id_for_memo(SparsePauliOp("ZZ", 2.0))
    assert id_for_memo(np.arange(3)) != id_for_memo(np.arange(3.0))
    assert id_for_memo(np.arange(4).reshape(2, 2)) != id_for_memo(np.arange(4))
    assert id_for_memo(object_array(ansatz(), 1.5)) == id_for_memo(object_array(ansatz(), 1.5))
    assert id_for_memo(object_array(ansatz(), 1.5)) != id_for_memo(object_array(ansatz(), 2.5))
    assert id_for_memo(ParameterVector("x", 2)[1]) == id_for_memo(ParameterVector("x", 2)[1])
    assert id_for_memo(ParameterVector("x", 2)[0]) != id_for_memo(ParameterVector("x", 2)[1])
    assert id_for_memo(Parameter("a") * 2) != id_for_memo(Parameter("a") * 3)
    assert id_for_memo(np.float64(0.5)) != id_for_memo(np.float32(0.5))
    assert id_for_memo({1 + 2j, b"x"}) == id_for_memo({b"x", 1 + 2j})
    assert id_for_memo(Pauli("XZ")) != id_for_memo(Pauli("ZX"))
    assert id_for_memo(Statevector.from_label("01")) != id_for_memo(Statevector.from_label("10"))
    assert id_for_memo(QpyCircuits([ansatz().assign_parameters([0.1])]))


def test_registration_is_idempotent_and_keeps_parsl_types():
    register_memo_keys()
    register_memo_keys()
    assert id_for_memo(3.0) == id_for_memo(3.0)
    assert all(id_for_memo.dispatch(cls) is not id_for_memo.registry[object] for cls in memo_key_types())


def test_circuit_key_is_the_same_in_another_process():
    code = (
        "from parsl_quantum.caching import register_memo_keys\n"
        "from parsl.dataflow.memoization import id_for_memo\n"
        "from tests.test_caching import ansatz\n"
        "register_memo_keys()\n"
        "print(id_for_memo(ansatz()).hex())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == id_for_memo(ansatz()).hex()


def test_import_stays_cheap():
    code = "import sys, parsl_quantum.caching; print('qiskit' in sys.modules, 'parsl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# -- on a real DFK ----------------------------------------------------------------------------------
def test_second_call_comes_from_the_cache(first_run):
    (name, value), from_memo = call({"kinds": ["cpu"]}, theta=0.3)
    assert (name, from_memo) == ("aer", False)
    assert value == pytest.approx(exact(0.3), abs=1e-9)
    again, from_memo = call({"kinds": ["cpu"]}, theta=0.3)
    assert from_memo is True and again == (name, value)
    other, from_memo = call({"kinds": ["cpu"]}, theta=0.4)  # a different argument is a different task
    assert from_memo is False and other[1] == pytest.approx(exact(0.4), abs=1e-9)


def test_quantum_app_with_cache(first_run):
    computed = noiseless_energy(ansatz(), OBSERVABLE, np.array([1.1]))
    first = computed.result(timeout=300)
    reused = noiseless_energy(ansatz(), OBSERVABLE, np.array([1.1]))
    assert reused.result(timeout=300) == first
    assert (computed.task_record["from_memo"], reused.task_record["from_memo"]) == (False, True)
    assert first[0] == "aer" and first[1] == pytest.approx(exact(1.1), abs=1e-9)


def test_noisy_result_is_never_reused_for_a_noiseless_request(first_run):
    _, qex = first_run
    before = len(qex.metrics())
    (name, noisy_value), from_memo = call(NOISY_REQUEST, theta=0.9)
    assert (name, from_memo) == ("fake_torino", False)
    assert call(NOISY_REQUEST, theta=0.9) == ((name, noisy_value), True)  # the same request may reuse it
    for request in NOISELESS_REQUESTS:
        (name, value), from_memo = call(request, theta=0.9)
        assert (name, from_memo) == ("aer", False), request
        assert value == pytest.approx(exact(0.9), abs=1e-9)
    assert [r.pilot for r in qex.metrics()[before:]] == ["noisy", "sim", "sim", "sim"]


def test_checkpoint_reload_across_two_runs(first_run, load_dfk):
    """The first run checkpoints at task exit; a second DFK loads its checkpoints and reuses the result.

    The second run has only the noiseless pilot: the noisy request can only be answered from the
    checkpoint (the executor would reject it as unschedulable), the noiseless one only by running.
    """
    dfk, _ = first_run
    noisy, from_memo = call(NOISY_REQUEST, theta=0.7)
    assert from_memo is False and noisy[0] == "fake_torino"
    run_dir = dfk.config.run_dir
    dfk.cleanup()
    parsl.clear()

    checkpoints = get_all_checkpoints(run_dir)
    assert checkpoints
    qex = QuantumPilotExecutor(label="quantum", pilots=[cpu(name="sim", workers=1)])
    memoizer = BasicMemoizer(checkpoint_mode="task_exit", checkpoint_files=checkpoints)
    load_dfk(qex, run_dir=run_dir, memoizer=memoizer)
    wait_active(qex, "sim", timeout=STARTUP_S)
    again, from_memo = call(NOISY_REQUEST, theta=0.7)
    assert from_memo is True and again == noisy  # the very same noisy estimate, read back
    assert qex.metrics() == []  # nothing ran
    (name, value), from_memo = call({"kinds": ["cpu"]}, theta=0.7)
    assert (name, from_memo) == ("aer", False)
    assert value == pytest.approx(exact(0.7), abs=1e-9)
