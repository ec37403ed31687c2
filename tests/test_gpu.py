"""What ``make gpu-check`` runs on a machine with an NVIDIA GPU: the GPU backends against exact references.

Every test is marked ``gpu`` and skips, naming what is missing, where its GPU path is unusable (no driver,
no ``gpu`` extra, no MPI build of lightning.gpu...). The references are exact and independent of the
simulators under test: Qiskit's ``Statevector`` at 5 qubits, closed forms at 24 (a W state's distribution;
the expectation values of a product state entangled by a CZ chain, through Qiskit's Clifford
conjugation), which ``tests/unit/test_gpu_check.py`` checks against the ``Statevector`` on every run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from parsl import python_app
from qiskit import QuantumCircuit
from qiskit.quantum_info import Clifford, Pauli, SparsePauliOp

from parsl_quantum.devices import aer as aer_module
from parsl_quantum.devices import get_device
from parsl_quantum.devices import lightning as lightning_module
from parsl_quantum.devices.hardware import detect_gpus, max_statevector_qubits
from tests.refs import exact_expectation, su2, tvd, w_state

pytestmark = pytest.mark.gpu

SHOTS = 20_000
WIDTHS = [5, 24]  # 5: Statevector references; 24: closed forms (a 256 MiB state on the GPU)
DEVICE_OPTIONS = {"lightning.gpu": {"seed": 11}, "aer_gpu": {"seed_simulator": 11}}
UNAVAILABLE = {
    "lightning.gpu": lightning_module.gpu_unavailable_reason,
    "aer_gpu": aer_module.gpu_unavailable_reason,
}


def skip_unless_usable(backend: str) -> None:
    """Skip the calling test, quoting the backend's own reason, when ``backend`` cannot run here."""
    reason = UNAVAILABLE[backend]()
    if reason is not None:
        pytest.skip(f"{backend} unusable here: {reason}")


# -- exact references at any width ------------------------------------------------------------------
def w_probabilities(n: int) -> dict[str, float]:
    """The distribution of the n-qubit W state: each one-hot bit string with probability 1/n."""
    return {format(1 << q, f"0{n}b"): 1.0 / n for q in range(n)}


def tvd_bound(probs: dict[str, float], shots: int) -> float:
    """A shot-noise bound on the total variation distance between ``shots`` samples and ``probs``.

    Each outcome's frequency deviates by about ``sigma_k = sqrt(p_k (1 - p_k) / shots)``; the distance
    ``sum_k |dev_k| / 2`` has mean ``sqrt(2 / pi) * sum_k sigma_k / 2`` (half-normal deviations), and the
    bound adds five times ``sqrt(sum_k sigma_k**2) / 2``, more than its spread (the deviations of a
    multinomial are negatively correlated, which only narrows it).
    """
    sigmas = np.array([math.sqrt(p * (1.0 - p) / shots) for p in probs.values()])
    return 0.5 * (math.sqrt(2.0 / math.pi) * sigmas.sum() + 5.0 * math.sqrt(float(np.sum(sigmas**2))))


def chain_angles(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Angles of :func:`chain_state`: ``theta`` in [0.2, 1.0] (so products of cosines stay far from 0)
    and ``phi`` in [-pi, pi), drawn with the seed ``n``."""
    rng = np.random.default_rng(n)
    return rng.uniform(0.2, 1.0, n), rng.uniform(-math.pi, math.pi, n)


def cz_chain(n: int) -> QuantumCircuit:
    qc = QuantumCircuit(n)
    for q in range(n - 1):
        qc.cz(q, q + 1)
    return qc


def chain_state(n: int) -> QuantumCircuit:
    """``RY(theta_q) RZ(phi_q)`` on every qubit, then CZ between neighbours: an entangled state with
    complex amplitudes whose expectation values have a closed form (:func:`chain_expectation`)."""
    theta, phi = chain_angles(n)
    qc = QuantumCircuit(n, name=f"chain{n}")
    for q in range(n):
        qc.ry(theta[q], q)
        qc.rz(phi[q], q)
    return qc.compose(cz_chain(n))


def chain_expectation(n: int, observable: SparsePauliOp) -> float:
    """Exact ``<chain_state(n)| observable |chain_state(n)>``, without a state vector.

    The state is ``C |b>`` with ``C`` the CZ chain (a Clifford, its own inverse) and ``|b>`` a product of
    single-qubit states with Bloch vectors ``(sin t cos f, sin t sin f, cos t)``. Each Pauli term ``P``
    becomes ``C P C`` (Qiskit's Clifford conjugation, a phase times a Pauli string), whose expectation on
    the product state is that phase times the product of the Bloch components it picks.
    """
    theta, phi = chain_angles(n)
    bloch = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=1)
    component = {(True, False): 0, (True, True): 1, (False, True): 2}  # (x, z) bits: X, Y, Z
    clifford = Clifford(cz_chain(n))
    total = 0j
    for label, coeff in zip(observable.paulis.to_labels(), observable.coeffs, strict=True):
        conjugated = Pauli(label).evolve(clifford, frame="s")
        value = (-1j) ** conjugated.phase
        for q in range(n):
            x, z = bool(conjugated.x[q]), bool(conjugated.z[q])
            if x or z:
                value *= bloch[q, component[(x, z)]]
        total += coeff * value
    return float(total.real)


def observables(n: int) -> list[SparsePauliOp]:
    """Single terms spread over the register (weights 1 to 3, every Pauli) and an Ising-like
    Hamiltonian of ``3n - 1`` terms: ``sum ZZ`` on neighbours, ``0.7 sum X``, ``-0.4 sum Y``."""
    mid, last = n // 2, n - 1
    terms = [
        [("Z", [0], 1.0)],
        [("X", [mid], 1.0)],
        [("Y", [last], 1.0)],
        [("ZZ", [0, 1], 1.0)],
        [("XX", [mid - 1, mid], 1.0)],
        [("XYZ", [last - 2, last - 1, last], 1.0)],
        [("ZZ", [q, q + 1], 1.0) for q in range(n - 1)]
        + [("X", [q], 0.7) for q in range(n)]
        + [("Y", [q], -0.4) for q in range(n)],
    ]
    return [SparsePauliOp.from_sparse_list(t, num_qubits=n) for t in terms]


def estimation_case(n: int) -> tuple[QuantumCircuit, list[SparsePauliOp], list[float]]:
    """A circuit, observables and their exact values: a random ``efficient_su2`` state against the
    ``Statevector`` up to 12 qubits, the CZ-chain state against its closed form above."""
    obs = observables(n)
    if n <= 12:
        circuit = su2(n, seed=n)
        return circuit, obs, [exact_expectation(circuit, o) for o in obs]
    return chain_state(n), obs, [chain_expectation(n, o) for o in obs]


# -- lightning.gpu and aer_gpu ----------------------------------------------------------------------
@pytest.fixture(scope="module", params=list(UNAVAILABLE))
def gpu_device(request):
    skip_unless_usable(request.param)
    return get_device(request.param, **DEVICE_OPTIONS[request.param])


@pytest.mark.parametrize("n", WIDTHS)
def test_samples_match_the_exact_distribution(gpu_device, n):
    assert gpu_device.kind == "gpu"
    probs = w_probabilities(n)
    counts = gpu_device.sample(w_state(n), shots=SHOTS)
    assert sum(counts.values()) == SHOTS
    assert set(counts) <= set(probs)
    assert tvd(counts, probs) < tvd_bound(probs, SHOTS)


@pytest.mark.parametrize("n", WIDTHS)
def test_exact_values_match_the_reference(gpu_device, n):
    circuit, obs, exact = estimation_case(n)
    np.testing.assert_allclose(gpu_device.estimate(circuit, obs), exact, atol=1e-6, rtol=0)


# -- a GPU pilot through the executor ---------------------------------------------------------------
def exact_values(circuit, obs, *, device):
    """Task run on a pilot: where it ran and the exact expectation values."""
    return device.name, device.kind, [float(v) for v in np.atleast_1d(device.estimate(circuit, obs))]


exact_values_app = python_app(exact_values, executors=["quantum"])


def test_gpu_pilot_describes_itself_and_runs_kind_gpu_tasks(load_dfk):
    from parsl_quantum.executors import QuantumPilotExecutor
    from parsl_quantum.providers import PilotDescription
    from tests.executor_helpers import cpu, spec

    skip_unless_usable("lightning.gpu")
    gpu = PilotDescription(name="gpu", kind="gpu", backend="lightning.gpu", workers=1)
    qex = QuantumPilotExecutor(label="quantum", pilots=[gpu, cpu(workers=1)], strategy_period=0.5)
    load_dfk(qex)
    qex.wait_for_pilots(timeout=240)
    status = qex.pilots["gpu"]
    assert (status.kind, status.backend, status.state) == ("gpu", "lightning.gpu", "active")
    assert status.gpus is not None and status.gpus >= 1
    assert status.qubits == max_statevector_qubits(detect_gpus().memory_bytes, 16)

    cases = {n: estimation_case(n) for n in WIDTHS}
    on_gpu = {n: exact_values_app(c, o, **spec(kinds=["gpu"], qubits=n)) for n, (c, o, _) in cases.items()}
    on_cpu = exact_values_app(*cases[5][:2], **spec(kinds=["cpu"], qubits=5))
    for n, future in on_gpu.items():
        name, kind, values = future.result(timeout=300)
        assert (name, kind) == ("lightning.gpu", "gpu")
        np.testing.assert_allclose(values, cases[n][2], atol=1e-6, rtol=0)
    assert on_cpu.result(timeout=300)[:2] == ("aer", "cpu")
    records = {r.parsl_task_id: r for r in qex.metrics()}
    for future in on_gpu.values():
        record = records[future.tid]
        assert (record.pilot, record.kind, record.outcome) == ("gpu", "gpu", "success")


# -- a state vector distributed over two MPI ranks --------------------------------------------------
DISTRIBUTED_RANKS = 2
DISTRIBUTED_QUBITS = 20


def distributed_state_missing() -> list[str]:
    """What a lightning.gpu state vector over two MPI ranks on this node lacks here (empty: nothing)."""
    from parsl_quantum.motifs.distributed.rank import MPI_BUILD_NEEDED, mpi_state_support
    from tests.test_distributed import mpi_missing

    missing = []
    if (reason := lightning_module.gpu_unavailable_reason()) is not None:
        missing.append(reason)
    elif not mpi_state_support("lightning.gpu"):
        needed = MPI_BUILD_NEEDED["lightning.gpu"]
        missing.append(f"the installed lightning.gpu is built without MPI support (it needs {needed})")
    if (gpus := detect_gpus().count) < DISTRIBUTED_RANKS:
        missing.append(
            f"lightning.gpu's MPI mode needs a GPU per rank on a node: {DISTRIBUTED_RANKS} ranks, "
            f"{gpus} GPU(s) here"
        )
    if (reason := mpi_missing()) is not None:
        missing.append(reason)
    return missing


def test_distributed_state_vector_on_two_ranks_gives_the_exact_energy(load_dfk):
    from parsl_quantum.configs import mpi_executor
    from parsl_quantum.motifs.distributed import distributed, hamiltonian_energy

    missing = distributed_state_missing()
    if missing:
        pytest.skip("distributed lightning.gpu state vector unusable here: " + "; ".join(missing))
    load_dfk(mpi_executor("mpi", tasks=1), strategy_period=0.5)
    energy_app = distributed(
        hamiltonian_energy,
        executors=["mpi"],
        ranks=DISTRIBUTED_RANKS,
        backend="lightning.gpu",
        distribute_state=True,
    )
    hamiltonian = observables(DISTRIBUTED_QUBITS)[-1]
    circuit = chain_state(DISTRIBUTED_QUBITS)
    energy = energy_app(circuit, hamiltonian, split=False).result(timeout=300)  # the ranks share each term
    assert energy == pytest.approx(chain_expectation(DISTRIBUTED_QUBITS, hamiltonian), abs=1e-6)
